"""Actor and critic networks (flax.linen), orthogonally initialised.

One module, `ActorCritic`, returns both the action distribution and the state
value in a single forward pass, so acting during a rollout costs one network
call. The actor and critic have separate torsos (no shared features), the usual
choice for PPO on control tasks. Image observations (`[H, W, C]`, as in
MinAtar) go through a small CNN torso; everything else is flattened into an MLP.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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


class CNNTorso(nn.Module):
    """One 3×3 convolution (16 channels) then an MLP, as in the MinAtar baselines."""

    hidden_sizes: Sequence[int]
    activation: str

    @nn.compact
    def __call__(self, obs):
        batch_shape = obs.shape[:-3]
        x = obs.reshape((-1,) + obs.shape[-3:])
        x = nn.relu(nn.Conv(16, (3, 3), kernel_init=orthogonal(np.sqrt(2)))(x))
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
