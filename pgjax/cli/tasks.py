"""What a kind of task adds to a command's report, through one hook: `task_report(env)`.

Every task is reported by its return (`pgjax.cli.summary`, `pgjax.cli.sweep`); the default
`TaskReport` adds nothing to that. Token tasks (`pgjax.envs.tokens`) add their own measure,
greedy exact match on every held-out prompt (`pgjax.algorithms.evaluation.evaluate_heldout`),
and their own figures: reward, KL and completion length of a run, and a sweep's final reward
against its KL to the reference policy. A new kind of task adds its `TaskReport` to `_KINDS`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import gymnax
import jax
import numpy as np

from pgjax.algorithms.evaluation import evaluate_heldout
from pgjax.envs.tokens import is_token_task
from pgjax.report.plots import plot_reward_vs_kl, plot_token_curves

TOKEN_CURVES = "token_curves.png"  # reward, KL and completion length of a token task's run
REWARD_VS_KL = "reward_vs_kl.png"  # a token sweep's frontier
FINAL_WINDOW = 0.1  # the share of the last iterations whose mean is a sweep run's "final" value


class TaskReport:
    """The default: nothing beyond the return that every task reports."""

    def evaluate(self, env: str, config, states, failed: list[int]) -> dict:
        """Summary entries measured on the trained `states` (a leading `[seeds]` axis);
        `failed` are the indices of the runs that went NaN, which score nothing."""
        return {}

    def summary_lines(self, summary: dict) -> list[tuple[str, str]]:
        """Printed `(name, value)` lines for the entries `evaluate` added to `summary`."""
        return []

    def train_figures(self, metrics: dict, run_dir: Path, title: str, algorithm: str) -> list[str]:
        """Figures of a run's metrics (`[iterations, seeds]`) drawn into `run_dir`; their file names."""
        return []

    def sweep_figures(self, result, run_dir: Path, title: str) -> list[str]:
        """Figures of a sweep's `SweepResult` drawn into `run_dir`; their file names."""
        return []


class TokenTaskReport(TaskReport):
    """Token tasks: held-out exact match, token curves, and a sweep's reward-vs-KL frontier."""

    def evaluate(self, env, config, states, failed):
        # The task's own measure: greedy answers to every held-out prompt.
        heldout = jax.jit(jax.vmap(lambda state: evaluate_heldout(config, state)))(states)
        exact = np.asarray(heldout["exact_match"], np.float64)
        exact[failed] = np.nan
        scored = exact[np.isfinite(exact)]
        return {
            "heldout_prompts": len(gymnax.make(env)[0].heldout_prompts()),
            "heldout_exact_match_per_seed": exact.tolist(),
            "heldout_exact_match_mean": float(scored.mean()) if scored.size else float("nan"),
            "heldout_length_mean": float(np.mean(np.asarray(heldout["length"]))),
        }

    def summary_lines(self, summary):
        if "heldout_exact_match_mean" not in summary:  # not evaluated (interrupted, or --eval-episodes 0)
            return []
        return [("held-out", f"exact match {summary['heldout_exact_match_mean']:.3f} (greedy, "
                             f"{summary['heldout_prompts']} prompts, mean over seeds), "
                             f"completion length {summary['heldout_length_mean']:.2f}")]

    def train_figures(self, metrics, run_dir, title, algorithm):
        """`plot_token_curves` of the run; the KL panel and the clipped-completion curve appear
        where the method reports `reference_kl` and the task `completion_clipped_fraction`."""
        optional = {name: metrics[name].T for name in ("reference_kl", "completion_clipped_fraction") if name in metrics}
        plot_token_curves(
            metrics["env_steps"][:, 0], metrics["episode_return"].T, metrics["episode_length"].T,
            run_dir / TOKEN_CURVES, title=title,
            no_kl_note=f"{algorithm} has no reference policy,\nso there is no KL to one", **optional,
        )
        return [TOKEN_CURVES]

    def sweep_figures(self, result, run_dir, title):
        """`plot_reward_vs_kl` of a sweep whose method has a reference policy: per grid point, its
        seeds' final `reference_kl` and `episode_return`, each the NaN-aware mean over the last
        `FINAL_WINDOW` of the iterations (at least one; steadier than the last iteration alone),
        with the runs that went NaN left out, as in the ranked table."""
        if "reference_kl" not in result.metrics:
            return []
        window = max(1, round(len(result.metrics["env_steps"]) * FINAL_WINDOW))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a run with no finished episode in the window
            kl, reward = (np.nanmean(np.asarray(result.metrics[name][-window:], np.float64), axis=0)
                          for name in ("reference_kl", "episode_return"))
        for entry in result.nan_runs():
            kl[entry["run"]] = reward[entry["run"]] = np.nan
        runs = [np.flatnonzero(result.run_point == point) for point in range(len(result.points))]
        plot_reward_vs_kl(
            np.stack([kl[r] for r in runs]), np.stack([reward[r] for r in runs]),
            [result.label(point) for point in range(len(result.points))], run_dir / REWARD_VS_KL,
            title=f"{title}\n(final: mean of the last {window} iteration{'s' * (window != 1)})",
        )
        return [REWARD_VS_KL]


# (is this kind of task, its report), first match wins; any other task gets `TaskReport()`.
_KINDS = ((is_token_task, TokenTaskReport()),)


def task_report(env: str) -> TaskReport:
    """The report hook of environment `env`'s kind of task."""
    return next((report for is_kind, report in _KINDS if is_kind(env)), TaskReport())
