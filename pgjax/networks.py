"""Actor and critic networks (flax.linen), orthogonally initialised.

One module, `ActorCritic`, returns both the action distribution and the state
value in a single forward pass, so acting during a rollout costs one network
call. The actor and critic have separate torsos (no shared features), the usual
choice for PPO on control tasks. Image observations (`[H, W, C]`, as in
MinAtar) go through a small CNN torso; everything else is flattened into an MLP.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from pgjax.distributions import Categorical, DiagGaussian

ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "gelu": nn.gelu, "silu": nn.silu}


def _dense(features: int, scale: float) -> nn.Dense:
    return nn.Dense(features, kernel_init=nn.initializers.orthogonal(scale), bias_init=nn.initializers.zeros)


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


class CNNTorso(nn.Module):
    """One 3×3 convolution (16 channels) then an MLP, as in the MinAtar baselines."""

    hidden_sizes: Sequence[int]
    activation: str

    @nn.compact
    def __call__(self, obs):
        batch_shape = obs.shape[:-3]
        x = obs.reshape((-1,) + obs.shape[-3:])
        x = nn.relu(nn.Conv(16, (3, 3), kernel_init=nn.initializers.orthogonal(np.sqrt(2)))(x))
        x = x.reshape(batch_shape + (-1,))
        return MLPTorso(self.hidden_sizes, self.activation)(x)


class ActorCritic(nn.Module):
    """`(obs [..., *obs_shape]) -> (distribution over actions, value [...])`.

    `action_dim` is the number of discrete actions when `discrete`, else the
    dimension of the continuous action (a state-independent log std is learned).
    """

    action_dim: int
    discrete: bool
    obs_ndim: int = 1
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    log_std_init: float = 0.0

    def _torso(self, name: str) -> nn.Module:
        if self.obs_ndim == 3:
            return CNNTorso(self.hidden_sizes, self.activation, name=name)
        return MLPTorso(self.hidden_sizes, self.activation, obs_ndim=self.obs_ndim, name=name)

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
