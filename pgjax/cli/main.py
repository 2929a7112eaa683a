"""The `pgjax` command.

    pgjax train [ALGO] [ENV] [--total-timesteps N] [--seeds K] [--seed S] [--out DIR]
                [--set field=value ...] [--log csv,jsonl,tensorboard,wandb] [--no-progress]
                [--checkpoint-every N] [--devices D | --distributed [...]]
    pgjax train --resume DIR [--no-progress] [--distributed [...]]
    pgjax sweep [ALGO] [ENV] --grid field=v1,v2 ... [--seeds S] [--total-timesteps N]
                [--set field=value ...] [--out DIR] [--no-progress] [--devices D | --distributed [...]]
    pgjax list

    --distributed [--coordinator HOST:PORT --num-processes N --process-id I] [--coordinator-timeout S]

`train` trains all K seeds together (their runs sharded over the devices exactly as a
sweep's: `pgjax.runs.driver.train_runs_sharded`; on a CPU, split into one device per core
before JAX starts, `pgjax.cli.devices`), compiles its programs apart from running them
so the two times are reported separately, runs compiled blocks of iterations from the host
(`pgjax.runs.driver`) with a progress bar fed between them, and writes `metrics.csv`, `config.json`,
`run.json`, `summary.json` and `learning_curve.png` into the run folder. With
`--checkpoint-every N` it trains in compiled chunks of N iterations and saves an orbax
checkpoint of every run's whole `TrainState` after each (`pgjax.runs.checkpoint`);
`--resume DIR` continues such a run with its saved settings, rewriting the metrics
files from the checkpoint first, so they end complete and without duplicates.

`sweep` trains every grid point × seed in one program (`pgjax.runs.sweep.sweep`) and writes
the ranked results (`results.md`, `results.csv`), every run's final metrics
(`runs.csv`) and `learning_curves.png`.

`--distributed` makes the command one of several processes, one per host (the same command
started on every host): the runs are sharded over every device of every process, and process
0 alone writes the run folder and prints (see `pgjax.cli.processes`).

`train` and `sweep` keep their compiled programs in JAX's persistent compilation cache, on by
default in a per-user folder (`--compile-cache DIR|off`; see `pgjax.cli.compile_cache`).

Bad arguments end with one `error: ...` line and exit code 2 (`pgjax.cli.errors`). This module
holds the parser and `main`, and imports only the parser's needs, so that `--distributed` can
start JAX's distributed runtime before anything starts an XLA backend; `main` imports the
commands (`pgjax.cli.train`, `pgjax.cli.sweep`, `pgjax.cli.listing`) after that.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

# Only light imports here: `--distributed` must start JAX's distributed runtime before
# anything starts an XLA backend, and importing gymnax (as the command modules do) does.
from pgjax.cli import compile_cache, devices
from pgjax.cli.defaults import DEFAULT_ALGORITHM, DEFAULT_ENV, DEFAULT_EVAL_EPISODES
from pgjax.cli.errors import INTERRUPTED, USAGE_ERROR, UsageError
from pgjax.report.sinks import SINKS


class _Parser(argparse.ArgumentParser):
    # argparse would print the usage and exit; we want one line and a return code.
    def error(self, message):
        raise UsageError(message)


# ---------------------------------------------------------------- the parser


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pgjax", description="Policy-gradient reinforcement learning in JAX on gymnax environments.")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)

    train = commands.add_parser("train", help="train one algorithm on one environment over several seeds")
    _add_run_arguments(train, default_seeds=None, seeds_help="number of seeds trained together in one program (default 1)")
    train.add_argument("--seed", type=int, default=None, metavar="S", help="first seed; the runs use seeds S, S+1, ..., S+K-1 (default 0)")
    train.add_argument(
        "--log", default=None, metavar="SINKS",
        help=f"comma-separated metric sinks from {','.join(SINKS)} (metrics.csv is always written)",
    )
    train.add_argument("--eval-episodes", type=int, default=None, metavar="N", help=f"evaluation episodes per seed after training (default {DEFAULT_EVAL_EPISODES}; 0: skip)")
    train.add_argument("--greedy", action="store_true", default=None, help="evaluate with the distribution's mode instead of sampling")
    train.add_argument(
        "--checkpoint-every", type=int, metavar="N",
        help="train in compiled chunks of N iterations, saving a checkpoint of every run after each (resumable)",
    )
    train.add_argument(
        "--resume", type=Path, metavar="DIR",
        help="continue the checkpointed run in DIR with its saved settings (give no algorithm, env or settings)",
    )

    sweep_parser = commands.add_parser("sweep", help="train a hyperparameter grid x seeds in one program, ranked")
    _add_run_arguments(sweep_parser, default_seeds=4, seeds_help="seeds per grid point (default 4)")
    sweep_parser.add_argument(
        "--grid", metavar="FIELD=V1,V2", nargs="+", action="extend", required=True,
        help="numeric config fields and their values, e.g. learning_rate=1e-3,3e-4 clip_eps=0.1,0.2",
    )
    sweep_parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the key the seed keys are split from")

    commands.add_parser("list", help="algorithms, environments and tuned presets")
    return parser


def _add_run_arguments(parser, default_seeds, seeds_help):
    """The arguments `train` and `sweep` share."""
    parser.add_argument("algorithm", nargs="?", default=None, help=f"algorithm (default {DEFAULT_ALGORITHM}); see `pgjax list`")
    parser.add_argument("env", nargs="?", default=None, help=f"gymnax environment (default {DEFAULT_ENV})")
    parser.add_argument("--total-timesteps", type=int, metavar="N", help="environment steps per run (overrides the preset)")
    parser.add_argument("--seeds", type=int, default=default_seeds, metavar="K", help=seeds_help)
    parser.add_argument("--out", type=Path, metavar="DIR", help="run folder (default runs/<algo>-<env>-<timestamp>)")
    parser.add_argument(
        "--set", dest="assignments", metavar="FIELD=VALUE", nargs="+", action="extend", default=[],
        help="override config fields, typed by their defaults: num_envs=8 anneal_lr=false hidden_sizes=64,64 "
        "env_params=max_steps_in_episode:200",
    )
    parser.add_argument(
        "--devices", type=int, metavar="D",
        help="shard the runs over D devices; on a CPU, split it into D devices (default: $PGJAX_DEVICES, else one "
        "per core, as many as the runs fill)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace the run already in --out (otherwise an existing run folder is refused)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--compile-cache", metavar="DIR|off",
        help="folder of the persistent compilation cache, or off (default: $PGJAX_COMPILE_CACHE, else "
        "$JAX_COMPILATION_CACHE_DIR, else ~/.cache/pgjax/jax); a repeated run loads its programs from it",
    )
    hosts = parser.add_argument_group("several processes (hosts)")
    hosts.add_argument(
        "--distributed", action="store_true",
        help="run as one of several processes (jax.distributed.initialize): start the same command on every host; "
        "TPU pod slices, SLURM and Open MPI are detected, elsewhere give the three flags below",
    )
    hosts.add_argument("--coordinator", metavar="HOST:PORT", help="address of process 0, which every process connects to")
    hosts.add_argument("--num-processes", type=int, metavar="N", help="how many processes take part")
    hosts.add_argument("--process-id", type=int, metavar="I", help="this process's index, 0 to N-1")
    hosts.add_argument(
        "--coordinator-timeout", type=int, metavar="SECONDS",
        help="give up, with an error, if not every process has joined within this time (default 300)",
    )


# ---------------------------------------------------------------- entry point


def _start_distributed(args) -> None:
    """With `--distributed`, join the other processes (`pgjax.runs.distributed.initialize`) before
    anything starts an XLA backend; without it, refuse the flags that belong to it."""
    explicit = {"--coordinator": args.coordinator, "--num-processes": args.num_processes, "--process-id": args.process_id}
    given = [flag for flag, value in explicit.items() if value is not None]
    if not args.distributed:
        extra = given + (["--coordinator-timeout"] if args.coordinator_timeout is not None else [])
        if extra:
            raise UsageError(f"{', '.join(extra)}: only with --distributed")
        return
    if args.devices is not None:
        raise UsageError("--devices: cannot be combined with --distributed, which shards the runs over every device "
                         "of every process")
    if given and len(given) < len(explicit):
        missing = [flag for flag in explicit if flag not in given]
        raise UsageError(f"--distributed: give all of --coordinator, --num-processes and --process-id, or none "
                         f"(to detect a TPU pod, SLURM or Open MPI); missing {', '.join(missing)}")
    if given:
        if not re.fullmatch(r"[^\s:]+:\d{1,5}", args.coordinator) or not 0 < int(args.coordinator.rpartition(":")[2]) < 65536:
            raise UsageError(f"--coordinator: expected HOST:PORT with a port from 1 to 65535, got {args.coordinator!r}")
        if args.num_processes < 1:
            raise UsageError(f"--num-processes: must be a positive integer, got {args.num_processes}")
        if not 0 <= args.process_id < args.num_processes:
            raise UsageError(f"--process-id: must be between 0 and --num-processes - 1 = {args.num_processes - 1}, "
                             f"got {args.process_id}")
    timeout = 300 if args.coordinator_timeout is None else args.coordinator_timeout
    if timeout <= 0:
        raise UsageError(f"--coordinator-timeout: must be a positive number of seconds, got {timeout}")

    from pgjax.runs.distributed import initialize

    try:
        initialize(args.coordinator, args.num_processes, args.process_id, timeout_seconds=timeout)
    except (ValueError, RuntimeError) as error:  # e.g. no cluster detected and no coordinator given
        raise UsageError(f"--distributed: {error}") from None


def main(argv: list[str] | None = None) -> int:
    """Run the command line `argv` (default `sys.argv[1:]`); returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command in ("train", "sweep"):
            _start_distributed(args)
            devices.split(args)  # the CPU's device count is fixed when the backend starts
            compile_cache.enable(args.compile_cache)
        # After the distributed runtime: the command modules import gymnax, which starts a backend.
        from pgjax.cli.listing import command_list
        from pgjax.cli.sweep import command_sweep
        from pgjax.cli.train import command_train

        if args.command == "train":
            return command_train(args)
        if args.command == "sweep":
            return command_sweep(args)
        if args.command == "list":
            return command_list()
        raise UsageError("choose a command: train, sweep or list (see pgjax --help)")
    except UsageError as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return USAGE_ERROR
    except SystemExit as exit_:  # --help
        return exit_.code if isinstance(exit_.code, int) else 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED
