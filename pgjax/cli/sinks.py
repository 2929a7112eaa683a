"""The metric sinks of `pgjax train` (`--log`): which were asked for, opening them in the run
folder, and, on `--resume`, rewriting the metric files from the checkpoint's history.

`metrics.csv` is always written; the sinks themselves are `pgjax.report.sinks`.
"""

from __future__ import annotations

from pathlib import Path

from pgjax.cli.errors import UsageError
from pgjax.report.sinks import SINKS, check_available, make_sink, metrics_to_rows

# The sinks that write files in the run folder, rewritten from the checkpoint on resume; the
# others (TensorBoard, wandb) append.
FILE_SINKS = ("csv", "jsonl")


def sink_names(text: str) -> list[str]:
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


def make_sinks(names: list[str], run_dir: Path, config_fields: dict) -> list:
    """The sinks `names`, opened in `run_dir`; a sink that fails to open (e.g. wandb without a
    login) closes the ones opened before it and is a usage error: one line, not a traceback."""
    sinks = []
    try:
        for name in names:
            sinks.append(make_sink(name, run_dir, config=config_fields))
    except Exception as error:
        for sink in sinks:
            sink.close()
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UsageError(f"--log {name}: {message}") from None
    return sinks


def replay_history(history: dict, seeds, sinks, names) -> None:
    """Rewrite the file sinks (metrics.csv, metrics.jsonl) with the iterations the restored
    checkpoint holds, so that a resumed run's files end complete and without duplicates."""
    files = [sink for sink, name in zip(sinks, names) if name in FILE_SINKS]
    for iteration in range(len(history["env_steps"])):
        rows = metrics_to_rows(iteration + 1, seeds, {name: values[iteration] for name, values in history.items()})
        for sink in files:
            sink.write(rows)
