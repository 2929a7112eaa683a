"""Action distributions as small pure pytrees.

A policy network outputs the parameters of a distribution; everything a
policy-gradient method needs from it is one of five functions: `sample`,
`log_prob`, `entropy`, `kl` (to another distribution of the same kind) and
`mode` (the greedy action). Both classes are `flax.struct` dataclasses, so
they pass through `jit`, `vmap` and `lax.scan` like arrays.
"""

from __future__ import annotations

import math

import chex
import jax
import jax.numpy as jnp
from flax import struct

_LOG_2PI = math.log(2.0 * math.pi)


@struct.dataclass
class Categorical:
    """Categorical distribution over `n` actions, from unnormalised logits `[..., n]`.

    p(a) = softmax(logits)[a]
    """

    logits: chex.Array

    @property
    def log_probs(self) -> chex.Array:
        """log p(a) for every action, `[..., n]`."""
        return jax.nn.log_softmax(self.logits, axis=-1)

    def sample(self, key: chex.PRNGKey) -> chex.Array:
        """a ~ p, integer actions of shape `[...]`."""
        return jax.random.categorical(key, self.logits, axis=-1)

    def log_prob(self, action: chex.Array) -> chex.Array:
        """log p(a), shape `[...]`."""
        chex.assert_equal_shape_prefix([self.logits, action], action.ndim)
        action = action.astype(jnp.int32)
        return jnp.take_along_axis(self.log_probs, action[..., None], axis=-1)[..., 0]

    def entropy(self) -> chex.Array:
        """H(p) = -Σ_a p(a) log p(a), shape `[...]`."""
        log_p = self.log_probs
        return -jnp.sum(jnp.exp(log_p) * log_p, axis=-1)

    def kl(self, other: Categorical) -> chex.Array:
        """KL(self ‖ other) = Σ_a p(a) (log p(a) − log q(a)), shape `[...]`."""
        chex.assert_equal_shape([self.logits, other.logits])
        log_p, log_q = self.log_probs, other.log_probs
        return jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1)

    def mode(self) -> chex.Array:
        """argmax_a p(a), shape `[...]`."""
        return jnp.argmax(self.logits, axis=-1)


@struct.dataclass
class DiagGaussian:
    """Diagonal Gaussian over `d`-dimensional actions: mean and log std `[..., d]`.

    log p(a) = −½ Σ_i [((a_i − μ_i)/σ_i)² + 2 log σ_i + log 2π]
    """

    mean: chex.Array
    log_std: chex.Array

    def sample(self, key: chex.PRNGKey) -> chex.Array:
        """a = μ + σ·ε with ε ~ N(0, I), shape `[..., d]`."""
        noise = jax.random.normal(key, self.mean.shape, self.mean.dtype)
        return self.mean + jnp.exp(self.log_std) * noise

    def log_prob(self, action: chex.Array) -> chex.Array:
        """log p(a), summed over the `d` action dimensions, shape `[...]`."""
        chex.assert_equal_shape([self.mean, action])
        z = (action - self.mean) * jnp.exp(-self.log_std)
        return -0.5 * jnp.sum(z**2 + 2.0 * self.log_std + _LOG_2PI, axis=-1)

    def entropy(self) -> chex.Array:
        """H = Σ_i (log σ_i + ½ log 2πe), shape `[...]`."""
        log_std = jnp.broadcast_to(self.log_std, self.mean.shape)
        return jnp.sum(log_std + 0.5 * (_LOG_2PI + 1.0), axis=-1)

    def kl(self, other: DiagGaussian) -> chex.Array:
        """KL(self ‖ other) = Σ_i [log σ'_i/σ_i + (σ_i² + (μ_i − μ'_i)²)/(2σ'_i²) − ½], shape `[...]`."""
        chex.assert_equal_shape([self.mean, other.mean])
        var_ratio = jnp.exp(2.0 * (self.log_std - other.log_std))
        mean_term = ((self.mean - other.mean) * jnp.exp(-other.log_std)) ** 2
        per_dim = 0.5 * (var_ratio + mean_term - 1.0) - (self.log_std - other.log_std)
        return jnp.sum(per_dim, axis=-1)

    def mode(self) -> chex.Array:
        """μ, shape `[..., d]`."""
        return self.mean


Distribution = Categorical | DiagGaussian
