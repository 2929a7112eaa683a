"""The `pgjax` command.

    pgjax train [ALGO] [ENV] [--total-timesteps N] [--seeds K] [--seed S] [--out DIR]
                [--set field=value ...] [--log csv,jsonl,tensorboard,wandb] [--no-progress]
                [--checkpoint-every N] [--devices D | --distributed [...]]
    pgjax train --resume DIR [--no-progress] [--distributed [...]]
    pgjax sweep [ALGO] [ENV] --grid field=v1,v2 ... [--seeds S] [--total-timesteps N]
                [--set field=value ...] [--out DIR] [--no-progress] [--devices D | --distributed [...]]
    pgjax list

    --distributed [--coordinator HOST:PORT --num-processes N --process-id I] [--coordinator-timeout S]

`train` trains all K seeds together (their runs sharded over the visible devices exactly as
a sweep's: `pgjax.runs.sweep.train_runs_sharded`), compiles its programs apart from running them
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
0 alone writes the run folder and prints (see `pgjax.cli.commands`).

Bad arguments end with one `error: ...` line and exit code 2. This module imports only the
parser's needs, so that `--distributed` can start JAX's distributed runtime before anything
starts an XLA backend; the commands themselves are in `pgjax.cli.commands`.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from pathlib import Path

# Only light imports here: `--distributed` must start JAX's distributed runtime before
# anything starts an XLA backend, and importing gymnax does (see `pgjax.cli.commands`).
from pgjax.report.sinks import SINKS

DEFAULT_ALGORITHM = "ppo"
DEFAULT_ENV = "CartPole-v1"
USAGE_ERROR = 2
RUN_FAILED = 1  # a run went NaN
INTERRUPTED = 130  # stopped by Ctrl-C or SIGTERM, as a shell reports SIGINT


class UsageError(Exception):
    """A bad argument: reported as one `error: ...` line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    # argparse would print the usage and exit; we want one line and a return code.
    def error(self, message):
        raise UsageError(message)


# ---------------------------------------------------------------- --set parsing

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        number = float(text)  # accept 1e6 and 2_000.0, but not 2.5
        if not number.is_integer():
            raise ValueError(f"{text!r} is not an integer") from None
        return int(number)


def _parse_number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _parse_tuple(text: str, default: tuple) -> tuple:
    """`64,64` -> (64, 64) when the default holds numbers; `name:value,...` -> pairs
    (for `env_params`) when the default is empty or holds pairs."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if default and not isinstance(default[0], tuple):
        kind = type(default[0])
        return tuple(_parse_int(item) if kind is int else kind(item) for item in items)
    pairs = []
    for item in items:
        name, sep, value = item.partition(":")
        if not sep:
            raise ValueError(f"expected name:value pairs separated by commas, got {item!r}")
        pairs.append((name.strip(), _parse_number(value.strip())))
    return tuple(pairs)


def parse_value(text: str, default):
    """`text` read as the type of the field's `default` (bool, int, float, tuple, str)."""
    if isinstance(default, bool):
        lowered = text.strip().lower()
        if lowered in _TRUE | _FALSE:
            return lowered in _TRUE
        raise ValueError(f"expected true or false, got {text!r}")
    if isinstance(default, int):
        return _parse_int(text)
    if isinstance(default, float):
        return float(text)
    if isinstance(default, tuple):
        return _parse_tuple(text, default)
    if isinstance(default, str):
        return text
    try:  # no typed default (None): a number if it reads as one
        return _parse_number(text)
    except ValueError:
        return text


def parse_overrides(config_cls, assignments: list[str]) -> dict:
    """`["field=value", ...]` -> typed overrides. Unknown fields pass through as strings,
    for `Config.make` to reject with the list of known fields."""
    defaults = {field.name: field.default for field in dataclasses.fields(config_cls)}
    overrides = {}
    for assignment in assignments:
        name, sep, text = assignment.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"--set expects field=value, got {assignment!r}")
        if name not in defaults:
            overrides[name] = text
            continue
        try:
            overrides[name] = parse_value(text, defaults[name])
        except ValueError as error:
            kind = type(defaults[name]).__name__
            raise UsageError(f"--set {name}: expected a value of type {kind}, got {text!r} ({error})") from None
    return overrides


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
    train.add_argument("--eval-episodes", type=int, default=None, metavar="N", help="evaluation episodes per seed after training (default 32; 0: skip)")
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
    parser.add_argument("--devices", type=int, metavar="D", help="shard the runs over the first D devices (default: all visible)")
    parser.add_argument("--overwrite", action="store_true", help="replace the run already in --out (otherwise an existing run folder is refused)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
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
        from pgjax.cli import commands  # after the distributed runtime: importing gymnax starts a backend

        if args.command == "train":
            return commands.command_train(args)
        if args.command == "sweep":
            return commands.command_sweep(args)
        if args.command == "list":
            return commands.command_list()
        raise UsageError("choose a command: train, sweep or list (see pgjax --help)")
    except UsageError as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return USAGE_ERROR
    except SystemExit as exit_:  # --help
        return exit_.code if isinstance(exit_.code, int) else 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    # `python -m pgjax.cli`: run the imported module's `main`, so that `pgjax.cli.commands` (which
    # imports `pgjax.cli`) and this entry point share one `UsageError`.
    from pgjax.cli import main as _main

    raise SystemExit(_main())
