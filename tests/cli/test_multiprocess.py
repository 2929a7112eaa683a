"""Several processes for real, on one machine: 2 local processes x 2 CPU devices each, joined
by JAX's distributed runtime over localhost (gloo collectives), against the same work done by
1 process x 4 devices. Every launch is a subprocess with a free port and a bounded timeout.

Serial: the processes' device threads must all reach each collective, which a second test
worker competing for the two cores can delay past XLA's deadlines.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.serial

# Raised XLA CPU collective deadlines: on a loaded 2-core machine a device thread can reach a
# rendezvous later than the default 40 s, which aborts the process.
SLOW_MACHINE_FLAGS = (
    "--xla_cpu_collective_call_terminate_timeout_seconds=900 --xla_cpu_collective_call_warn_stuck_timeout_seconds=300 "
    "--xla_cpu_collective_timeout_seconds=900"
)
# tests/cli/ -> the repository; the guide that shows the two-process command
DEVICES_GUIDE = Path(__file__).parents[2] / "docs" / "guides" / "devices.md"
TIMEOUT = 480  # seconds for one launch, all its processes together

# Small PPO runs: 4 envs x 32 steps = 128 env steps per iteration.
SETTINGS = ["--set", "num_envs=4", "num_steps=32", "num_minibatches=2", "hidden_sizes=32,32", "--no-progress"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _launch(args, processes: int, devices: int, logs: Path, tag: str) -> list[subprocess.Popen]:
    """Start `pgjax ARGS` as `processes` local processes with `devices` CPU devices each."""
    # The device count is XLA_FLAGS's alone, not the suite's PGJAX_DEVICES.
    env = {key: value for key, value in os.environ.items() if key not in ("XLA_FLAGS", "PGJAX_DEVICES")}
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices} {SLOW_MACHINE_FLAGS}"
    port = _free_port()
    launched = []
    for rank in range(processes):
        command = [sys.executable, "-m", "pgjax", *args]
        if processes > 1:
            command += ["--distributed", "--coordinator", f"127.0.0.1:{port}", "--num-processes", str(processes),
                        "--process-id", str(rank)]
        out = open(logs / f"{tag}.{rank}.out", "w")
        err = open(logs / f"{tag}.{rank}.err", "w")
        launched.append(subprocess.Popen(command, env=env, stdout=out, stderr=err, text=True))
        launched[-1].logs = (out, err)
    return launched


def _finish(launched, logs: Path, tag: str, timeout: float = TIMEOUT) -> list[tuple[int, str, str]]:
    """Wait for every process (killing all of them past `timeout`); `(returncode, stdout, stderr)` each."""
    deadline = time.monotonic() + timeout
    try:
        for process in launched:
            process.wait(timeout=max(deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        for process in launched:
            process.kill()
        pytest.fail(f"{tag}: did not finish within {timeout} s:\n" + _tails(logs, tag, len(launched)))
    results = []
    for rank, process in enumerate(launched):
        for file in process.logs:
            file.close()
        results.append((process.returncode, (logs / f"{tag}.{rank}.out").read_text(),
                        (logs / f"{tag}.{rank}.err").read_text()))
    return results


def _tails(logs: Path, tag: str, processes: int) -> str:
    return "\n".join(f"--- {tag} process {rank} stderr:\n" + (logs / f"{tag}.{rank}.err").read_text()[-3000:]
                     for rank in range(processes))


def _run(args, processes, devices, logs, tag, expect=0):
    results = _finish(_launch(args, processes, devices, logs, tag), logs, tag)
    codes = [code for code, _, _ in results]
    assert codes == [expect] * processes, f"{tag}: exit codes {codes}\n" + _tails(logs, tag, processes)
    return results


# The words of gloo's "[Gloo] Rank 3 is connected to 3 peer ranks. Expected number of connected
# peer ranks is : 3", which its C++ threads write to stdout in pieces that can interleave.
_GLOO_WORDS = re.compile(r"\[Gloo\]|Rank|ranks|is|connected|to|peer|Expected|number|of|\d+|[.:]")


def _printed(stdout: str) -> str:
    """What pgjax printed, without gloo's connection messages (nothing is left of those)."""
    return "".join(_GLOO_WORDS.sub("", stdout).split())


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def _readme_command() -> list[str]:
    """The arguments of the devices guide's two-process `pgjax sweep`, without its `--out` and
    the `--distributed` flags (which `_launch` adds with a free port)."""
    text = DEVICES_GUIDE.read_text()
    line = next(line for line in text.splitlines() if "pgjax sweep" in line and "--num-processes 2" in line)
    assert "--xla_force_host_platform_device_count=2" in line and "--num-processes 2" in line
    words = line.split("pgjax", 1)[1].split("--distributed")[0].split()
    out = words.index("--out")
    return words[:out] + words[out + 2:]


def test_readme_sweep_on_two_processes_equals_one_process_on_four_devices(tmp_path):
    """The devices guide's command, started on 2 processes: the same 4 runs as on 1 process x 4 devices,
    number for number; process 0 alone writes and prints."""
    sweep = [*_readme_command(), "--no-progress"]
    assert sweep[:3] == ["sweep", "ppo", "CartPole-v1"]
    two = _run([*sweep, "--out", str(tmp_path / "two")], 2, 2, tmp_path, "sweep-2x2")
    _run([*sweep, "--out", str(tmp_path / "one")], 1, 4, tmp_path, "sweep-1x4")

    assert "| rank | learning_rate |" in two[0][1] and "4 runs on 4 device(s) of 2 process(es)" in two[0][1]
    assert _printed(two[1][1]) == "", two[1][1]  # process 1 prints nothing
    assert _rows(tmp_path / "two" / "runs.csv") == _rows(tmp_path / "one" / "runs.csv")
    assert (tmp_path / "two" / "learning_curves.png").is_file()


def _first_rows(path: Path, iterations: int) -> list[dict]:
    return [row for row in _rows(path) if int(row["iteration"]) <= iterations]


def _checkpoint_steps(run_dir: Path) -> list[int]:
    folder = run_dir / "checkpoints"
    return sorted(int(entry.name) for entry in folder.iterdir() if entry.name.isdigit()) if folder.is_dir() else []


def test_checkpointed_train_of_three_seeds_on_two_processes_killed_and_resumed(tmp_path):
    """`train --seeds 3` (padded to 4 runs) with checkpoints on 2 processes, SIGKILLed on both
    after its first checkpoint and resumed on 2 processes, ends with the metrics of the same
    work done uninterrupted on 1 process x 4 devices, every iteration of them (so its episodes
    before the kill, on 2 processes, are those of 1 process too)."""
    train = ["train", "ppo", "CartPole-v1", "--seeds", "3", "--total-timesteps", str(128 * 24),
             "--checkpoint-every", "2", "--eval-episodes", "2", *SETTINGS]
    _run([*train, "--out", str(tmp_path / "single")], 1, 4, tmp_path, "train-1x4")
    single = json.loads((tmp_path / "single" / "summary.json").read_text())

    killed_dir = tmp_path / "killed"
    launched = _launch([*train, "--out", str(killed_dir)], 2, 2, tmp_path, "killed")
    deadline = time.monotonic() + TIMEOUT
    while not _checkpoint_steps(killed_dir) and time.monotonic() < deadline and launched[0].poll() is None:
        time.sleep(0.05)
    for process in launched:
        process.send_signal(signal.SIGKILL)
    _finish(launched, tmp_path, "killed")
    steps = _checkpoint_steps(killed_dir)
    assert steps and steps[-1] < 24, f"the run was not killed part-way (checkpoints {steps})"
    assert not (killed_dir / "summary.json").exists()
    before_kill = _first_rows(killed_dir / "metrics.csv", steps[-1])
    assert before_kill == _first_rows(tmp_path / "single" / "metrics.csv", steps[-1])

    resumed = _run(["train", "--resume", str(killed_dir), "--no-progress"], 2, 2, tmp_path, "resumed")
    assert "from the checkpoint after iteration" in resumed[0][1]
    assert _printed(resumed[1][1]) == "", resumed[1][1]  # process 1 prints nothing
    final = json.loads((killed_dir / "summary.json").read_text())
    assert final["status"] == "completed" and final["devices"] == 4 and final["processes"] == 2
    assert final["resumed_from_iteration"] == steps[-1] and final["last_checkpoint"] == 24
    assert final["final_return_per_seed"] == single["final_return_per_seed"]
    assert final["eval_return_per_seed"] == single["eval_return_per_seed"] and len(single["eval_return_per_seed"]) == 3
    assert _rows(killed_dir / "metrics.csv") == _rows(tmp_path / "single" / "metrics.csv")
    assert len(_rows(killed_dir / "metrics.csv")) == 24 * 3


def test_failure_modes_end_with_one_line_instead_of_a_hang(tmp_path):
    # A process whose coordinator never answers: an error naming it after the timeout, exit code 1.
    port = _free_port()
    started = time.monotonic()
    unreachable = subprocess.run(
        [sys.executable, "-m", "pgjax", "train", "--distributed", "--coordinator", f"127.0.0.1:{port}",
         "--num-processes", "2", "--process-id", "1", "--coordinator-timeout", "3"],
        capture_output=True, text=True, timeout=120,
    )
    assert unreachable.returncode == 1, unreachable.stderr[-2000:]
    assert f"error: distributed: process 1 of 2 could not join all processes at 127.0.0.1:{port} within 3 s" in unreachable.stderr
    assert time.monotonic() - started < 60

    # Fewer runs than processes: both processes refuse it with the same line.
    results = _finish(_launch(["train", "--seeds", "1", "--out", str(tmp_path / "one-run")], 2, 2, tmp_path, "few"),
                      tmp_path, "few", timeout=180)
    for code, _, err in results:
        assert code == 2, err[-2000:]
        assert "error: --seeds: 1 run(s) cannot be shared by 2 processes" in err
    assert not (tmp_path / "one-run").exists()  # refused before anything was written
