"""What pgjax knows about an environment beyond gymnax: per-task metrics of the episodes.

A task registers `metrics_fn(action [T, N], episode_done [T, N]) -> {name: scalar}` with
`register_episode_metrics`; every algorithm adds its result to the metrics of each iteration
(the token tasks that end at `EOS` report the share of answers cut at the length limit).
The generic training code so knows no task by name.
"""

from __future__ import annotations

from collections.abc import Callable

EpisodeMetricsFn = Callable[..., dict]

_EPISODE_METRICS: dict[str, EpisodeMetricsFn] = {}


def register_episode_metrics(env_name: str, metrics_fn: EpisodeMetricsFn) -> None:
    """Add `metrics_fn(action, episode_done)` to the metrics of every iteration on `env_name`."""
    _EPISODE_METRICS[env_name] = metrics_fn


def episode_metrics(env_name: str, action, episode_done) -> dict:
    """The task's own metrics of a rollout (`{}` for a task that registered none)."""
    metrics_fn = _EPISODE_METRICS.get(env_name)
    return {} if metrics_fn is None else metrics_fn(action, episode_done)
