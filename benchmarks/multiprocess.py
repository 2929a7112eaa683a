"""One process x 4 devices vs 2 processes x 2 devices, side by side on this machine.

The same `pgjax train` (PPO on CartPole-v1 at the classic settings: 4 envs x 128 steps, 4 epochs
x 4 minibatches, 64-64 tanh; 8 seeds, 2 per device) is started as one process with 4 forced
CPU devices and as 2 local processes with 2 devices each, joined by `--distributed` over
localhost (gloo collectives). The figure is `env_steps_per_second` from each run's
`summary.json` (all seeds, compilation excluded), alternating the two layouts `REPEATS` times;
the table gives the median and the range. The runs of the two layouts are the same numbers
(`tests/cli/test_multiprocess.py` checks it), so this compares only the cost of the layout.

Run: `python -m benchmarks.multiprocess [--quick]` -> `benchmarks/multiprocess.md` + `.png`.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import common

SEEDS = 8
REPEATS = 3
LAYOUTS = ((1, 4), (2, 2))  # (processes, devices per process)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_once(processes: int, devices: int, total_timesteps: int, out: Path) -> dict:
    """One `pgjax train` in the given layout; its summary.json."""
    env = {key: value for key, value in os.environ.items() if key != "XLA_FLAGS"}
    env["XLA_FLAGS"] = (f"--xla_force_host_platform_device_count={devices} "
                        "--xla_cpu_collective_call_terminate_timeout_seconds=900 --xla_cpu_collective_timeout_seconds=900")
    command = [sys.executable, "-m", "pgjax", "train", "ppo", "CartPole-v1", "--seeds", str(SEEDS),
               "--total-timesteps", str(total_timesteps), "--eval-episodes", "0", "--no-progress", "--out", str(out)]
    port = _free_port()
    launched = [
        subprocess.Popen(
            command + ([] if processes == 1 else ["--distributed", "--coordinator", f"127.0.0.1:{port}",
                                                   "--num-processes", str(processes), "--process-id", str(rank)]),
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        for rank in range(processes)
    ]
    errors = [process.communicate(timeout=1200)[1] for process in launched]
    if any(process.returncode for process in launched):
        raise RuntimeError(f"{processes}x{devices}: exit codes {[p.returncode for p in launched]}: {errors[0][-2000:]}")
    return json.loads((out / "summary.json").read_text())


def section(quick: bool = False) -> str:
    total_timesteps = 2**14 if quick else 2**17
    repeats = 1 if quick else REPEATS
    rates = {layout: [] for layout in LAYOUTS}
    compiles = {layout: [] for layout in LAYOUTS}
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(repeats):
            for processes, devices in LAYOUTS:
                common.log(f"multiprocess: {processes} x {devices}, repeat {repeat + 1}/{repeats}")
                summary = run_once(processes, devices, total_timesteps, Path(scratch) / f"{processes}x{devices}-{repeat}")
                rates[(processes, devices)].append(summary["env_steps_per_second"])
                compiles[(processes, devices)].append(summary["compile_seconds"])

    base = statistics.median(rates[LAYOUTS[0]])
    rows = []
    for layout in LAYOUTS:
        median = statistics.median(rates[layout])
        rows.append([f"{layout[0]} process(es) x {layout[1]} devices", f"{median:,.0f}",
                     f"{min(rates[layout]):,.0f}–{max(rates[layout]):,.0f}", f"{median / base:.2f}x",
                     f"{statistics.median(compiles[layout]):.1f}"])
    figure, axis = common.new_figure(5.0, 3.2)
    labels = [f"{p} x {d}" for p, d in LAYOUTS]
    medians = [statistics.median(rates[layout]) for layout in LAYOUTS]
    axis.bar(labels, medians, color=["tab:blue", "tab:orange"])
    for index, layout in enumerate(LAYOUTS):
        axis.plot([index] * len(rates[layout]), rates[layout], "k.", label="runs" if index == 0 else None)
    axis.set_xlabel("processes x devices per process")
    axis.set_ylabel("env-steps/s (all 8 seeds)")
    axis.set_title("PPO CartPole-v1, 8 seeds, 4 CPU devices in all")
    axis.legend()
    image = common.save_figure(figure, "multiprocess")  # markdown that shows it
    return "\n".join([
        common.header("Several processes: 1 x 4 vs 2 x 2 CPU devices"),
        f"`pgjax train ppo CartPole-v1 --seeds {SEEDS} --total-timesteps {total_timesteps}` at the classic settings, "
        f"as 1 process with 4 forced CPU devices and as 2 local processes x 2 devices (`--distributed`, gloo over "
        f"localhost); {repeats} alternating run(s) each, env-steps/s of all seeds from summary.json "
        "(compilation excluded).",
        "",
        common.table(["layout", "env-steps/s (median)", "range", "vs 1 x 4", "compile s"], rows),
        "",
        image,
    ])


def main(argv=None) -> None:
    quick = common.parse_quick(argv)
    print(common.write_section("multiprocess", section(quick)))


if __name__ == "__main__":
    main()
