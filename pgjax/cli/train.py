"""`pgjax train`: K seeds of one algorithm on one environment, trained together, and
`pgjax train --resume DIR`, which continues a checkpointed run with its saved settings.

The steps, in `_train_in`: restore the checkpoint (on resume) before any file is opened;
write `config.json` and `run.json` and open the metric sinks; train, with a progress bar and
a graceful stop; gather what every process trained; then process 0 reports
(`pgjax.cli.summary`). The exit code is 130 if a signal stopped the run, 1 if a run went NaN.
"""

from __future__ import annotations

import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from pgjax import __version__
from pgjax.algorithms import ALGORITHMS
from pgjax.algorithms.config_io import config_to_json
from pgjax.algorithms.scan import stack_runs
from pgjax.cli.arguments import make_config, non_negative, positive, resolve_algorithm_and_env
from pgjax.cli.defaults import DEFAULT_EVAL_EPISODES
from pgjax.cli.errors import INTERRUPTED, RUN_FAILED, UsageError
from pgjax.cli.graceful_stop import GracefulStop
from pgjax.cli import devices
from pgjax.cli.processes import at_least_one_run_per_process, claim, default_run_dir, on_primary, warn
from pgjax.cli.run_folder import RunFolder, write_json
from pgjax.cli.sinks import make_sinks, replay_history, sink_names
from pgjax.cli.summary import Trained, report
from pgjax.report.divergence import nan_onsets
from pgjax.report.progress import Progress
from pgjax.report.sinks import MetricsLogger
from pgjax.runs import checkpoint
from pgjax.runs.distributed import broadcast_text, gather, is_primary
from pgjax.runs.driver import train_runs_sharded, train_with_checkpoints

CHECKPOINT_DIR = "checkpoints"  # inside the run folder

# What run.json must hold for `--resume`.
_RUN_SETTINGS = ("algorithm", "env", "seeds", "log", "eval_episodes", "greedy", "checkpoint_every")

# Settings of a run that `--resume` takes from the run folder and must not be given again.
_RESUME_CONFLICTS = {
    "algorithm": "ALGO", "env": "ENV", "total_timesteps": "--total-timesteps", "seeds": "--seeds", "seed": "--seed",
    "out": "--out", "assignments": "--set", "log": "--log", "eval_episodes": "--eval-episodes", "greedy": "--greedy",
    "devices": None, "overwrite": "--overwrite",
}


def command_train(args) -> int:
    positive("--seeds", args.seeds)
    positive("--checkpoint-every", args.checkpoint_every)
    non_negative("--seed", args.seed)
    non_negative("--eval-episodes", args.eval_episodes)
    if args.resume is not None:
        settings, config = _resume_settings(args), None  # the config comes from the checkpoint
        settings["checkpoint_every"] = args.checkpoint_every or settings["checkpoint_every"]
        settings["log"] = sink_names(",".join(settings["log"]))  # still installed?
        run_dir = args.resume
    else:
        settings, config = _new_settings(args)
        run_dir = args.out or default_run_dir(settings["algorithm"], settings["env"])
    mesh = devices.device_mesh(args, len(settings["seeds"]))
    at_least_one_run_per_process(len(settings["seeds"]), mesh, "--seeds")
    if args.resume is None:
        settings["devices"] = mesh.size  # a resume continues on as many (`pgjax.cli.devices`)
    with claim(run_dir, resume=args.resume is not None, overwrite=args.overwrite,
               flag="--resume" if args.resume else "--out") as folder:
        return _train_in(folder, settings, config, mesh, resume=args.resume is not None,
                         show_progress=not args.no_progress and is_primary(), devices_source=args.devices_source)


def _new_settings(args) -> tuple[dict, object]:
    """The settings a new run saves in run.json, and its config."""
    algorithm, env = resolve_algorithm_and_env(args.algorithm, args.env)
    config = make_config(ALGORITHMS[algorithm], env, args)
    log = sink_names(args.log or "csv")
    first_seed = args.seed or 0
    settings = {
        "algorithm": algorithm, "env": env, "seeds": list(range(first_seed, first_seed + (args.seeds or 1))),
        "log": log, "eval_episodes": DEFAULT_EVAL_EPISODES if args.eval_episodes is None else args.eval_episodes,
        "greedy": bool(args.greedy), "checkpoint_every": args.checkpoint_every, "pgjax_version": __version__,
    }
    return settings, config


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


def _train_in(folder: RunFolder, settings: dict, config, mesh, *, resume: bool, show_progress: bool,
              devices_source: str = "default") -> int:
    """`pgjax train` inside its claimed run folder."""
    module = ALGORITHMS[settings["algorithm"]]
    seeds = settings["seeds"]
    keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(seeds))
    checkpoints = str((folder.path / CHECKPOINT_DIR).absolute())
    resumed_from, history = None, None
    if resume:
        resumed_from, config, history = _restore(folder.path, checkpoints, module, keys)
    sinks = on_primary(lambda: _open_files(folder, settings, config, resumed_from, history)) or []
    devices.announce(mesh, len(seeds), devices_source)  # now that nothing can fail before training

    with MetricsLogger(sinks, seeds) as logger, GracefulStop() as stop:
        progress = Progress(logger, config, len(seeds), enabled=show_progress, stop=stop)
        states, metrics, compile_seconds, run_seconds = _train(
            module, config, keys, settings["checkpoint_every"], checkpoints, resumed_from, mesh, progress)

    metrics = jax.tree.map(np.asarray, metrics)  # leaves [I, S], the iterations done
    states = gather(states)  # every run's state on this host (from every process, on several)
    nan_runs = [{"seed": seeds[entry["run"]], "first_iteration": entry["first_iteration"], "metrics": entry["metrics"]}
                for entry in nan_onsets(metrics, states.params)] if len(metrics["env_steps"]) else []
    trained = Trained(
        module=module, algorithm=settings["algorithm"], env=settings["env"], config=config, settings=settings,
        keys=keys, states=states, metrics=metrics, iterations_done=int(np.max(states.iteration)),
        # A signal may have reached process 0 alone, which stopped every process: its reason counts.
        stopped_by=broadcast_text(stop.reason or "") or None,
        nan_runs=nan_runs, compile_seconds=compile_seconds, run_seconds=run_seconds, resumed_from=resumed_from,
        # Every process asks orbax (whose calls synchronise all processes), process 0 reports it.
        last_checkpoint=checkpoint.latest_step(checkpoints) if settings["checkpoint_every"] is not None else None,
        devices=mesh.size, run_dir=folder.path,
    )
    if is_primary():  # process 0 evaluates, writes and prints
        report(trained)
    return INTERRUPTED if trained.interrupted else RUN_FAILED if nan_runs else 0


def _restore(run_dir, checkpoints: str, module, keys):
    """`(iterations done, config, metrics history)` of the newest intact checkpoint; restored
    before any metric file is opened for writing, so a failed restore leaves every file as it was."""
    if checkpoint.latest_step(checkpoints) is None:
        # Checked only now that the folder is ours: a run still writing its first checkpoint
        # is reported as in use, not as empty.
        raise UsageError(f"--resume: {run_dir} holds no complete checkpoint yet; start it again instead")
    try:
        step, (_, config, history) = checkpoint.restore_intact(checkpoints, module, key=keys, warn=warn)
    except ValueError as error:  # none intact, or written by a pgjax of another checkpoint format
        raise UsageError(f"--resume: {error}") from None
    return step, config, history


def _open_files(folder: RunFolder, settings: dict, config, resumed_from, history) -> list:
    """On process 0: a new run's config.json and run.json, and the metric sinks. Resuming, the
    metric files are rewritten from the checkpoint's history (complete up to it, and without
    the rows a crashed run may have logged past it); the other sinks append."""
    config_fields = {"algorithm": settings["algorithm"], **config_to_json(config)}
    if resumed_from is None:
        write_json(folder.path / "config.json", config_fields)
        write_json(folder.path / "run.json", settings)
    try:
        sinks = make_sinks(settings["log"], folder.path, config_fields)
    except UsageError:
        if resumed_from is None:
            folder.clear()  # nothing was trained: leave the folder free for the next attempt
        raise
    if history is not None:
        replay_history(history, settings["seeds"], sinks, settings["log"])
    return sinks


def _train(module, config, keys, checkpoint_every, checkpoints: str, resumed_from, mesh, progress: Progress):
    """Train every run, in compiled blocks fed to `progress` (and, with `checkpoint_every`, in
    checkpointed chunks). Returns `(states, metrics, compile_seconds, run_seconds)`."""
    timing = {}

    def compiled(seconds=None):
        timing["compile"] = time.perf_counter() - timing["start"] if seconds is None else seconds
        progress.start(resumed_from or 0)

    timing["start"] = time.perf_counter()
    try:
        if checkpoint_every is None:
            states, metrics, _, run_seconds = train_runs_sharded(
                module, stack_runs(config, [{}], len(keys)), keys, progress, mesh, on_compiled=compiled,
                report_every=progress.report_every,
            )
        else:
            states, metrics = train_with_checkpoints(
                module, config, keys, checkpoints, checkpoint_every,
                callback=progress, resume=resumed_from is not None, mesh=mesh, on_compiled=compiled,
                report_every=progress.report_every,
            )
            run_seconds = time.perf_counter() - progress.start_time  # checkpoint writes included
    finally:
        progress.close()
    return states, metrics, timing.get("compile", float("nan")), run_seconds
