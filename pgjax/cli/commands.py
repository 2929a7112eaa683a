"""What the `pgjax` commands do: `list`, `train` and `sweep`.

The parser and the entry point are in `pgjax.cli`, which imports this module only after
`--distributed` has started JAX's distributed runtime: importing gymnax (as this module does)
starts an XLA backend, and `jax.distributed.initialize()` must come first.

On several processes (`--distributed`) every process runs the same command and takes part in
every program, collective and checkpoint; process 0 alone claims the run folder, writes the
metric files, summaries and plots, and prints.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import time
import warnings
from pathlib import Path

import gymnax
import jax
import jax.numpy as jnp
import numpy as np

from pgjax.runs import checkpoint
from pgjax.algorithms import ALGORITHMS
from pgjax.algorithms.config import suggest
from pgjax.cli.main import DEFAULT_ALGORITHM, DEFAULT_ENV, INTERRUPTED, RUN_FAILED, UsageError, parse_overrides
from pgjax.runs.distributed import broadcast_text, check_runs_per_process, gather, global_mesh, is_primary
from pgjax.report.divergence import nan_onsets
from pgjax.report.sinks import SINKS, MetricsLogger, check_available, make_sink, metrics_to_rows
from pgjax.report.plots import plot_learning_curves, plot_reward_vs_kl, plot_sweep, plot_token_curves
from pgjax.report.progress import Progress
from pgjax.cli.run_folder import RunFolder, RunFolderError
from pgjax.algorithms.scan import stack_runs
from pgjax.runs.driver import train_runs_sharded, train_with_checkpoints
from pgjax.runs.sweep import parse_grid, sweep, validate_grid
from pgjax.algorithms.evaluation import evaluate_heldout
from pgjax.envs.tokens import is_token_task

CHECKPOINT_DIR = "checkpoints"  # inside the run folder
TOKEN_CURVES = "token_curves.png"  # reward, KL and completion length of a token task's run
REWARD_VS_KL = "reward_vs_kl.png"  # a token sweep's frontier
FINAL_WINDOW = 0.1  # the share of the last iterations whose mean is a sweep run's "final" value

# ---------------------------------------------------------------- list


def command_list(out=None) -> int:
    out = out or sys.stdout  # looked up now, so redirections of sys.stdout are honoured
    print("algorithms:", file=out)
    width = max(len(name) for name in ALGORITHMS)
    for name, module in ALGORITHMS.items():
        summary = (module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else ""
        print(f"  {name:<{width}}  {summary}", file=out)
    print("\nenvironments (gymnax), with the algorithms that have a tuned preset for them:", file=out)
    env_width = max(len(env) for env in gymnax.registered_envs)
    for env in gymnax.registered_envs:
        tuned = [name for name, module in ALGORITHMS.items() if env in module.Config.PRESETS]
        print(f"  {env:<{env_width}}  {'presets: ' + ', '.join(tuned) if tuned else ''}".rstrip(), file=out)
    print("\npresets per algorithm:", file=out)
    for name, module in ALGORITHMS.items():
        print(f"  {name:<{width}}  {', '.join(module.Config.PRESETS) or '(none)'}", file=out)
    return 0


# ---------------------------------------------------------------- train


def _did_you_mean(name: str, known) -> str:
    close = suggest(name, known)
    return f"; did you mean {' or '.join(close)}?" if close else ""


def _looks_like_env(name: str) -> bool:
    """A misspelt environment rather than a misspelt algorithm: closer to an environment's
    name, or shaped like one (`Name-v1`, `Catch-bsuite`)."""
    suffixes = {env.rpartition("-")[2] for env in gymnax.registered_envs if "-" in env}
    if "-" in name and name.rpartition("-")[2] in suffixes:
        return True
    return bool(suggest(name, gymnax.registered_envs)) and not suggest(name, ALGORITHMS)


def _resolve_algorithm_and_env(algorithm: str | None, env: str | None) -> tuple[str, str]:
    if algorithm is not None and env is None and algorithm not in ALGORITHMS and (
        algorithm in gymnax.registered_envs or _looks_like_env(algorithm)
    ):
        algorithm, env = None, algorithm  # `pgjax train Acrobot-v1`
    algorithm = algorithm or DEFAULT_ALGORITHM
    env = env or DEFAULT_ENV
    if algorithm not in ALGORITHMS:
        raise UsageError(
            f"unknown algorithm {algorithm!r}{_did_you_mean(algorithm, ALGORITHMS)} (known algorithms: {', '.join(ALGORITHMS)})"
        )
    if env not in gymnax.registered_envs:
        raise UsageError(
            f"unknown environment {env!r}{_did_you_mean(env, gymnax.registered_envs)} "
            "(see `pgjax list` for the gymnax environments)"
        )
    return algorithm, env


def _sink_names(text: str) -> list[str]:
    """The sinks asked for, csv always first; unknown or uninstalled ones are usage errors."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in SINKS]
    if unknown:
        raise UsageError(f"--log: unknown sink(s) {', '.join(unknown)}; choose from {','.join(SINKS)}")
    names = ["csv"] + [name for name in dict.fromkeys(names) if name != "csv"]
    for name in names:
        try:
            check_available(name)
        except ImportError as error:
            raise UsageError(f"--log {name}: {error}") from None
    return names


def _config_dict(config) -> dict:
    def plain(value):
        if isinstance(value, tuple):
            return [plain(item) for item in value]
        if isinstance(value, (np.ndarray, jax.Array, np.generic)):
            return np.asarray(value).tolist()
        return value

    return {field.name: plain(getattr(config, field.name)) for field in dataclasses.fields(config)}


def _json_ready(value):
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_ready(item) for item in value]
    return value


def _default_run_dir(algorithm: str, env: str) -> Path:
    """`runs/<algorithm>-<env>-<timestamp>`, unused so far; on several processes, process 0's
    choice (their clocks and views of the folder may differ)."""
    return Path(broadcast_text(str(_new_run_dir(algorithm, env)) if is_primary() else ""))


def _new_run_dir(algorithm: str, env: str) -> Path:
    stem = Path("runs") / f"{algorithm}-{env}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir, suffix = stem, 1
    while run_dir.exists():
        suffix += 1
        run_dir = stem.with_name(f"{stem.name}-{suffix}")
    return run_dir


def _mean_std(values) -> tuple[float, float]:
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("nan"), float("nan")
    return float(finite.mean()), float(finite.std())


def _make_config(module, env: str, args):
    for assignment in args.assignments:
        if assignment.partition("=")[0].strip() == "env":
            # The preset is chosen by the ENV argument; `--set env=` would train one environment
            # with another's preset and label the run wrongly.
            raise UsageError("--set env: give the environment as the ENV argument (pgjax train ALGO ENV), not with --set")
    overrides = {} if args.total_timesteps is None else {"total_timesteps": args.total_timesteps}
    overrides.update(parse_overrides(module.Config, args.assignments))
    try:
        return module.Config.for_env(env, **overrides)
    except (ValueError, TypeError) as error:
        raise UsageError(str(error)) from None


def _mesh(devices: int | None):
    """The 1-D mesh the runs are sharded over: all visible devices, or the first `devices`."""
    mesh = global_mesh()
    if devices is None:
        return mesh
    if not 1 <= devices <= mesh.size:
        raise UsageError(f"--devices: must be between 1 and the {mesh.size} visible device(s), got {devices}")
    return jax.sharding.Mesh(mesh.devices[:devices], mesh.axis_names)


def _positive(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise UsageError(f"{name}: must be a positive integer, got {value}")


# Settings of a run that `--resume` takes from the run folder and must not be given again.
_RESUME_CONFLICTS = {
    "algorithm": "ALGO", "env": "ENV", "total_timesteps": "--total-timesteps", "seeds": "--seeds", "seed": "--seed",
    "out": "--out", "assignments": "--set", "log": "--log", "eval_episodes": "--eval-episodes", "greedy": "--greedy",
    "devices": None, "overwrite": "--overwrite",
}


def _resume_settings(args) -> dict:
    """The saved settings of the run in `args.resume` (`run.json`, written by the first invocation)."""
    given = [flag for name, flag in _RESUME_CONFLICTS.items() if flag and getattr(args, name) not in (None, [], False)]
    if given:
        raise UsageError(f"--resume: continues with the run's saved settings; do not also give {', '.join(given)}")
    run_dir = args.resume
    settings_path = run_dir / "run.json"
    if not settings_path.is_file():
        raise UsageError(f"--resume: {run_dir} is not a pgjax run folder (no run.json)")
    try:
        settings = json.loads(settings_path.read_text())
        missing = [name for name in _RUN_SETTINGS if name not in settings]
    except (OSError, ValueError, TypeError) as error:
        raise UsageError(f"--resume: {settings_path} is not a valid run.json ({error})") from None
    if missing or not isinstance(settings["seeds"], list) or settings["algorithm"] not in ALGORITHMS:
        raise UsageError(f"--resume: {settings_path} is not a valid run.json (missing or bad: "
                         f"{', '.join(missing) or 'seeds or algorithm'})")
    if settings.get("checkpoint_every") is None:
        raise UsageError(f"--resume: {run_dir} was trained without --checkpoint-every, so it has no checkpoints")
    return settings


# What run.json must hold for `--resume`.
_RUN_SETTINGS = ("algorithm", "env", "seeds", "log", "eval_episodes", "greedy", "checkpoint_every")


def _claim(run_dir: Path, *, resume: bool, overwrite: bool, flag: str) -> RunFolder:
    """The run folder, claimed (created, checked and locked) by process 0. The others wait for
    its answer, so that all of them fail alike, or all go on with the folder ready."""
    def claim():
        try:
            return RunFolder.claim(run_dir, resume=resume, overwrite=overwrite, flag=flag)
        except RunFolderError as error:
            raise UsageError(str(error)) from None

    folder = _on_primary(claim)
    return folder if folder is not None else RunFolder(Path(run_dir), lock_fd=None)


def _on_primary(action):
    """`action()` on process 0 alone (its result there, None elsewhere). A `UsageError` it
    raises is raised on every process, so that none is left waiting in a collective for it."""
    result, error = None, ""
    if is_primary():
        try:
            result = action()
        except UsageError as failure:
            error = str(failure) or "failed on process 0"
    error = broadcast_text(error)
    if error:
        raise UsageError(error)
    return result


def _at_least_one_run_per_process(num_runs: int, mesh, flag: str) -> None:
    try:
        check_runs_per_process(num_runs, mesh)
    except ValueError as error:
        raise UsageError(f"{flag}: {str(error).removeprefix('num_runs: ')}") from None


def _make_sinks(sink_names, run_dir: Path, config_fields: dict):
    sinks = []
    try:
        for name in sink_names:
            sinks.append(make_sink(name, run_dir, config=config_fields))
    except Exception as error:  # e.g. wandb without a login: one line, not a traceback
        for sink in sinks:
            sink.close()
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UsageError(f"--log {name}: {message}") from None
    return sinks


_SIGNALS = ("SIGINT", "SIGTERM")


class _GracefulStop:
    """While active, SIGINT (Ctrl-C) and SIGTERM ask the run to stop at the next iteration
    boundary instead of killing it; a second signal stops at once (KeyboardInterrupt)."""

    def __init__(self):
        self.requested = False
        self.reason = None

    def __enter__(self):
        self._previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in self._previous:
            signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            # The compiled program is still running on other threads; a clean interpreter
            # shutdown would wait for it. Files are flushed every iteration, so leave now.
            print("\nstopped at once", file=sys.stderr, flush=True)
            os._exit(INTERRUPTED)
        self.requested, self.reason = True, signal.Signals(signum).name
        print(f"\n{self.reason}: stopping at the next report, within a second (again to stop at once)",
              file=sys.stderr, flush=True)

    def __exit__(self, *exc_info):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def command_train(args) -> int:
    _positive("--seeds", args.seeds)
    _positive("--checkpoint-every", args.checkpoint_every)
    if args.seed is not None and args.seed < 0:
        raise UsageError(f"--seed: must be a non-negative integer, got {args.seed}")
    if args.eval_episodes is not None and args.eval_episodes < 0:
        raise UsageError(f"--eval-episodes: must be a non-negative integer, got {args.eval_episodes}")
    mesh = _mesh(args.devices)
    if args.resume is not None:
        settings = _resume_settings(args)
        run_dir, algorithm, env = args.resume, settings["algorithm"], settings["env"]
        module = ALGORITHMS[algorithm]
        settings["checkpoint_every"] = args.checkpoint_every or settings["checkpoint_every"]
        sink_names = _sink_names(",".join(settings["log"]))
        config = None
    else:
        algorithm, env = _resolve_algorithm_and_env(args.algorithm, args.env)
        module = ALGORITHMS[algorithm]
        config = _make_config(module, env, args)
        sink_names = _sink_names(args.log or "csv")
        first_seed = args.seed or 0
        settings = {
            "algorithm": algorithm, "env": env, "seeds": list(range(first_seed, first_seed + (args.seeds or 1))),
            "log": sink_names, "eval_episodes": 32 if args.eval_episodes is None else args.eval_episodes,
            "greedy": bool(args.greedy), "checkpoint_every": args.checkpoint_every,
        }
        run_dir = args.out or _default_run_dir(algorithm, env)
    _at_least_one_run_per_process(len(settings["seeds"]), mesh, "--seeds")
    with _claim(run_dir, resume=args.resume is not None, overwrite=args.overwrite,
                flag="--resume" if args.resume else "--out") as folder:
        return _train_in(folder, module, algorithm, env, config, settings, sink_names, mesh, args)


def _train_in(folder: RunFolder, module, algorithm, env, config, settings, sink_names, mesh, args) -> int:
    """`pgjax train` inside its claimed run folder."""
    run_dir = folder.path
    seeds = settings["seeds"]
    keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(seeds))
    checkpoints = str((run_dir / CHECKPOINT_DIR).absolute())
    resume_from, history = None, None
    if args.resume is not None and checkpoint.latest_step(checkpoints) is None:
        # Checked only now that the folder is ours: a run still writing its first checkpoint
        # is reported as in use, not as empty.
        raise UsageError(f"--resume: {run_dir} holds no complete checkpoint yet; start it again instead")
    if args.resume is not None:
        # Restore (falling back past corrupt checkpoints) before any metric file is opened for
        # writing, so a failed restore leaves every file as it was.
        try:
            resume_from, (_, config, history) = checkpoint.restore_intact(checkpoints, module, key=keys, warn=_warn)
        except ValueError as error:
            raise UsageError(f"--resume: {error}") from None
    config_fields = _config_dict(config)

    def open_files():
        if resume_from is None:
            (run_dir / "config.json").write_text(json.dumps({"algorithm": algorithm, **config_fields}, indent=2) + "\n")
            (run_dir / "run.json").write_text(json.dumps(settings, indent=2) + "\n")
        # Resuming: the metric files are rewritten from the checkpoint's history (complete up to
        # it, and without the rows a crashed run may have logged past it); the other sinks append.
        try:
            sinks = _make_sinks(sink_names, run_dir, {"algorithm": algorithm, **config_fields})
        except UsageError:
            if resume_from is None:
                folder.clear()  # nothing was trained: leave the folder free for the next attempt
            raise
        if history is not None:
            _replay_history(history, seeds, sinks, sink_names)
        return sinks

    sinks = _on_primary(open_files) or []  # the metrics stream reaches process 0 only

    timing = {}
    with MetricsLogger(sinks, seeds) as logger, _GracefulStop() as stop:
        progress = Progress(logger, config, len(seeds), enabled=not args.no_progress and is_primary(), stop=stop)

        def compiled(seconds=None):
            timing["compile"] = time.perf_counter() - timing["start"] if seconds is None else seconds
            progress.start(resume_from or 0)

        timing["start"] = time.perf_counter()
        try:
            if settings["checkpoint_every"] is None:
                states, metrics, _, run_seconds = train_runs_sharded(
                    module, stack_runs(config, [{}], len(seeds)), keys, progress, mesh, on_compiled=compiled,
                    report_every=progress.report_every,
                )
            else:
                states, metrics = train_with_checkpoints(
                    module, config, keys, checkpoints, settings["checkpoint_every"],
                    callback=progress, resume=resume_from is not None, mesh=mesh, on_compiled=compiled,
                    report_every=progress.report_every,
                )
                run_seconds = time.perf_counter() - progress.start_time  # checkpoint writes included
        finally:
            progress.close()
    metrics = jax.tree.map(np.asarray, metrics)  # leaves [I, S], the iterations done
    states = gather(states)  # every run's state on this host (from every process, on several)
    iterations_done = int(np.max(states.iteration))
    # A signal may have reached process 0 alone, which stopped every process: its reason counts.
    stop.reason = broadcast_text(stop.reason or "") or None
    interrupted = iterations_done < config.num_iterations and stop.reason in _SIGNALS
    nan_runs = [{"seed": seeds[entry["run"]], "first_iteration": entry["first_iteration"], "metrics": entry["metrics"]}
                for entry in nan_onsets(metrics, states.params)] if len(metrics["env_steps"]) else []
    exit_code = INTERRUPTED if interrupted else RUN_FAILED if nan_runs else 0
    # Every process asks orbax (whose calls synchronise all processes), process 0 reports it.
    last_checkpoint = checkpoint.latest_step(checkpoints) if settings["checkpoint_every"] is not None else None
    if not is_primary():
        return exit_code  # process 0 evaluates, writes and prints

    trained_steps = (iterations_done - (resume_from or 0)) * config.batch_size * len(seeds)
    last = metrics["episode_return"][-1] if len(metrics["episode_return"]) else np.full(len(seeds), np.nan)
    final_mean, final_std = _mean_std(last)
    summary = {
        "algorithm": algorithm,
        "env": env,
        "seeds": seeds,
        "devices": mesh.size,
        "processes": jax.process_count(),
        "status": "interrupted" if interrupted else "nan" if nan_runs else "completed",
        "iterations": config.num_iterations,
        "iterations_done": iterations_done,
        "env_steps_per_seed": config.num_iterations * config.batch_size,
        "final_return_mean": final_mean,
        "final_return_std": final_std,
        "final_return_per_seed": last.tolist(),
        "nan_runs": nan_runs,
        "compile_seconds": timing.get("compile", float("nan")),
        "run_seconds": run_seconds,
        "env_steps_per_second": trained_steps / max(run_seconds, 1e-9),
        "run_dir": str(run_dir),
    }
    if iterations_done < config.num_iterations:
        summary["stopped_by"] = stop.reason
    if resume_from is not None:
        summary["resumed_from_iteration"] = resume_from
    if settings["checkpoint_every"] is not None:
        summary["checkpoint_every"] = settings["checkpoint_every"]
        summary["last_checkpoint"] = last_checkpoint
    if settings["eval_episodes"] and not interrupted:
        num_episodes, greedy = settings["eval_episodes"], settings["greedy"]
        evaluate_all = jax.jit(jax.vmap(lambda state, key: module.evaluate(config, state, key, num_episodes, greedy)))
        eval_keys = jax.vmap(lambda key: jax.random.fold_in(key, 1))(keys)  # unlike any key used in training
        eval_returns = np.asarray(evaluate_all(states, eval_keys))  # [S, num_episodes]
        per_seed = eval_returns.mean(axis=1)
        per_seed[[seeds.index(entry["seed"]) for entry in nan_runs]] = np.nan  # a NaN policy scores nothing
        eval_mean, eval_std = _mean_std(per_seed)
        summary.update(
            eval_episodes_per_seed=num_episodes, eval_greedy=greedy,
            eval_return_mean=eval_mean, eval_return_std=eval_std, eval_return_per_seed=per_seed.tolist(),
        )
        if is_token_task(env):
            # The task's own measure: greedy answers to every held-out prompt.
            heldout = jax.jit(jax.vmap(lambda state: evaluate_heldout(config, state)))(states)
            exact = np.asarray(heldout["exact_match"], np.float64)
            exact[[seeds.index(entry["seed"]) for entry in nan_runs]] = np.nan
            summary.update(heldout_prompts=len(gymnax.make(env)[0].heldout_prompts()),
                           heldout_exact_match_per_seed=exact.tolist(),
                           heldout_exact_match_mean=_mean_std(exact)[0],
                           heldout_length_mean=float(np.mean(np.asarray(heldout["length"]))))

    (run_dir / "summary.json").write_text(json.dumps(_json_ready(summary), indent=2) + "\n")
    figures = []
    if len(metrics["env_steps"]):
        figures.append("learning_curve.png")
        plot_learning_curves(
            {algorithm: (metrics["env_steps"][:, 0], metrics["episode_return"].T)}, run_dir / "learning_curve.png",
            title=f"{algorithm} on {env}"
            + (f" (stopped at iteration {iterations_done})" if iterations_done < config.num_iterations else ""),
        )
        if is_token_task(env):
            figures.append(TOKEN_CURVES)
            _plot_token_run(metrics, run_dir / TOKEN_CURVES, f"{algorithm} on {env}", algorithm)
    _print_summary(summary, figures)
    for entry in nan_runs:
        where = f"at iteration {entry['first_iteration']}" if entry["first_iteration"] else "in its parameters"
        print(f"NaN: seed {entry['seed']} went NaN {where} ({', '.join(entry['metrics'])}); "
              "see summary.json", file=sys.stderr)
    return exit_code


def _plot_token_run(metrics: dict, path: Path, title: str, algorithm: str) -> None:
    """`plot_token_curves` of a run's metrics (`[iterations, seeds]`); the KL panel and the
    clipped-completion curve appear where the method reports `reference_kl` and the task
    `completion_clipped_fraction`."""
    optional = {name: metrics[name].T for name in ("reference_kl", "completion_clipped_fraction") if name in metrics}
    plot_token_curves(
        metrics["env_steps"][:, 0], metrics["episode_return"].T, metrics["episode_length"].T, path, title=title,
        no_kl_note=f"{algorithm} has no reference policy,\nso there is no KL to one", **optional,
    )


def _plot_sweep_reward_vs_kl(result, path: Path, title: str) -> None:
    """`plot_reward_vs_kl` of a sweep: per grid point, its seeds' final `reference_kl` and
    `episode_return`, each the NaN-aware mean over the last `FINAL_WINDOW` of the iterations
    (at least one; steadier than the last iteration alone), with the runs that went NaN left
    out, as in the ranked table."""
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
        [result.label(point) for point in range(len(result.points))], path,
        title=f"{title}\n(final: mean of the last {window} iteration{'s' * (window != 1)})",
    )


def _warn(message: str) -> None:
    if is_primary():
        print(f"warning: {message}", file=sys.stderr, flush=True)


def _replay_history(history: dict, seeds, sinks, sink_names) -> None:
    """Rewrite the file sinks (metrics.csv, metrics.jsonl) with the iterations the restored
    checkpoint holds, so that a resumed run's files end complete and without duplicates."""
    files = [sink for sink, name in zip(sinks, sink_names) if name in ("csv", "jsonl")]
    for iteration in range(len(history["env_steps"])):
        rows = metrics_to_rows(iteration + 1, seeds, {name: values[iteration] for name, values in history.items()})
        for sink in files:
            sink.write(rows)


# ---------------------------------------------------------------- sweep


def command_sweep(args) -> int:
    algorithm, env = _resolve_algorithm_and_env(args.algorithm, args.env)
    module = ALGORITHMS[algorithm]
    _positive("--seeds", args.seeds)
    if args.seed < 0:
        raise UsageError(f"--seed: must be a non-negative integer, got {args.seed}")
    config = _make_config(module, env, args)
    try:
        grid = parse_grid(args.grid)
        validate_grid(config, grid)
    except ValueError as error:
        raise UsageError(f"--grid {error}") from None
    mesh = _mesh(args.devices)
    _at_least_one_run_per_process(args.seeds * int(np.prod([len(values) for values in grid.values()])), mesh,
                                  "--seeds x --grid")

    run_dir = args.out or _default_run_dir(f"sweep-{algorithm}", env)
    with _claim(run_dir, resume=False, overwrite=args.overwrite, flag="--out"):
        return _sweep_in(run_dir, module, algorithm, env, config, grid, mesh, args)


def _sweep_in(run_dir: Path, module, algorithm, env, config, grid, mesh, args) -> int:
    """`pgjax sweep` inside its claimed run folder."""
    if is_primary():
        (run_dir / "config.json").write_text(
            json.dumps({"algorithm": algorithm, "grid": grid, "seeds": args.seeds, "seed": args.seed,
                        **_config_dict(config)}, indent=2) + "\n"
        )
    num_runs = args.seeds * int(np.prod([len(values) for values in grid.values()]))
    with _GracefulStop() as stop:
        progress = Progress(None, config, num_runs, enabled=not args.no_progress and is_primary(), stop=stop)
        try:
            result = sweep(
                module, config, grid, args.seeds, jax.random.PRNGKey(args.seed), callback=progress, mesh=mesh,
                on_compiled=progress.start, report_every=progress.report_every,
            )
        finally:
            progress.close()
    iterations_done = len(result.metrics["env_steps"])
    stop.reason = broadcast_text(stop.reason or "") or None  # process 0's, as in `pgjax train`
    if not is_primary():
        return INTERRUPTED if iterations_done < config.num_iterations else 0  # process 0 writes and prints
    if iterations_done == 0:
        print(f"{stop.reason}: stopped before the first iteration; nothing to report", file=sys.stderr)
        return INTERRUPTED

    result.summary_to_csv(run_dir / "results.csv")
    (run_dir / "results.md").write_text(result.to_markdown())
    result.to_csv(run_dir / "runs.csv")
    plot_sweep(result, run_dir / "learning_curves.png", title=f"{algorithm} on {env}: {num_runs} runs")
    files = ["results.md", "results.csv", "runs.csv", "learning_curves.png"]
    if is_token_task(env) and "reference_kl" in result.metrics:
        _plot_sweep_reward_vs_kl(result, run_dir / REWARD_VS_KL,
                                 f"{algorithm} on {env}: final reward vs KL")
        files.append(REWARD_VS_KL)
    print(f"{algorithm} on {env}: {len(result.points)} grid points x {args.seeds} seeds = {num_runs} runs "
          f"on {mesh.size} device(s) of {jax.process_count()} process(es), {config.num_iterations * config.batch_size:,} env steps each\n")
    if iterations_done < config.num_iterations:
        print(f"interrupted ({stop.reason}) after iteration {iterations_done} of {config.num_iterations}: "
              "the table ranks the returns reached by then\n")
    print(result.to_markdown(), end="")
    for entry in result.nan_runs():
        point = ", ".join(f"{field}={value:g}" for field, value in entry["point"].items())
        print(f"NaN: run {entry['run']} ({point}, seed {entry['seed']}) went NaN at iteration "
              f"{entry['first_iteration']} in {', '.join(entry['metrics'])}; left out of its point's statistics")
    total_steps = num_runs * iterations_done * config.batch_size
    print(f"\nenv steps/s  {total_steps / result.run_seconds:,.0f} (all runs, excluding compilation)")
    print(f"compile      {result.compile_seconds:.1f} s")
    print(f"run          {result.run_seconds:.1f} s")
    print(f"run folder   {run_dir}  ({', '.join(files)})")
    return INTERRUPTED if iterations_done < config.num_iterations else 0


def _print_summary(summary: dict, figures: list[str] | None = None) -> None:
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
    if "heldout_exact_match_mean" in summary:
        lines.append(("held-out", f"exact match {summary['heldout_exact_match_mean']:.3f} (greedy, "
                                  f"{summary['heldout_prompts']} prompts, mean over seeds), "
                                  f"completion length {summary['heldout_length_mean']:.2f}"))
    if "resumed_from_iteration" in summary:
        lines.append(("resumed", f"from the checkpoint after iteration {summary['resumed_from_iteration']}"))
    if "checkpoint_every" in summary:
        lines.append(("checkpoints", f"every {summary['checkpoint_every']} iterations; the last after iteration "
                                     f"{summary['last_checkpoint']}"))
    lines += [
        ("devices", f"{summary['devices']} of {summary['processes']} process(es) (runs sharded over them)"),
        ("env steps/s", f"{summary['env_steps_per_second']:,.0f} (all seeds, excluding compilation)"),
        ("compile", f"{summary['compile_seconds']:.1f} s"),
        ("run", f"{summary['run_seconds']:.1f} s"),
        ("run folder", summary["run_dir"] + (f"  ({', '.join(figures)})" if figures else "")),
    ]
    width = max(len(name) for name, _ in lines)
    for name, value in lines:
        print(f"{name:<{width}}  {value}")
