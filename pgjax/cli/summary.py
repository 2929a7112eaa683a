"""The end of `pgjax train`, on process 0: what its runs reached and how fast (`summary.json`),
their evaluation, the learning curve, and the printed summary.

Every task is evaluated by its return; what a kind of task adds (token tasks: held-out exact
match, token curves) comes from its hook, `pgjax.cli.tasks.task_report`.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import jax
import numpy as np

from pgjax.cli.graceful_stop import STOP_SIGNALS
from pgjax.cli.run_folder import write_json
from pgjax.cli.tasks import TaskReport, task_report
from pgjax.report.plots import plot_learning_curves

LEARNING_CURVE = "learning_curve.png"


@dataclasses.dataclass
class Trained:
    """The runs of one `pgjax train` after training, as its summary reports them."""

    module: ModuleType  # the algorithm
    algorithm: str
    env: str
    config: Any
    settings: dict  # as in run.json: seeds, eval_episodes, greedy, checkpoint_every, ...
    keys: jax.Array  # the runs' PRNG keys, [seeds]
    states: Any  # every run's final TrainState, a leading [seeds] axis, on this host
    metrics: dict  # name -> [iterations done, seeds]
    iterations_done: int
    stopped_by: str | None  # what stopped training early (a signal's name, or Progress's reason)
    nan_runs: list[dict]  # the runs that went NaN: seed, first_iteration, metrics
    compile_seconds: float
    run_seconds: float
    resumed_from: int | None  # the checkpoint's iteration, on --resume
    last_checkpoint: int | None
    devices: int
    run_dir: Path

    @property
    def seeds(self) -> list[int]:
        return self.settings["seeds"]

    @property
    def finished(self) -> bool:
        return self.iterations_done >= self.config.num_iterations

    @property
    def interrupted(self) -> bool:
        """Stopped early by the user (or a scheduler), not because every seed went NaN."""
        return not self.finished and self.stopped_by in STOP_SIGNALS

    @property
    def failed(self) -> list[int]:
        """The indices of the runs that went NaN."""
        return [self.seeds.index(entry["seed"]) for entry in self.nan_runs]


def mean_std(values) -> tuple[float, float]:
    """Mean and standard deviation over the finite values (NaN if there is none)."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("nan"), float("nan")
    return float(finite.mean()), float(finite.std())


def report(trained: Trained) -> None:
    """Evaluate, write `summary.json` and the figures, print the summary and every NaN run."""
    task = task_report(trained.env)
    summary = _summary(trained)
    if trained.settings["eval_episodes"] and not trained.interrupted:
        summary.update(_evaluate_returns(trained))
        summary.update(task.evaluate(trained.env, trained.config, trained.states, trained.failed))
    write_json(trained.run_dir / "summary.json", summary)
    figures = _draw(trained, task)
    _print_summary(summary, figures, task.summary_lines(summary))
    for entry in trained.nan_runs:
        where = f"at iteration {entry['first_iteration']}" if entry["first_iteration"] else "in its parameters"
        print(f"NaN: seed {entry['seed']} went NaN {where} ({', '.join(entry['metrics'])}); "
              "see summary.json", file=sys.stderr)


def _devices_line(summary: dict) -> str:
    """E.g. `2 (3 runs sharded over them)`, `4 (8 runs sharded over them, on 2 processes)`."""
    runs, processes = len(summary["seeds"]), summary["processes"]
    where = [f"{runs} runs sharded over them"] if runs > 1 else []
    where += [f"on {processes} processes"] if processes > 1 else []
    return f"{summary['devices']}" + (f" ({', '.join(where)})" if where else "")


def _summary(trained: Trained) -> dict:
    config, seeds, metrics = trained.config, trained.seeds, trained.metrics
    trained_steps = (trained.iterations_done - (trained.resumed_from or 0)) * config.batch_size * len(seeds)
    last = metrics["episode_return"][-1] if len(metrics["episode_return"]) else np.full(len(seeds), np.nan)
    final_mean, final_std = mean_std(last)
    summary = {
        "algorithm": trained.algorithm,
        "env": trained.env,
        "seeds": seeds,
        "devices": trained.devices,
        "processes": jax.process_count(),
        "status": "interrupted" if trained.interrupted else "nan" if trained.nan_runs else "completed",
        "iterations": config.num_iterations,
        "iterations_done": trained.iterations_done,
        "env_steps_per_seed": config.num_iterations * config.batch_size,
        "final_return_mean": final_mean,
        "final_return_std": final_std,
        "final_return_per_seed": last.tolist(),
        "nan_runs": trained.nan_runs,
        "compile_seconds": trained.compile_seconds,
        "run_seconds": trained.run_seconds,
        "env_steps_per_second": trained_steps / max(trained.run_seconds, 1e-9),
        "run_dir": str(trained.run_dir),
    }
    if not trained.finished:
        summary["stopped_by"] = trained.stopped_by
    if trained.resumed_from is not None:
        summary["resumed_from_iteration"] = trained.resumed_from
    if trained.settings["checkpoint_every"] is not None:
        summary["checkpoint_every"] = trained.settings["checkpoint_every"]
        summary["last_checkpoint"] = trained.last_checkpoint
    return summary


def _evaluate_returns(trained: Trained) -> dict:
    """Every run's mean return over `eval_episodes` fresh episodes; a NaN run scores nothing."""
    module, config = trained.module, trained.config
    num_episodes, greedy = trained.settings["eval_episodes"], trained.settings["greedy"]
    evaluate_all = jax.jit(jax.vmap(lambda state, key: module.evaluate(config, state, key, num_episodes, greedy)))
    eval_keys = jax.vmap(lambda key: jax.random.fold_in(key, 1))(trained.keys)  # unlike any key used in training
    per_seed = np.asarray(evaluate_all(trained.states, eval_keys)).mean(axis=1)  # [seeds, episodes] -> [seeds]
    per_seed[trained.failed] = np.nan
    eval_mean, eval_std = mean_std(per_seed)
    return dict(eval_episodes_per_seed=num_episodes, eval_greedy=greedy,
                eval_return_mean=eval_mean, eval_return_std=eval_std, eval_return_per_seed=per_seed.tolist())


def _draw(trained: Trained, task: TaskReport) -> list[str]:
    """The learning curve, and the task's own figures; their file names."""
    metrics = trained.metrics
    if not len(metrics["env_steps"]):
        return []
    title = f"{trained.algorithm} on {trained.env}"
    stopped = "" if trained.finished else f" (stopped at iteration {trained.iterations_done})"
    plot_learning_curves(
        {trained.algorithm: (metrics["env_steps"][:, 0], metrics["episode_return"].T)},
        trained.run_dir / LEARNING_CURVE, title=title + stopped,
    )
    return [LEARNING_CURVE, *task.train_figures(metrics, trained.run_dir, title, trained.algorithm)]


def _print_summary(summary: dict, figures: list[str], task_lines: list[tuple[str, str]]) -> None:
    seeds = summary["seeds"]
    lines = [
        ("algorithm", summary["algorithm"]),
        ("environment", summary["env"]),
        ("seeds", f"{len(seeds)} (seeds {seeds[0]}..{seeds[-1]})" if len(seeds) > 1 else f"1 (seed {seeds[0]})"),
        ("env steps", f"{summary['env_steps_per_seed']:,} per seed in {summary['iterations']} iterations"),
    ]
    if summary["status"] != "completed":
        stopped = f", stopped by {summary['stopped_by']}" if "stopped_by" in summary else ""
        lines.append(("status", f"{summary['status']} after iteration {summary['iterations_done']} of "
                                f"{summary['iterations']}{stopped}"))
    lines.append(("final return", f"{summary['final_return_mean']:.2f} ± {summary['final_return_std']:.2f} "
                                  "(last iteration done, mean ± std over seeds)"))
    if "eval_return_mean" in summary:
        policy = "greedy" if summary["eval_greedy"] else "stochastic"
        lines.append(("eval return", f"{summary['eval_return_mean']:.2f} ± {summary['eval_return_std']:.2f} "
                                     f"({summary['eval_episodes_per_seed']} {policy} episodes per seed)"))
    lines += task_lines
    if "resumed_from_iteration" in summary:
        lines.append(("resumed", f"from the checkpoint after iteration {summary['resumed_from_iteration']}"))
    if "checkpoint_every" in summary:
        lines.append(("checkpoints", f"every {summary['checkpoint_every']} iterations; the last after iteration "
                                     f"{summary['last_checkpoint']}"))
    lines += [
        ("devices", _devices_line(summary)),
        ("env steps/s", f"{summary['env_steps_per_second']:,.0f} (all seeds, excluding compilation)"),
        ("compile", f"{summary['compile_seconds']:.1f} s"),
        ("run", f"{summary['run_seconds']:.1f} s"),
        ("run folder", summary["run_dir"] + (f"  ({', '.join(figures)})" if figures else "")),
    ]
    width = max(len(name) for name, _ in lines)
    for name, value in lines:
        print(f"{name:<{width}}  {value}")
