"""Aggregate statistics over seeds that hold up on few runs (Agarwal et al., 2021, "rliable").

Scores are arrays `[runs, tasks]` (one column per task; a 1-D array is one task):

- `iqm`: the interquartile mean, the mean of the middle 50 % of all scores
  (`scipy.stats.trim_mean(scores, 0.25)` of the flattened array): robust to a few
  outlying seeds, yet far less noisy than the median.
- `stratified_bootstrap_ci`: a percentile-bootstrap confidence interval of any such
  statistic, resampling runs with replacement *within* each task (stratified), as
  rliable's `get_interval_estimates` does.
- `performance_profile`: the fraction of runs whose score exceeds τ, for each τ.

Plain NumPy on the host; these summarise results, they are not part of training.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _as_runs_by_tasks(scores) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        scores = scores[:, None]
    if scores.ndim != 2 or scores.shape[0] == 0:
        raise ValueError(f"scores: must be [runs] or [runs, tasks] with at least one run, got shape {scores.shape}")
    return scores


def iqm(scores) -> float:
    """Interquartile mean: the mean of the scores left after cutting `int(0.25·n)` of the
    `n` scores from each end of their sorted order (all runs of all tasks pooled)."""
    flat = np.sort(_as_runs_by_tasks(scores).reshape(-1))
    cut = int(0.25 * flat.size)
    return float(flat[cut: flat.size - cut].mean())


def stratified_bootstrap_ci(
    scores,
    statistic: Callable[[np.ndarray], float] = iqm,
    num_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """`(low, high)`: the percentile-bootstrap `confidence` interval of `statistic(scores)`.

    Each of the `num_resamples` resamples draws, for every task independently, as many runs
    as it has, with replacement, from that task's runs (`np.random.default_rng(seed)`).
    """
    scores = _as_runs_by_tasks(scores)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: must be in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    num_runs, num_tasks = scores.shape
    picks = rng.integers(0, num_runs, size=(num_resamples, num_runs, num_tasks))
    resampled = np.take_along_axis(scores[None], picks, axis=1)  # [resamples, runs, tasks]
    values = np.array([statistic(sample) for sample in resampled])
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def performance_profile(scores, taus) -> np.ndarray:
    """`[len(taus)]`: the fraction of all runs (pooled over tasks) whose score is > τ."""
    flat = _as_runs_by_tasks(scores).reshape(-1)
    return np.array([np.mean(flat > tau) for tau in np.asarray(taus, dtype=np.float64)])
