"""How many devices a command's runs are sharded over, decided before JAX starts its backend.

The count, in order of precedence:

1. `--devices D`;
2. the environment variable `PGJAX_DEVICES`;
3. resuming (`pgjax train --resume DIR`): the count the run was trained on (`run.json`), so
   that it continues with the same numbers;
4. by default: on a CPU, one device per usable core (`pgjax.runs.devices.split_cpu`), of which
   the runs take as many as hold them at the fewest runs per device (`runs_mesh`); on GPUs
   and TPUs, every visible device, likewise.

A pinned count (1 to 3) is used as given, padding runs included; on a CPU the CPU is split
into exactly that many devices. With `--distributed` the runs go on every device of every
process, the CPU is not split, and neither `--devices` nor `PGJAX_DEVICES` applies.

This module is imported before the backend starts, so it imports nothing that starts one.
"""

from __future__ import annotations

import json
import math
import os
import sys

from pgjax.cli.errors import UsageError
from pgjax.runs.devices import ENV_VAR, chosen_elsewhere, runs_mesh, split_cpu


def requested(args) -> tuple[int | None, str]:
    """`(count, where it came from)`: a pinned count and the flag, variable or file naming it,
    or `(None, "default")`."""
    if args.devices is not None:
        if args.devices < 1:
            raise UsageError(f"--devices: must be a positive integer, got {args.devices}")
        return args.devices, "--devices"
    text = os.environ.get(ENV_VAR, "").strip()
    if text:
        if not text.isdigit() or int(text) < 1:
            raise UsageError(f"{ENV_VAR}: must be a positive integer, got {text!r}")
        return int(text), ENV_VAR
    resume = getattr(args, "resume", None)
    if resume is not None:
        try:
            saved = json.loads((resume / "run.json").read_text()).get("devices")
        except (OSError, ValueError, AttributeError):
            saved = None  # not a run folder: `pgjax train --resume` says so, with the reason
        if isinstance(saved, int) and saved >= 1:
            return saved, "the count the run was trained on"
    return None, "default"


def split(args) -> None:
    """Before the backend starts: choose the count (`args.devices`, `args.devices_source`) and,
    unless `--distributed`, split the CPU into that many devices (default: one per core)."""
    if args.distributed:
        args.devices_source = "every device of every process"
        return
    args.devices, args.devices_source = requested(args)
    if args.devices is None and chosen_elsewhere() is not None:
        args.devices_source = "the CPU device count set by JAX_NUM_CPU_DEVICES or XLA_FLAGS"
    split_cpu(args.devices)


def device_mesh(args, num_runs: int):
    """The 1-D mesh the `num_runs` runs are sharded over (see the module docstring)."""
    devices = None if args.distributed else args.devices
    try:
        return runs_mesh(num_runs, devices)
    except ValueError as error:  # a pinned count beyond the visible GPUs or TPUs
        flag = args.devices_source if args.devices_source in ("--devices", ENV_VAR) else "--devices"
        raise UsageError(f"{flag}: {str(error).removeprefix('devices: ')}") from None


def describe(mesh, num_runs: int, source: str) -> str:
    """E.g. `8 runs on 2 cpu devices, 4 each (one per core)`."""
    platform = mesh.devices.flat[0].platform
    count = mesh.size
    text = f"{num_runs} run{'s' if num_runs != 1 else ''} on {count} {platform} device{'s' if count != 1 else ''}"
    if num_runs > 1:
        text += f", {math.ceil(num_runs / count)} each" if count > 1 else ""
    if source == "default":
        return text + (" (one per core; --devices D pins the count)" if platform == "cpu" else "")
    return f"{text} ({source})"


def announce(mesh, num_runs: int, source: str) -> None:
    """The device line on stderr, from process 0 alone."""
    from pgjax.runs.distributed import is_primary

    if is_primary():
        print(f"devices: {describe(mesh, num_runs, source)}", file=sys.stderr, flush=True)
