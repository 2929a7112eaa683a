"""A causal transformer policy for token tasks (`network="transformer"`); its carry is a key/value cache.

The observation of a token task is the whole sequence so far, one-hot, `[L, vocab]`, with
`PAD` after the last real token (`pgjax.envs.tokens`). The network reads the token ids
(`argmax`) and the sequence length (the number of non-`PAD` tokens; real tokens are a
prefix) and acts from the hidden state at the last real position: logits over the next
token and a value.

`CausalTransformer` is the flax module: token and learned position embeddings,
`num_layers` pre-LayerNorm blocks (causal multi-head self-attention, then an MLP of
4·d_model with gelu), a final LayerNorm, a policy head (orthogonal, scale 0.01) and a
separate value head. One call processes a block of query positions per example against
a key/value cache, so a single position (generation), a step's new positions (learning)
and a whole sequence (`sequence_outputs`) all run the same code.

`Transformer` puts it behind the interface of `pgjax.networks.interface`. Its carry, `KVCache`,
holds every layer's keys and values `[N, max_len, num_heads, head_dim]` and the number
of positions processed `[N]`: a step computes only the positions that are new since the
previous step (the whole prompt at a reset, one token afterwards).
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from pgjax.distributions import Categorical
from pgjax.envs.tokens import PAD
from pgjax.layout import swap_time
from pgjax.networks.initializers import orthogonal


@struct.dataclass
class KVCache:
    """The carry of `N` sequences: per layer, keys and values `[N, max_len, num_heads,
    head_dim]` of the positions processed so far, and their number `length [N]` (int32).
    Slots at or after `length` hold stale values, never read: attention is masked."""

    keys: tuple
    values: tuple
    length: jax.Array


def _dense(features: int, scale: float, name: str) -> nn.Dense:
    return nn.Dense(features, kernel_init=orthogonal(scale), name=name)  # zero bias, flax's default


def _write(cache, new, positions, write):
    """`cache [N, S, H, D]` with slot `positions[n, q]` replaced by `new[n, q]` where
    `write [N, Q]`: a select, not a scatter, so it is exact, differentiable and vmaps."""
    hits = (positions[..., None] == jnp.arange(cache.shape[1])) & write[..., None]  # [N, Q, S]
    source = jnp.argmax(hits, axis=1)  # [N, S]: the query that writes each slot
    gathered = jnp.take_along_axis(new, source[..., None, None], axis=1)
    return jnp.where(hits.any(axis=1)[..., None, None], gathered, cache)


class Block(nn.Module):
    """Pre-LayerNorm block: `x + attention(LN(x))`, then `x + MLP(LN(x))`, on queries
    `x [N, Q, d_model]` against a cache whose slots are written first, so each query
    sees itself and the positions before it."""

    d_model: int
    num_heads: int

    @nn.compact
    def __call__(self, x, keys, values, positions, write):
        head_dim = self.d_model // self.num_heads

        def project(name):
            return nn.DenseGeneral((self.num_heads, head_dim), kernel_init=orthogonal(1.0), name=name)

        h = nn.LayerNorm(name="attention_norm")(x)
        keys = _write(keys, project("key")(h), positions, write)
        values = _write(values, project("value")(h), positions, write)
        mask = (jnp.arange(keys.shape[1]) <= positions[..., None])[:, None]  # [N, 1 (heads), Q, S]
        attended = nn.dot_product_attention(project("query")(h), keys, values, mask=mask)
        x = x + nn.DenseGeneral(self.d_model, axis=(-2, -1), kernel_init=orthogonal(1.0), name="out")(attended)
        h = nn.LayerNorm(name="mlp_norm")(x)
        # gelu's gain is close to relu's: √2, as for the ReLU torsos of the PPO literature.
        hidden = nn.gelu(_dense(4 * self.d_model, np.sqrt(2), "mlp_in")(h))
        x = x + _dense(self.d_model, 1.0, "mlp_out")(hidden)
        return x, keys, values


class CausalTransformer(nn.Module):
    """`(cache, tokens [N, Q], positions [N, Q], write [N, Q]) -> (cache, logits [N, Q,
    action_dim], values [N, Q])`: the outputs at each query position, which attends to
    cache slots `0 … position`; the queries' keys and values are written to their slots
    where `write`. `cache` is `(keys, values)`, tuples over layers of `[N, S, H, D]`."""

    vocab_size: int
    action_dim: int
    max_len: int
    d_model: int = 64
    num_layers: int = 2
    num_heads: int = 4

    @nn.compact
    def __call__(self, cache, tokens, positions, write):
        # Unit scale, the scale LayerNorm gives each block's input: the residual stream
        # starts with the token and its position as loud as what the blocks add.
        embed = nn.initializers.normal(1.0)
        position_table = self.param("position_embedding", embed, (self.max_len, self.d_model))
        x = nn.Embed(self.vocab_size, self.d_model, embedding_init=embed, name="token_embedding")(tokens) + position_table[positions]
        keys, values = [], []
        for layer in range(self.num_layers):
            x, layer_keys, layer_values = Block(self.d_model, self.num_heads, name=f"block_{layer}")(
                x, cache[0][layer], cache[1][layer], positions, write
            )
            keys.append(layer_keys)
            values.append(layer_values)
        x = nn.LayerNorm(name="final_norm")(x)
        logits = _dense(self.action_dim, 0.01, "policy_head")(x)  # a near-uniform initial policy
        value = _dense(1, 1.0, "value_head")(x)[..., 0]
        return (tuple(keys), tuple(values)), logits, value


def check_fits(length: int, max_len: int) -> None:
    """A sequence of `length` tokens must fit the `max_len` positions the cache holds."""
    if length > max_len:
        raise ValueError(f"max_len: must be at least the task's sequence length {length} (the cache holds max_len "
                         f"positions), got {max_len}")


def _at(array, index):
    """`array[n, index[n]]` for `array [N, Q, ...]`, `index [N]`."""
    index = index.reshape(index.shape + (1,) * (array.ndim - 1))
    return jnp.take_along_axis(array, index, axis=1)[:, 0]


@dataclasses.dataclass(frozen=True)
class Transformer:
    """The interface of `pgjax.networks.interface` over `CausalTransformer`; the carry is a `KVCache`.

    `apply` processes, for each environment, positions `length_processed … length − 1`
    of its observation one at a time in a `lax.while_loop` (where `reset`, from 0), so a
    generated token costs one position; its outputs are those at position `length − 1`.
    `lax.while_loop` has no reverse-mode derivative, so `unroll` (what learning
    differentiates) computes each step's positions as one block, a `lax.scan` over steps:
    the same outputs and caches as stepping `apply`, up to float rounding.
    """

    module: CausalTransformer
    pad_token: int = PAD
    recurrent = True

    def _tokens(self, obs):
        """`(token ids [..., L], lengths [...])` of one-hot observations `[..., L, vocab]`."""
        check_fits(obs.shape[-2], self.module.max_len)
        tokens = jnp.argmax(obs, axis=-1).astype(jnp.int32)
        # At least one position, so that the outputs are defined even for an all-PAD input.
        return tokens, jnp.maximum(jnp.sum(tokens != self.pad_token, axis=-1), 1)

    def _empty_cache(self, batch_size: int, slots: int):
        m = self.module
        shape = (batch_size, slots, m.num_heads, m.d_model // m.num_heads)
        zeros = tuple(jnp.zeros(shape, jnp.float32) for _ in range(m.num_layers))
        return zeros, zeros

    def init(self, key, obs):
        tokens, _ = self._tokens(obs[:1])
        positions = jnp.arange(tokens.shape[1])[None]
        return self.module.init(key, self._empty_cache(1, tokens.shape[1]), tokens, positions, positions >= 0)

    def initial_carry(self, batch_size: int) -> KVCache:
        keys, values = self._empty_cache(batch_size, self.module.max_len)
        return KVCache(keys, values, jnp.zeros((batch_size,), jnp.int32))

    def _first_new(self, carry, lengths, reset):
        # The last position is always (re)computed: the outputs come from it, and rewriting
        # its slot from the same tokens changes nothing.
        processed = jnp.where(reset, 0, carry.length)
        return jnp.minimum(processed, lengths - 1)

    def apply(self, params, carry, obs, reset):
        tokens, lengths = self._tokens(obs)
        last = tokens.shape[1] - 1
        num_envs = tokens.shape[0]

        def new_position(loop):
            cache, position, logits, value = loop
            return jnp.any(position < lengths)

        def process(loop):
            cache, position, logits, value = loop
            active = position < lengths  # finished environments skip: nothing is written or kept
            at = jnp.minimum(position, last)[:, None]
            cache, step_logits, step_value = self.module.apply(
                params, cache, jnp.take_along_axis(tokens, at, axis=1), at, active[:, None]
            )
            logits = jnp.where(active[:, None], step_logits[:, 0], logits)
            value = jnp.where(active, step_value[:, 0], value)
            return cache, position + 1, logits, value

        start = (
            (carry.keys, carry.values), self._first_new(carry, lengths, reset),
            jnp.zeros((num_envs, self.module.action_dim)), jnp.zeros((num_envs,)),
        )
        (keys, values), _, logits, value = jax.lax.while_loop(new_position, process, start)
        return KVCache(keys, values, lengths), Categorical(logits), value

    def policy(self, params, carry, obs, reset):
        carry, dist, _ = self.apply(params, carry, obs, reset)
        return carry, dist

    def value(self, params, carry, obs):
        # Carries may have extra leading axes (`[T, N]`, one per step): one step from each.
        lead = carry.length.shape
        flatten = lambda x: x.reshape((-1,) + x.shape[len(lead):])  # noqa: E731
        flat_carry, flat_obs = jax.tree.map(flatten, carry), flatten(obs)
        _, _, value = self.apply(params, flat_carry, flat_obs, jnp.zeros(flat_carry.length.shape, bool))
        return value.reshape(lead)

    def _block_step(self, params, carry, obs, reset):
        """`apply`'s result, with the new positions computed as one block of queries."""
        tokens, lengths = self._tokens(obs)
        positions = jnp.broadcast_to(jnp.arange(tokens.shape[1]), tokens.shape)
        write = (positions >= self._first_new(carry, lengths, reset)[:, None]) & (positions < lengths[:, None])
        (keys, values), logits, value = self.module.apply(params, (carry.keys, carry.values), tokens, positions, write)
        return KVCache(keys, values, lengths), Categorical(_at(logits, lengths - 1)), _at(value, lengths - 1)

    def unroll(self, params, carry, obs, reset):
        def step(carry, inputs):
            carry, dist, value = self._block_step(params, carry, *inputs)
            return carry, (dist, value)

        carry, (dist, value) = jax.lax.scan(step, carry, (swap_time(obs), swap_time(reset)))
        return carry, swap_time(dist), swap_time(value)

    def unroll_policy(self, params, carry, obs, reset):
        return self.unroll(params, carry, obs, reset)[1]

    def unroll_episodes(self, params, obs, reset):
        """`(distribution [B, T], value [B, T])` of windows `obs [B, T, L, vocab]` that each
        start an episode at step 0 (`reset [B, T]`), as the Monte-Carlo methods collect
        them: one causal pass over the sequence observed at the last step of that episode
        (before the window's next reset), read at every step's last position.

        A token task's observation is the whole sequence so far, so every step of the
        episode sees a prefix of that sequence, and position p's outputs depend on tokens
        0 … p only: equal to `unroll` from a fresh carry on the first episode's steps, at
        1/T of its positions. Steps after the first episode are read off the same pass
        (finite, not their own outputs): the methods mask them out."""
        tokens, lengths = self._tokens(obs)  # [B, T, L], [B, T]
        num_steps = tokens.shape[1]
        later_start = reset & (jnp.arange(num_steps) > 0)
        last = jnp.where(later_start.any(axis=1), jnp.argmax(later_start, axis=1) - 1, num_steps - 1)
        logits, values = self.sequence_outputs(params, _at(tokens, last))  # [B, L, A], [B, L]
        at = lengths - 1
        logits = jnp.take_along_axis(logits, at[..., None], axis=1)
        return Categorical(logits), jnp.take_along_axis(values, at, axis=1)

    def sequence_outputs(self, params, tokens):
        """The full causal pass over whole sequences `tokens [B, L]` (ids) in one call:
        `(logits [B, L, action_dim], values [B, L])`; position p's logits are the policy
        for token p + 1, from tokens 0 … p only."""
        check_fits(tokens.shape[-1], self.module.max_len)
        positions = jnp.broadcast_to(jnp.arange(tokens.shape[1]), tokens.shape)
        cache = self._empty_cache(tokens.shape[0], tokens.shape[1])
        _, logits, values = self.module.apply(params, cache, tokens, positions, positions >= 0)
        return logits, values


def transformer_network(action_dim, discrete, obs_shape, config) -> Transformer:
    """The `network="transformer"` factory (`pgjax.networks.registry`, with
    `obs_shape=True`): sized by the network config's `d_model`, `num_layers`, `num_heads`, `max_len`."""
    if len(obs_shape) != 2 or not discrete:
        raise ValueError(f"network: 'transformer' needs one-hot token observations [L, vocab] and discrete "
                         f"actions (the token tasks, pgjax.envs.tokens), got observations of shape "
                         f"{tuple(obs_shape)}" + ("" if discrete else " and continuous actions"))
    length, vocab_size = obs_shape
    check_fits(length, config.max_len)
    return Transformer(CausalTransformer(
        vocab_size=vocab_size, action_dim=action_dim, max_len=config.max_len, d_model=config.d_model,
        num_layers=config.num_layers, num_heads=config.num_heads,
    ))
