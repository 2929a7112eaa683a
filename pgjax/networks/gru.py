"""Recurrent actor-critic: an embedding, one GRU cell shared by actor and critic (as in
PureJaxRL's `ppo_rnn`), then separate heads; behind the network interface (`Recurrent`: the
carry is the GRU's hidden state, zeroed where an episode starts)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from pgjax.layout import swap_time
from pgjax.networks.initializers import orthogonal
from pgjax.networks.mlp import TORSOS, ActorCritic, torso


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
        self.embed = torso(self.conv, self.obs_ndim, (self.gru_size,), self.activation)
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

        carry, (dist, value) = jax.lax.scan(step, carry, (swap_time(obs), swap_time(reset)))
        return carry, swap_time(dist), swap_time(value)

    def unroll_policy(self, params, carry, obs, reset):
        return self.unroll(params, carry, obs, reset)[1]


def gru_network(action_dim, discrete, obs_ndim, config) -> Recurrent:
    """The `network="gru"` factory."""
    return Recurrent(RecurrentActorCritic(
        action_dim=action_dim, discrete=discrete, obs_ndim=obs_ndim,
        hidden_sizes=config.hidden_sizes, activation=config.activation, gru_size=config.gru_size,
        conv=TORSOS[config.torso], log_std_init=config.log_std_init,
    ))
