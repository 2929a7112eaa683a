"""The algorithm protocol: what every module in `pgjax.ALGORITHMS` provides, and all that the
run layer (the driver, sweeps, checkpoints, the command line) asks of an algorithm."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import chex


@runtime_checkable
class Algorithm(Protocol):
    """An algorithm module, as a type.

    - `Config`: a `flax.struct` dataclass whose structural fields are static and whose numeric
      hyperparameters are leaves (so a `Config` with `[n]` leaves vmaps into `n` agents), with
      `Config.for_env(env, **overrides)` (the tuned preset) and `Config.make(**fields)`
      (unknown names raise `ValueError`);
    - `init(config, key) -> TrainState`;
    - `update(config, state) -> (state, metrics)`: one iteration, collect then learn;
    - `evaluate(config, state, key, num_episodes, greedy=False) -> returns [num_episodes]`;
    - `train(config, key, callback=None, report_every=1) -> (state, metrics [iterations])` and
      `train_batch(config, keys [S], ...) -> (states [S], metrics [iterations, S])`: `init`
      then a `lax.scan` of `update` (`pgjax.algorithms.scan.entry_points`).
    """

    Config: type

    def init(self, config, key: chex.PRNGKey) -> Any: ...

    def update(self, config, state) -> tuple[Any, dict]: ...

    def evaluate(self, config, state, key: chex.PRNGKey, num_episodes: int, greedy: bool = False) -> chex.Array: ...

    def train(self, config, key: chex.PRNGKey, callback=None, report_every: int = 1) -> tuple[Any, dict]: ...

    def train_batch(self, config, keys: chex.PRNGKey, callback=None, report_every: int = 1) -> tuple[Any, dict]: ...
