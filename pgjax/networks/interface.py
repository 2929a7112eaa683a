"""The network interface: what training code calls instead of a flax module.

A *network* is an object with

- `init(key, obs [N, ...]) -> params`;
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
  learning shuffles whole environment sequences), and `unroll_policy`, its distribution;
- `recurrent`: whether the carry is not empty. A feed-forward network's `unroll`
  accepts observations of any leading shape, so learning can shuffle single transitions;
- optionally, `unroll_episodes(params, obs [B, T, ...], reset [B, T]) -> (distribution
  [B, T], value [B, T])`: `unroll` from fresh carries of windows that each start an
  episode at step 0, exact on that first episode's steps (the Monte-Carlo methods mask
  the rest); the transformer's is one causal pass per episode instead of T steps.

The built-in networks: `mlp.FeedForward` (separate actor and critic torsos),
`gru.Recurrent` (a GRU shared by actor and critic) and `transformer.Transformer` (causal,
its carry a key/value cache). `registry.make_network` builds the one a config names.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Network(Protocol):
    """The interface above, as a type."""

    recurrent: bool

    def init(self, key, obs) -> Any: ...

    def initial_carry(self, batch_size: int) -> Any: ...

    def apply(self, params, carry, obs, reset) -> tuple[Any, Any, Any]: ...

    def policy(self, params, carry, obs, reset) -> tuple[Any, Any]: ...

    def value(self, params, carry, obs) -> Any: ...

    def unroll(self, params, carry, obs, reset) -> tuple[Any, Any, Any]: ...

    def unroll_policy(self, params, carry, obs, reset) -> Any: ...
