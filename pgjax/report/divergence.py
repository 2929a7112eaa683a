"""Finding runs that diverged: the first iteration at which a run's metrics or parameters went NaN.

Used by `pgjax.runs.sweep` (NaN runs are left out of a grid point's statistics) and by
`pgjax train` (a NaN run is reported with its seed and first iteration, recorded in
`summary.json`, and ends the command with a non-zero exit code).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

# Metrics that are legitimately NaN early on: the mean return before the first episode ends.
NAN_UNTIL_FIRST_EPISODE = ("episode_return",)


def _nan_mask(name: str, values: np.ndarray) -> np.ndarray:
    """`[I, R]` True where metric `name` counts as NaN: any NaN, except that a metric in
    `NAN_UNTIL_FIRST_EPISODE` counts only once it has been finite (or at the last iteration,
    where a run whose episodes never finished is as broken as one that went NaN)."""
    nan = np.isnan(values)
    if name in NAN_UNTIL_FIRST_EPISODE:
        seen_finite = np.maximum.accumulate(~nan, axis=0)
        last = np.zeros_like(nan)
        last[-1] = True
        nan = nan & (seen_finite | last)
    return nan


def nan_onsets(metrics: dict[str, Any], params=None) -> list[dict[str, Any]]:
    """The runs that went NaN, in run order: `{"run", "first_iteration", "metrics"}` each.

    `metrics`: name -> `[iterations, R]`; `first_iteration` is 1-based (the first iteration
    whose metrics hold a NaN) and `metrics` names the metrics that were NaN then.
    `params`, if given, is a pytree with a leading run axis `[R]` (final parameters): a run
    whose parameters hold a NaN but whose metrics never did is reported with
    `first_iteration` None and `metrics` `["params"]`.
    """
    masks = {name: _nan_mask(name, np.asarray(values, dtype=np.float64).reshape(len(values), -1))
             for name, values in metrics.items() if np.issubdtype(np.asarray(values).dtype, np.number)}
    num_runs = next(iter(masks.values())).shape[1]
    params_nan = np.zeros(num_runs, bool)
    if params is not None:
        for leaf in jax.tree.leaves(params):
            leaf = np.asarray(leaf)
            if np.issubdtype(leaf.dtype, np.floating):
                params_nan |= np.isnan(leaf.reshape(num_runs, -1)).any(axis=1)
    found = []
    for run in range(num_runs):
        bad_iterations = [np.flatnonzero(mask[:, run]) for mask in masks.values()]
        onsets = [int(iterations[0]) for iterations in bad_iterations if len(iterations)]
        if onsets:
            first = min(onsets)
            names = [name for name, mask in masks.items() if mask[first, run]]
            found.append({"run": run, "first_iteration": first + 1, "metrics": names})
        elif params_nan[run]:
            found.append({"run": run, "first_iteration": None, "metrics": ["params"]})
    return found
