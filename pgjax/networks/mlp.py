"""Feed-forward actor-critic: separate actor and critic torsos (an MLP, or a small CNN for
image observations `[H, W, C]` as in MinAtar), behind the network interface (`FeedForward`:
an empty carry, every call one batched forward pass)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from pgjax.distributions import Categorical, DiagGaussian
from pgjax.networks.initializers import dense, orthogonal

ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "gelu": nn.gelu, "silu": nn.silu}
# The `torso` config field -> the modules' `conv`: the CNN for images only, never, always.
TORSOS = {"auto": None, "mlp": False, "cnn": True}


class MLPTorso(nn.Module):
    """Dense layers of `hidden_sizes`, each followed by `activation`, after flattening the last
    `obs_ndim` observation axes into one."""

    hidden_sizes: Sequence[int]
    activation: str
    obs_ndim: int = 1  # trailing observation axes, flattened into one

    @nn.compact
    def __call__(self, obs):
        x = obs.reshape(obs.shape[: obs.ndim - self.obs_ndim] + (-1,)) if self.obs_ndim > 1 else obs
        for size in self.hidden_sizes:
            x = ACTIVATIONS[self.activation](dense(size, np.sqrt(2))(x))
        return x


class Conv3x3(nn.Module):
    """`flax.linen.Conv(features, (3, 3))` with "SAME" padding and stride 1, computed as one
    matrix product over the nine shifted copies of the image (im2col).

    The same parameters (`kernel [3, 3, C, features]`, `bias [features]`) and the same
    numbers up to float rounding; on CPU, XLA's convolution kernels are much slower for
    such small images than one matrix product (the figures: benchmarks/minatar.md).
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


def torso(conv: bool | None, obs_ndim: int, hidden_sizes, activation: str, name: str | None = None) -> nn.Module:
    """The CNN torso when `conv` (None: when the observation is an image `[H, W, C]`), else
    an MLP on the flattened observation."""
    if conv is None:
        conv = obs_ndim == 3
    if conv:
        return CNNTorso(hidden_sizes, activation, name=name)
    return MLPTorso(hidden_sizes, activation, obs_ndim=obs_ndim, name=name)


class LogStd(nn.Module):
    """The state-independent log σ `[action_dim]` of a Gaussian policy, learned. A submodule,
    so that it is created with the actor's parameters only (not by `ActorCritic.value`)."""

    action_dim: int
    init_value: float = 0.0

    @nn.compact
    def __call__(self):
        return self.param("log_std", nn.initializers.constant(self.init_value), (self.action_dim,))


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
        return torso(self.conv, self.obs_ndim, self.hidden_sizes, self.activation, name=name)

    def setup(self):
        self.actor_torso = self._torso("actor_torso")
        self.critic_torso = self._torso("critic_torso")
        # Small final-layer scales: a near-uniform initial policy and near-zero values.
        self.actor_head = dense(self.action_dim, 0.01)
        self.critic_head = dense(1, 1.0)
        if not self.discrete:
            self.log_std = LogStd(self.action_dim, self.log_std_init)

    def policy(self, obs):
        out = self.actor_head(self.actor_torso(obs))
        if self.discrete:
            return Categorical(out)
        return DiagGaussian(out, jnp.broadcast_to(self.log_std(), out.shape))

    def value(self, obs):
        return self.critic_head(self.critic_torso(obs))[..., 0]

    def __call__(self, obs):
        return self.policy(obs), self.value(obs)


class ActorCriticParams(NamedTuple):
    """The parameters of a network with separate actor and critic (as Brax's
    `PPONetworkParams`): methods that treat them apart (TRPO's trust region is over the
    actor alone, its optimiser over the critic alone) take the two trees by name."""

    actor: Any
    critic: Any


@dataclasses.dataclass(frozen=True)
class FeedForward:
    """The interface over `ActorCritic`: an empty carry, every call one batched forward pass,
    and the parameters as `ActorCriticParams` (the module initialised through its `policy`
    and through its `value`, from one key: each parameter gets the key its path names)."""

    module: ActorCritic
    recurrent = False

    def init(self, key, obs) -> ActorCriticParams:
        obs = obs[:1]
        return ActorCriticParams(
            actor=self.module.init(key, obs, method=ActorCritic.policy),
            critic=self.module.init(key, obs, method=ActorCritic.value),
        )

    def initial_carry(self, batch_size: int):
        return ()

    def apply(self, params: ActorCriticParams, carry, obs, reset):
        _, dist = self.policy(params, carry, obs, reset)
        return carry, dist, self.value(params, carry, obs)

    def policy(self, params: ActorCriticParams, carry, obs, reset):
        return carry, self.module.apply(params.actor, obs, method=ActorCritic.policy)

    def value(self, params: ActorCriticParams, carry, obs):
        return self.module.apply(params.critic, obs, method=ActorCritic.value)

    def unroll(self, params, carry, obs, reset):
        return self.apply(params, carry, obs, reset)

    def unroll_policy(self, params, carry, obs, reset):
        return self.policy(params, carry, obs, reset)[1]


def mlp_network(action_dim, discrete, obs_ndim, config) -> FeedForward:
    """The `network="mlp"` factory."""
    return FeedForward(ActorCritic(
        action_dim=action_dim, discrete=discrete, obs_ndim=obs_ndim,
        hidden_sizes=config.hidden_sizes, activation=config.activation, conv=TORSOS[config.torso],
        log_std_init=config.log_std_init,
    ))
