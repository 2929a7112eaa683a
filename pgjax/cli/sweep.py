"""`pgjax sweep`: every grid point x seed trained in one program (`pgjax.runs.sweep.sweep`),
then ranked: `results.md`, `results.csv`, every run's final metrics (`runs.csv`), the learning
curves, and what the kind of task adds (`pgjax.cli.tasks`); the table is printed too.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import numpy as np

from pgjax.algorithms import ALGORITHMS
from pgjax.algorithms.config_io import config_to_json
from pgjax.cli.arguments import make_config, non_negative, positive, resolve_algorithm_and_env
from pgjax.cli.errors import INTERRUPTED, RUN_FAILED, UsageError
from pgjax.cli.graceful_stop import STOP_SIGNALS, GracefulStop
from pgjax.cli import devices
from pgjax.cli.processes import at_least_one_run_per_process, claim, default_run_dir
from pgjax.cli.run_folder import write_json
from pgjax.cli.tasks import task_report
from pgjax.report.plots import plot_sweep
from pgjax.report.progress import Progress
from pgjax.runs.distributed import broadcast_text, is_primary
from pgjax.runs.sweep import parse_grid, sweep, validate_grid


def command_sweep(args) -> int:
    algorithm, env = resolve_algorithm_and_env(args.algorithm, args.env)
    module = ALGORITHMS[algorithm]
    positive("--seeds", args.seeds)
    non_negative("--seed", args.seed)
    config = make_config(module, env, args)
    try:
        grid = parse_grid(args.grid)
        validate_grid(config, grid)
    except ValueError as error:
        raise UsageError(f"--grid {error}") from None
    num_runs = args.seeds * int(np.prod([len(values) for values in grid.values()]))
    mesh = devices.device_mesh(args, num_runs)
    at_least_one_run_per_process(num_runs, mesh, "--seeds x --grid")

    run_dir = args.out or default_run_dir(f"sweep-{algorithm}", env)
    with claim(run_dir, resume=False, overwrite=args.overwrite, flag="--out"):
        return _sweep_in(run_dir, module, algorithm, env, config, grid, num_runs, mesh, args)


def _sweep_in(run_dir: Path, module, algorithm, env, config, grid, num_runs, mesh, args) -> int:
    """`pgjax sweep` inside its claimed run folder."""
    if is_primary():
        write_json(run_dir / "config.json",
                   {"algorithm": algorithm, "grid": grid, "seeds": args.seeds, "seed": args.seed, "devices": mesh.size,
                    **config_to_json(config)})
    devices.announce(mesh, num_runs, args.devices_source)  # now that the run folder is ours
    with GracefulStop() as stop:
        progress = Progress(None, config, num_runs, enabled=not args.no_progress and is_primary(), stop=stop)
        try:
            result = sweep(
                module, config, grid, args.seeds, jax.random.PRNGKey(args.seed), callback=progress, mesh=mesh,
                on_compiled=progress.start, report_every=progress.report_every,
            )
        finally:
            progress.close()
    iterations_done = len(result.metrics["env_steps"])
    stopped_by = broadcast_text(stop.reason or "") or None  # process 0's, as in `pgjax train`
    # As `pgjax train`: stopped early by a signal, 130; every run NaN (whether that stopped the
    # sweep early or not), 1. Some runs NaN is a result of the grid (ranked last), not a failure.
    exit_code = 0
    if iterations_done < config.num_iterations and stopped_by in STOP_SIGNALS:
        exit_code = INTERRUPTED
    elif iterations_done and len(result.nan_runs()) == num_runs:
        exit_code = RUN_FAILED
    if not is_primary():
        return exit_code  # process 0 writes and prints
    if iterations_done == 0:
        print(f"{stopped_by}: stopped before the first iteration; nothing to report", file=sys.stderr)
        return INTERRUPTED

    title = f"{algorithm} on {env}"
    result.summary_to_csv(run_dir / "results.csv")
    (run_dir / "results.md").write_text(result.to_markdown())
    result.to_csv(run_dir / "runs.csv")
    plot_sweep(result, run_dir / "learning_curves.png", title=f"{title}: {num_runs} runs")
    files = ["results.md", "results.csv", "runs.csv", "learning_curves.png",
             *task_report(env).sweep_figures(result, run_dir, f"{title}: final reward vs KL")]
    _print_results(result, title, args.seeds, num_runs, mesh, config, iterations_done, stopped_by)
    print(f"run folder   {run_dir}  ({', '.join(files)})")
    return exit_code


def _print_results(result, title: str, seeds: int, num_runs: int, mesh, config, iterations_done: int,
                   stopped_by: str | None) -> None:
    """The ranked table, every run that went NaN, and the speed."""
    print(f"{title}: {len(result.points)} grid points x {seeds} seeds = {num_runs} runs "
          f"on {mesh.size} device(s) of {jax.process_count()} process(es), "
          f"{config.num_iterations * config.batch_size:,} env steps each\n")
    if iterations_done < config.num_iterations:
        print(f"interrupted ({stopped_by}) after iteration {iterations_done} of {config.num_iterations}: "
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
