"""Actor-critic networks (flax.linen, orthogonally initialised) behind one interface with a carry.

Training code never calls a flax module directly; it calls a *network*, an object with

- `init(key, obs [N, ...]) -> params`
- `initial_carry(batch_size) -> carry`: the memory of `batch_size` fresh episodes
  (an empty tuple for feed-forward networks);
- `apply(params, carry, obs [N, ...], reset [N]) -> (carry, distribution [N], value [N])`:
  one step; `reset[i]` marks that environment i starts a new episode at this step, and
  its carry is zeroed before it is used;
- `policy(params, carry, obs, reset) -> (carry, distribution)`: `apply` without the
  critic (critic-free methods skip the value head);
- `value(params, carry, obs [..., obs]) -> value [...]`: the critic on observations that
  follow the carry (the true next states a truncated step bootstraps from);
- `unroll(params, carry [B], obs [B, T, ...], reset [B, T]) -> (carry, distribution
  [B, T], value [B, T])`: replays whole sequences from a stored carry (batch-major, as
  learning shuffles whole environment sequences);
- `recurrent`: whether the carry is not empty. A feed-forward network's `unroll`
  accepts observations of any leading shape, so learning can shuffle single transitions;
- optionally, `unroll_episodes(params, obs [B, T, ...], reset [B, T]) -> (distribution
  [B, T], value [B, T])`: `unroll` from fresh carries of windows that each start an
  episode at step 0, exact on that first episode's steps (the Monte-Carlo methods mask
  the rest); the transformer's is one causal pass per episode instead of T steps.

`FeedForward` wraps `ActorCritic` (separate actor and critic torsos, the usual choice
for PPO on control tasks; with `torso="auto"`, image observations `[H, W, C]`, as in
MinAtar, go through a small CNN torso and everything else is flattened into an MLP;
`torso="mlp"` or `"cnn"` chooses one). `Recurrent` wraps
`RecurrentActorCritic`: an embedding, one `flax.linen.GRUCell` shared by actor and
critic, then separate MLP heads. `pgjax.transformer.Transformer` is a causal transformer
for token tasks whose carry is a key/value cache. `make_network` builds the one a config
names (`network="mlp" | "gru" | "transformer"`, or a name added with `register_network`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from pgjax.distributions import Categorical, DiagGaussian

ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "gelu": nn.gelu, "silu": nn.silu}


def _orthonormal_columns(matrix: jax.Array) -> jax.Array:
    """Gram–Schmidt (each column orthogonalised twice, which is enough in floating point)."""
    num_cols = matrix.shape[1]

    def add_column(j, basis):
        column = matrix[:, j]
        for _ in range(2):
            column = column - basis @ (basis.T @ column)
        return basis.at[:, j].set(column / jnp.linalg.norm(column))

    return jax.lax.fori_loop(0, num_cols, add_column, jnp.zeros_like(matrix))


def orthogonal(scale: float = 1.0):
    """Orthogonal initialiser (Saxe et al., 2014) built from matrix products only.

    Equivalent in distribution to `flax.linen.initializers.orthogonal` (the Q of a
    Gaussian matrix with R's diagonal made positive), but without LAPACK's QR,
    whose batched CPU kernel can deadlock when `init` is vmapped over seeds on a
    machine with few cores.
    """

    def init(key, shape, dtype=jnp.float32):
        num_rows, num_cols = math.prod(shape[:-1]), shape[-1]
        tall = (max(num_rows, num_cols), min(num_rows, num_cols))
        q = _orthonormal_columns(jax.random.normal(key, tall, jnp.float32))
        if num_rows < num_cols:
            q = q.T
        return (scale * q).reshape(shape).astype(dtype)

    return init


def _dense(features: int, scale: float) -> nn.Dense:
    return nn.Dense(features, kernel_init=orthogonal(scale), bias_init=nn.initializers.zeros)


class MLPTorso(nn.Module):
    hidden_sizes: Sequence[int]
    activation: str
    obs_ndim: int = 1  # trailing observation axes, flattened into one

    @nn.compact
    def __call__(self, obs):
        x = obs.reshape(obs.shape[: obs.ndim - self.obs_ndim] + (-1,)) if self.obs_ndim > 1 else obs
        for size in self.hidden_sizes:
            x = ACTIVATIONS[self.activation](_dense(size, np.sqrt(2))(x))
        return x


class Conv3x3(nn.Module):
    """`flax.linen.Conv(features, (3, 3))` with "SAME" padding and stride 1, computed as one
    matrix product over the nine shifted copies of the image (im2col).

    The same parameters (`kernel [3, 3, C, features]`, `bias [features]`) and the same
    numbers up to float rounding; on CPU, with XLA's convolution kernels for these small
    images a whole PPO iteration on Breakout-MinAtar ran 4–6× slower than with the matrix
    product (benchmarks/minatar.md).
    """

    features: int

    @nn.compact
    def __call__(self, x):  # [B, H, W, C] -> [B, H, W, features]
        height, width, channels = x.shape[-3:]
        kernel = self.param("kernel", orthogonal(np.sqrt(2)), (3, 3, channels, self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        # Ordered (row offset, column offset, channel), as the kernel's leading axes are.
        patches = jnp.concatenate(
            [padded[:, i:i + height, j:j + width, :] for i in range(3) for j in range(3)], axis=-1
        )
        return patches @ kernel.reshape(9 * channels, self.features) + bias


class CNNTorso(nn.Module):
    """One 3×3 convolution (16 channels) then an MLP, as in the MinAtar baselines."""

    hidden_sizes: Sequence[int]
    activation: str
    conv: Callable[..., nn.Module] = Conv3x3  # (features, name=...) -> the 3×3 convolution

    @nn.compact
    def __call__(self, obs):
        batch_shape = obs.shape[:-3]
        x = obs.reshape((-1,) + obs.shape[-3:])
        # Named as flax names an `nn.Conv`, so parameters saved before the im2col form load.
        x = nn.relu(self.conv(16, name="Conv_0")(x))
        x = x.reshape(batch_shape + (-1,))
        return MLPTorso(self.hidden_sizes, self.activation)(x)


def _torso(conv: bool | None, obs_ndim: int, hidden_sizes, activation: str, name: str | None = None) -> nn.Module:
    """The CNN torso when `conv` (None: when the observation is an image `[H, W, C]`), else
    an MLP on the flattened observation."""
    if conv is None:
        conv = obs_ndim == 3
    if conv:
        return CNNTorso(hidden_sizes, activation, name=name)
    return MLPTorso(hidden_sizes, activation, obs_ndim=obs_ndim, name=name)


class ActorCritic(nn.Module):
    """`(obs [..., *obs_shape]) -> (distribution over actions, value [...])`.

    `action_dim` is the number of discrete actions when `discrete`, else the
    dimension of the continuous action (a state-independent log std is learned).
    `conv` picks the torso: the CNN (True), an MLP on the flattened observation
    (False), or the CNN for image observations only (None).
    """

    action_dim: int
    discrete: bool
    obs_ndim: int = 1
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    log_std_init: float = 0.0
    conv: bool | None = None

    def _torso(self, name: str) -> nn.Module:
        return _torso(self.conv, self.obs_ndim, self.hidden_sizes, self.activation, name=name)

    def setup(self):
        self.actor_torso = self._torso("actor_torso")
        self.critic_torso = self._torso("critic_torso")
        # Small final-layer scales: a near-uniform initial policy and near-zero values.
        self.actor_head = _dense(self.action_dim, 0.01)
        self.critic_head = _dense(1, 1.0)
        if not self.discrete:
            self.log_std = self.param("log_std", nn.initializers.constant(self.log_std_init), (self.action_dim,))

    def policy(self, obs):
        out = self.actor_head(self.actor_torso(obs))
        if self.discrete:
            return Categorical(out)
        return DiagGaussian(out, jnp.broadcast_to(self.log_std, out.shape))

    def value(self, obs):
        return self.critic_head(self.critic_torso(obs))[..., 0]

    def __call__(self, obs):
        return self.policy(obs), self.value(obs)


class RecurrentActorCritic(nn.Module):
    """`(carry [N, gru_size], obs [N, *obs_shape], reset [N]) -> (carry, distribution, value [N])`.

    obs → embedding (a `gru_size` dense layer, or the CNN torso for images) → GRU cell
    (shared by actor and critic, as in PureJaxRL's `ppo_rnn`) → an `ActorCritic` on its
    features (separate actor and critic MLP torsos of `hidden_sizes`, then the heads).
    The carry is zeroed where `reset` before the cell reads it, so no memory leaks across
    an automatic environment reset.
    """

    action_dim: int
    discrete: bool
    obs_ndim: int = 1
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    gru_size: int = 128
    log_std_init: float = 0.0
    conv: bool | None = None  # the embedding's torso, as in `ActorCritic`

    def setup(self):
        self.embed = _torso(self.conv, self.obs_ndim, (self.gru_size,), self.activation)
        # Our orthogonal initialiser, not flax's QR-based one (see `orthogonal`).
        self.gru = nn.GRUCell(self.gru_size, kernel_init=orthogonal(1.0), recurrent_kernel_init=orthogonal(1.0))
        # The feed-forward actor-critic, on the GRU's features: its separate torsos are the heads.
        self.heads = ActorCritic(
            self.action_dim, self.discrete, 1, self.hidden_sizes, self.activation, self.log_std_init
        )

    def __call__(self, carry, obs, reset):
        carry = jnp.where(reset[..., None], jnp.zeros_like(carry), carry)
        carry, features = self.gru(carry, self.embed(obs))
        return carry, self.heads.policy(features), self.heads.value(features)


# ---------------------------------------------------------------- the interface


def _swap_time(tree):
    """`[T, B, ...] <-> [B, T, ...]` for every leaf."""
    return jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), tree)


@dataclasses.dataclass(frozen=True)
class FeedForward:
    """The interface over `ActorCritic`: an empty carry, and every call one batched forward pass."""

    module: ActorCritic
    recurrent = False

    def init(self, key, obs):
        return self.module.init(key, obs[:1])

    def initial_carry(self, batch_size: int):
        return ()

    def apply(self, params, carry, obs, reset):
        dist, value = self.module.apply(params, obs)
        return carry, dist, value

    def policy(self, params, carry, obs, reset):
        return carry, self.module.apply(params, obs, method=ActorCritic.policy)

    def value(self, params, carry, obs):
        return self.module.apply(params, obs, method=ActorCritic.value)

    def unroll(self, params, carry, obs, reset):
        return self.apply(params, carry, obs, reset)

    def unroll_policy(self, params, carry, obs, reset):
        return self.policy(params, carry, obs, reset)[1]


@dataclasses.dataclass(frozen=True)
class Recurrent:
    """The interface over `RecurrentActorCritic`: the carry is the GRU's hidden state `[N, gru_size]`."""

    module: RecurrentActorCritic
    recurrent = True

    def init(self, key, obs):
        return self.module.init(key, self.initial_carry(1), obs[:1], jnp.ones((1,), bool))

    def initial_carry(self, batch_size: int):
        return jnp.zeros((batch_size, self.module.gru_size), jnp.float32)

    def apply(self, params, carry, obs, reset):
        return self.module.apply(params, carry, obs, reset)

    def policy(self, params, carry, obs, reset):
        carry, dist, _ = self.apply(params, carry, obs, reset)
        return carry, dist

    def value(self, params, carry, obs):
        # Observations may carry extra leading axes (`[T, N]` true next states after the
        # carries `[T, N, H]`): one step from each carry, without a reset.
        lead = obs.shape[: carry.ndim - 1]
        flat_obs = obs.reshape((-1,) + obs.shape[len(lead):])
        flat_carry = carry.reshape((-1, carry.shape[-1]))
        reset = jnp.zeros(flat_carry.shape[:1], bool)
        _, _, value = self.module.apply(params, flat_carry, flat_obs, reset)
        return value.reshape(lead)

    def unroll(self, params, carry, obs, reset):
        def step(carry, inputs):
            obs, reset = inputs
            carry, dist, value = self.apply(params, carry, obs, reset)
            return carry, (dist, value)

        carry, (dist, value) = jax.lax.scan(step, carry, (_swap_time(obs), _swap_time(reset)))
        return carry, _swap_time(dist), _swap_time(value)

    def unroll_policy(self, params, carry, obs, reset):
        return self.unroll(params, carry, obs, reset)[1]


NetworkFactory = Callable[..., Any]


@dataclasses.dataclass(frozen=True)
class NetworkKind:
    factory: NetworkFactory  # (action_dim, discrete, obs_ndim, config) -> network
    recurrent: bool
    # The factory takes the observation's shape (a tuple) in place of its number of axes.
    obs_shape: bool = False


# `torso` config field -> the modules' `conv`.
TORSOS = {"auto": None, "mlp": False, "cnn": True}


def _mlp(action_dim, discrete, obs_ndim, config):
    return FeedForward(ActorCritic(
        action_dim=action_dim, discrete=discrete, obs_ndim=obs_ndim,
        hidden_sizes=config.hidden_sizes, activation=config.activation, conv=TORSOS[config.torso],
        log_std_init=config.log_std_init,
    ))


def _gru(action_dim, discrete, obs_ndim, config):
    return Recurrent(RecurrentActorCritic(
        action_dim=action_dim, discrete=discrete, obs_ndim=obs_ndim,
        hidden_sizes=config.hidden_sizes, activation=config.activation, gru_size=config.gru_size,
        conv=TORSOS[config.torso], log_std_init=config.log_std_init,
    ))


def _transformer(action_dim, discrete, obs_shape, config):
    # Imported when built, not at the top: pgjax.transformer builds on this module.
    from pgjax.transformer import transformer_network

    return transformer_network(action_dim, discrete, obs_shape, config)


NETWORKS: dict[str, NetworkKind] = {
    "mlp": NetworkKind(_mlp, False),
    "gru": NetworkKind(_gru, True),
    "transformer": NetworkKind(_transformer, True, obs_shape=True),
}


def register_network(name: str, factory: NetworkFactory, recurrent: bool, obs_shape: bool = False) -> None:
    """Make `network=name` build `factory(action_dim, discrete, obs_ndim, config)`, an object
    with the interface above (`factory(action_dim, discrete, obs_shape, config)` with
    `obs_shape=True`). `recurrent` says whether its carry is a real memory (learning then
    replays whole environment sequences). A factory for continuous actions should start its
    Gaussian at `config.log_std_init`, as the built-in ones do."""
    if name in NETWORKS:
        raise ValueError(f"network: {name!r} is already registered")
    NETWORKS[name] = NetworkKind(factory, recurrent, obs_shape)


def make_network(config, env, env_params):
    """The network `config.network` names, sized for `env`'s observations and actions."""
    from pgjax.envs import is_discrete  # networks otherwise need nothing from envs

    discrete = is_discrete(env, env_params)
    action_space = env.action_space(env_params)
    obs_shape = tuple(env.observation_space(env_params).shape)
    action_dim = action_space.n if discrete else action_space.shape[0]
    kind = NETWORKS[config.network]
    return kind.factory(action_dim, discrete, obs_shape if kind.obs_shape else len(obs_shape), config)
