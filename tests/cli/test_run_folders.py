"""Run folders that never lose work, and command-line failures that are one line.

Corrupt checkpoints, NaN runs, Ctrl-C, existing and concurrently used `--out` folders,
`--set env=`, misspelt names, and the library's edge cases. Signals and kills go to a
real `python -m pgjax` subprocess.
"""

import contextlib
import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pgjax
from pgjax.runs import checkpoint
from pgjax import ppo
from pgjax.algorithms import scan
from pgjax.cli import main
from pgjax.cli.graceful_stop import STOP_SIGNALS, GracefulStop
from pgjax.report.divergence import nan_onsets
from pgjax.report.sinks import MetricsLogger, make_sink
from pgjax.report.progress import Progress, report_every
from pgjax.cli.run_folder import RunFolder
from pgjax.runs.driver import train_with_checkpoints
from pgjax.runs.sweep import sweep

TINY = ["--total-timesteps", "2048", "--set", "num_envs=4", "num_steps=64", "hidden_sizes=16"]
ITERATIONS = 2048 // (4 * 64)


def run_main(args):
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(args)
    return code, stdout.getvalue(), stderr.getvalue()


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def rows(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def checkpointed(tmp_path_factory):
    """A finished 2-seed run with checkpoints after iterations 4 and 8."""
    out = tmp_path_factory.mktemp("ckpt") / "run"
    code, _, stderr = run_main(["train", *TINY, "--seeds", "2", "--checkpoint-every", "4", "--eval-episodes", "0",
                                "--no-progress", "--out", str(out)])
    assert code == 0, stderr
    return out


def copy_run(source: Path, target: Path) -> Path:
    subprocess.run(["cp", "-r", str(source), str(target)], check=True)
    return target


def corrupt(step_dir: Path) -> None:
    """Truncate every array data file of a checkpoint's state, as a full disk would."""
    data = [path for path in (step_dir / "state").rglob("*") if path.is_file() and path.parent.name == "d"]
    assert data
    for path in data:
        with open(path, "r+b") as file:
            file.truncate(10)


# ---------------------------------------------------------------- corrupt checkpoints


def test_resume_falls_back_past_a_corrupt_checkpoint(checkpointed, tmp_path):
    out = copy_run(checkpointed, tmp_path / "run")
    corrupt(out / "checkpoints" / "8")
    code, stdout, stderr = run_main(["train", "--resume", str(out), "--no-progress"])
    assert code == 0, stderr
    assert "warning: checkpoint after iteration 8 is unreadable" in stderr
    assert "falling back to the checkpoint after iteration 4" in stderr
    assert "from the checkpoint after iteration 4" in stdout
    # The corrupt checkpoint is kept aside, and training wrote step 8 again.
    assert sorted(os.listdir(out / "checkpoints")) == ["4", "8", "8.corrupt"]
    # Iterations 5-8 were trained again from checkpoint 4: the same numbers as the first time.
    assert rows(out / "metrics.csv") == rows(checkpointed / "metrics.csv")


def test_unreadable_checkpoints_leave_the_metrics_untouched(checkpointed, tmp_path):
    out = copy_run(checkpointed, tmp_path / "run")
    before = (out / "metrics.csv").read_bytes()
    for step in ("4", "8"):
        corrupt(out / "checkpoints" / step)
    code, _, stderr = run_main(["train", "--resume", str(out), "--no-progress"])
    assert code == 2
    assert "no readable checkpoint" in stderr.strip().splitlines()[-1]
    assert (out / "metrics.csv").read_bytes() == before  # never opened for writing


def test_library_resume_skips_a_corrupt_checkpoint(checkpointed, tmp_path):
    out = copy_run(checkpointed, tmp_path / "run")
    corrupt(out / "checkpoints" / "8")
    with pytest.warns(UserWarning, match="iteration 8 is unreadable"):
        step = checkpoint.recover(str(out / "checkpoints"), ppo, key=jax.random.PRNGKey(0))
    assert step == 4 and checkpoint.latest_step(str(out / "checkpoints")) == 4


def as_written_by_0_1_0(run_dir: Path) -> None:
    """The run folder as pgjax 0.1.0 left it: no version in run.json, and checkpoints whose
    `runs` item (orbax's JSON file `metadata`) holds the number of runs alone, no format."""
    settings = json.loads((run_dir / "run.json").read_text())
    del settings["pgjax_version"]
    (run_dir / "run.json").write_text(json.dumps(settings, indent=2) + "\n")
    runs_items = list((run_dir / "checkpoints").glob("*/runs/metadata"))
    assert len(runs_items) == 2
    for path in runs_items:
        assert json.loads(path.read_text())["format"] == checkpoint.CHECKPOINT_FORMAT
        path.write_text(json.dumps({"num_runs": 2}))


def folder_contents(path: Path) -> dict:
    return {str(file.relative_to(path)): file.read_bytes() for file in sorted(path.rglob("*")) if file.is_file()}


def test_a_checkpoint_of_an_older_format_is_one_line_naming_its_version(checkpointed, tmp_path):
    """A folder written by pgjax 0.1.0 (whose parameter tree no longer restores) is neither
    resumed nor taken for a corrupt one: one line that names the version, exit code 2, and
    every file left as it was."""
    out = copy_run(checkpointed, tmp_path / "run")
    as_written_by_0_1_0(out)
    before = folder_contents(out)
    code, stdout, stderr = run_main(["train", "--resume", str(out), "--no-progress"])
    assert code == 2 and stdout == ""
    line = one_error_line(stderr)
    assert line.startswith("error: --resume: checkpoint ")
    assert f"written by pgjax 0.1.0 (checkpoint format 1), which pgjax {pgjax.__version__} " \
           f"(format {checkpoint.CHECKPOINT_FORMAT}) cannot resume" in line
    assert folder_contents(out) == before  # no .corrupt, no metric file rewritten

    with pytest.raises(ValueError, match="written by pgjax 0.1.0"):
        checkpoint.recover(str(out / "checkpoints"), ppo, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="written by pgjax 0.1.0"):
        checkpoint.saved_config(str(out / "checkpoints"), ppo)
    assert sorted(os.listdir(out / "checkpoints")) == ["4", "8"]


def test_run_json_and_checkpoints_record_the_pgjax_that_wrote_them(checkpointed):
    assert json.loads((checkpointed / "run.json").read_text())["pgjax_version"] == pgjax.__version__
    for path in (checkpointed / "checkpoints").glob("*/runs/metadata"):
        assert json.loads(path.read_text()) == {
            "num_runs": 2, "format": checkpoint.CHECKPOINT_FORMAT, "pgjax_version": pgjax.__version__}


# ---------------------------------------------------------------- NaN


def test_a_nan_run_is_reported_recorded_and_fails(tmp_path):
    out = tmp_path / "nan"
    # 256 iterations, reported in blocks of `pgjax.report.progress.report_every` (64 here), so that
    # stopping after the first block can be told from running to the end.
    code, stdout, stderr = run_main(["train", *TINY, "learning_rate=1e30", "max_grad_norm=1e9", "--seeds", "2",
                                     "--seed", "3", "--eval-episodes", "0", "--no-progress", "--out", str(out),
                                     "--total-timesteps", str(256 * 256)])
    assert code == 1
    assert "NaN: seed 3 went NaN at iteration 1" in stderr and "NaN: seed 4 went NaN at iteration 1" in stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "nan"
    assert [(entry["seed"], entry["first_iteration"]) for entry in summary["nan_runs"]] == [(3, 1), (4, 1)]
    assert "loss" in summary["nan_runs"][0]["metrics"]
    # Every seed diverged, so the run stopped instead of training NaNs to the end.
    assert (summary["iterations_done"], summary["iterations"]) == (report_every(256, 2), 256) == (64, 256)
    assert summary["stopped_by"] == "all seeds went NaN"
    assert "status        nan after iteration" in stdout


def test_a_healthy_run_has_no_nan_runs(checkpointed):
    summary = json.loads((checkpointed / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["nan_runs"] == []


def test_nan_onsets_find_the_first_iteration_and_the_metric():
    loss = np.ones((5, 3))
    loss[2:, 1] = np.nan
    episode_return = np.full((5, 3), 10.0)
    episode_return[:2] = np.nan  # before the first episode: not a divergence
    params = {"w": np.ones((3, 2))}
    params["w"][2, 0] = np.nan  # run 2: only its parameters
    found = nan_onsets({"loss": loss, "episode_return": episode_return}, params)
    assert found == [
        {"run": 1, "first_iteration": 3, "metrics": ["loss"]},
        {"run": 2, "first_iteration": None, "metrics": ["params"]},
    ]


# ---------------------------------------------------------------- Ctrl-C and kills


def start_long_run(out: Path, *extra) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pgjax", "train", "--total-timesteps", "100000000", "--set", "num_envs=4",
         "num_steps=16", "hidden_sizes=8", "--seeds", "2", "--eval-episodes", "4", "--no-progress",
         "--out", str(out), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for_rows(path: Path, count: int, process: subprocess.Popen, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if path.is_file() and len(path.read_text().splitlines()) > count:
            return
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"{path} did not reach {count} rows in {timeout} s")


# One subprocess, for SIGINT: SIGINT and SIGTERM share every line after the handler
# (`GracefulStop._handle` sets `reason` to the signal's name; the run, its summary and its exit
# code then follow `reason in STOP_SIGNALS` alone), so a second training subprocess for SIGTERM
# ran the identical path. What differs per signal, the handler installed for SIGTERM, its name
# as the reason and that name counting as an interruption, is checked in process below
# (`test_sigterm_asks_for_the_same_graceful_stop_as_ctrl_c`).
@pytest.mark.parametrize("signum", [signal.SIGINT])
def test_ctrl_c_stops_at_an_iteration_boundary_and_keeps_the_work(tmp_path, signum):
    out = tmp_path / "run"
    process = start_long_run(out, "--checkpoint-every", "20")
    try:
        wait_for_rows(out / "metrics.csv", 2 * 30, process)  # past the first checkpoint
    except BaseException:
        process.kill()
        raise
    sent = time.monotonic()
    process.send_signal(signum)
    try:
        stdout, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    seconds = time.monotonic() - sent
    assert process.returncode == 130, stderr
    assert seconds < 30, seconds  # seconds, not the ~hours the whole compiled run would take
    assert "stopping at the next report" in stderr

    summary = json.loads((out / "summary.json").read_text())
    done = summary["iterations_done"]
    assert summary["status"] == "interrupted" and summary["stopped_by"] == signal.Signals(signum).name
    assert 30 <= done < summary["iterations"]
    assert "eval_return_mean" not in summary  # no evaluation on the way out
    metrics = rows(out / "metrics.csv")
    assert sorted((int(r["seed"]), int(r["iteration"])) for r in metrics) == [
        (seed, i) for seed in (0, 1) for i in range(1, done + 1)
    ]
    assert (out / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    # The iterations done are checkpointed, so --resume continues exactly where it stopped.
    assert summary["last_checkpoint"] == done == checkpoint.latest_step(str(out / "checkpoints"))
    assert f"status        interrupted after iteration {done}" in stdout


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_sigterm_asks_for_the_same_graceful_stop_as_ctrl_c(signum, capfd):
    """The signal-specific part of `test_ctrl_c_stops_at_an_iteration_boundary_and_keeps_the_work`,
    for both signals: while a run is active the signal is caught (the process lives on), asks
    for a stop at the next report named after the signal, and that name counts as an
    interruption (status "interrupted", exit code 130); afterwards the old handler is back."""
    before = signal.getsignal(signum)
    with GracefulStop() as stop:
        assert not stop.requested
        os.kill(os.getpid(), signum)
        time.sleep(0.1)  # the handler runs on the main thread at the next bytecode
        assert stop.requested and stop.reason == signal.Signals(signum).name
        assert stop.reason in STOP_SIGNALS
    assert signal.getsignal(signum) is before
    assert f"{signal.Signals(signum).name}: stopping at the next report" in capfd.readouterr().err


def test_sigkill_leaves_no_stale_lock(tmp_path):
    out = tmp_path / "run"
    process = start_long_run(out, "--checkpoint-every", "5")
    try:
        wait_for_rows(out / "metrics.csv", 2 * 6, process)
        # While it runs, the folder is taken.
        code, _, stderr = run_main(["train", "--resume", str(out)])
        assert code == 2 and f"in use by another pgjax process (pid {process.pid})" in one_error_line(stderr)
    finally:
        process.kill()  # also when an assertion failed: never leave a training process behind
        process.wait(timeout=60)
    with RunFolder.claim(out, resume=True):  # the kernel dropped the lock with the process
        pass


def test_a_callback_returning_true_stops_train_and_sweep():
    config = ppo.Config.for_env("CartPole-v1", num_envs=4, num_steps=32, total_timesteps=4 * 32 * 6, hidden_sizes=(8,))
    calls = []

    def stop_at_two(metrics):
        calls.append(1)
        return len(calls) == 2

    state, metrics = jax.jit(lambda key: ppo.train(config, key, stop_at_two))(jax.random.key(0))
    assert int(state.iteration) == 2 and len(calls) == 2  # the skipped iterations report nothing
    np.testing.assert_array_equal(metrics["env_steps"], [128, 256, 0, 0, 0, 0])
    calls.clear()
    result = sweep(ppo, config, {"clip_eps": [0.1, 0.2]}, 2, jax.random.key(0), callback=stop_at_two)
    assert result.metrics["env_steps"].shape == (2, 4) and list(np.asarray(result.states.iteration)) == [2] * 4


def test_reports_in_blocks_see_every_iteration_and_change_no_number():
    def update(config, state):
        """A toy iteration whose numbers depend on the key it threads, as training's do."""
        key, step_key = jax.random.split(state["key"])
        iteration = state["iteration"] + 1
        value = state["value"] + jax.random.normal(step_key)
        return {"key": key, "value": value, "iteration": iteration}, {"env_steps": 128 * iteration, "value": value}

    start = {"key": jax.random.key(5), "value": jnp.zeros(()), "iteration": jnp.zeros((), jnp.int32)}
    run = lambda callback, k: jax.jit(  # noqa: E731
        lambda state: scan.run_updates(update, None, state, 6, callback, report_every=k))(start)
    _, every = run(lambda m: None, 1)
    seen = []

    def stop_at_two(metrics):
        seen.append(int(metrics["env_steps"]))
        return len(seen) == 2

    # Blocks of 3: the stop asked at iteration 2 takes effect at the block's end, iteration 3,
    # which was reported like every other; the numbers are those of per-iteration reports.
    state, blocked = run(stop_at_two, 3)
    assert seen == [128, 256, 384] and int(state["iteration"]) == 3
    jax.tree.map(np.testing.assert_array_equal, {k: v[:3] for k, v in blocked.items()}, {k: v[:3] for k, v in every.items()})
    np.testing.assert_array_equal(blocked["env_steps"][3:], 0)


def test_block_length_is_the_largest_divisor_within_report_every():
    assert [scan.block_length(976, k) for k in (1, 8, 16, 32, 60)] == [1, 8, 16, 16, 16]
    assert scan.block_length(61, 32) == 1 and scan.block_length(4, 32) == 4
    with pytest.raises(ValueError, match="report_every: must be a positive integer, got 0"):
        scan.block_length(10, 0)


def test_progress_writes_every_queued_row_on_close_and_reraises_a_sink_error():
    config = ppo.Config.for_env("CartPole-v1", num_envs=4, num_steps=32, total_timesteps=4 * 32 * 6)
    logged = []

    class Logger:
        def log_block(self, iterations, block):
            if 4 in iterations:
                raise OSError("disk full")
            logged.extend(iterations)

    stop = types.SimpleNamespace(requested=False, reason=None)
    progress = Progress(Logger(), config, 2, enabled=False, stop=stop)
    progress.start()
    for i in range(1, 7):
        progress({"env_steps": np.full(2, 128 * i), "episode_return": np.ones(2)})
    with pytest.raises(OSError, match="disk full"):
        progress.close()
    assert logged == [1, 2, 3] and stop.requested and "disk full" in stop.reason


def test_progress_takes_a_block_as_it_takes_its_iterations_one_by_one(tmp_path):
    """`report_block` (the commands' path) writes the same metrics.csv as one call per
    iteration, and stops once every run has gone NaN, at the end of that block."""
    config = ppo.Config.for_env("CartPole-v1", num_envs=4, num_steps=32, total_timesteps=4 * 32 * 8)
    rng = np.random.default_rng(0)
    loss = rng.normal(size=(8, 2)).astype(np.float32)
    # One NaN each, in the middle of a block: run 0 at iteration 3 (block 1), run 1 at 6 (block 2).
    loss[2, 0] = loss[5, 1] = np.nan
    returns = rng.normal(size=(8, 2)).astype(np.float32)
    returns[:2] = np.nan  # no episode finished yet: not a divergence
    metrics = {"env_steps": np.repeat(128 * np.arange(1, 9), 2).reshape(8, 2).astype(np.int32),
               "episode_return": returns, "loss": loss, "learning_rate": np.full(8, 2.5e-4, np.float32)}
    answers = {}
    for how in ("iterations", "blocks"):
        stop = types.SimpleNamespace(requested=False, reason=None)
        (tmp_path / how).mkdir()
        with MetricsLogger([make_sink("csv", tmp_path / how)], [0, 1]) as logger:
            progress = Progress(logger, config, 2, enabled=False, stop=stop)
            progress.start()
            if how == "iterations":
                answers[how] = [progress({name: v[i] for name, v in metrics.items()}) for i in range(8)]
            else:
                answers[how] = [progress.report_block({name: v[i:i + 4] for name, v in metrics.items()}) for i in (0, 4)]
            progress.close()
        assert stop.reason == "all seeds went NaN"
    assert answers == {"iterations": [False] * 5 + [True] * 3, "blocks": [False, True]}
    assert (tmp_path / "iterations" / "metrics.csv").read_text() == (tmp_path / "blocks" / "metrics.csv").read_text()
    assert len((tmp_path / "blocks" / "metrics.csv").read_text().splitlines()) == 1 + 8 * 2


def test_library_callback_stop_then_resume_equals_straight(tmp_path):
    # 4 iterations in one chunk of 4: the stop after 3 is inside the chunk, and the straight run
    # compiles one chunk program (6 iterations, chunks of 4 and 2, compiled two).
    config = ppo.Config.for_env("CartPole-v1", num_envs=4, num_steps=32, total_timesteps=4 * 32 * 4, hidden_sizes=(8,))
    key = jax.random.key(11)
    straight_state, straight = train_with_checkpoints(ppo, config, key, str(tmp_path / "a"), 4)
    seen = []

    def stop_after_three(metrics):
        seen.append(int(metrics["env_steps"]))
        return len(seen) == 3

    state, metrics = train_with_checkpoints(ppo, config, key, str(tmp_path / "b"), 4, callback=stop_after_three)
    assert int(state.iteration) == 3 and len(metrics["env_steps"]) == 3
    assert checkpoint.latest_step(str(tmp_path / "b")) == 3
    state, metrics = train_with_checkpoints(ppo, config, key, str(tmp_path / "b"), 4, resume=True)
    jax.tree.map(np.testing.assert_array_equal, metrics, straight)
    jax.tree.map(np.testing.assert_array_equal, state.params, straight_state.params)


# ---------------------------------------------------------------- existing folders and locks


def test_an_existing_run_folder_is_refused_and_left_alone(checkpointed):
    before = {name: (checkpointed / name).read_bytes() for name in ("metrics.csv", "config.json", "run.json")}
    code, _, stderr = run_main(["train", *TINY, "--no-progress", "--out", str(checkpointed)])
    assert code == 2
    line = one_error_line(stderr)
    assert "already holds a run" in line and "--resume" in line and "--overwrite" in line
    assert {name: (checkpointed / name).read_bytes() for name in before} == before


def test_overwrite_replaces_a_run(checkpointed, tmp_path):
    out = copy_run(checkpointed, tmp_path / "run")
    code, _, stderr = run_main(["train", *TINY, "--no-progress", "--eval-episodes", "0", "--overwrite", "--out", str(out)])
    assert code == 0, stderr
    assert not (out / "checkpoints").exists()  # the old run's checkpoints are gone with it
    assert json.loads((out / "run.json").read_text())["checkpoint_every"] is None
    assert len(rows(out / "metrics.csv")) == ITERATIONS  # one seed now


def test_overwrite_will_not_delete_a_folder_that_holds_no_run(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    code, _, stderr = run_main(["train", *TINY, "--no-progress", "--overwrite", "--out", str(tmp_path)])
    assert code == 2 and "holds no pgjax run" in one_error_line(stderr)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_second_process_is_kept_out(tmp_path):
    out = tmp_path / "run"
    with RunFolder.claim(out):
        for args in (["train", *TINY, "--out", str(out)], ["sweep", *TINY, "--grid", "clip_eps=0.1", "--out", str(out)]):
            code, _, stderr = run_main(args)
            assert code == 2 and "in use by another pgjax process" in one_error_line(stderr)
    assert os.listdir(out) == ["run.lock"]


def test_sweep_refuses_an_existing_folder(checkpointed):
    code, _, stderr = run_main(["sweep", *TINY, "--grid", "clip_eps=0.1", "--out", str(checkpointed)])
    assert code == 2 and "already holds a run" in one_error_line(stderr)


# ---------------------------------------------------------------- one-line errors


def test_set_env_is_rejected():
    code, _, stderr = run_main(["train", "ppo", "CartPole-v1", "--set", "env=Pendulum-v1"])
    assert code == 2 and "--set env: give the environment as the ENV argument" in one_error_line(stderr)


@pytest.mark.parametrize(
    "args, mentions",
    [
        (["train", "ppo", "CartPol-v1"], "unknown environment 'CartPol-v1'; did you mean CartPole-v1 or CartPole-positions-v1?"),
        (["train", "CartPol-v1"], "unknown environment 'CartPol-v1'; did you mean CartPole-v1 or CartPole-positions-v1?"),
        (["train", "pp0"], "unknown algorithm 'pp0'; did you mean ppo?"),
        (["sweep", "trp", "--grid", "max_kl=0.01"], "unknown algorithm 'trp'; did you mean trpo?"),
        (["train", "--set", "learnig_rate=1e-3"], "learnig_rate: unknown field(s) of pgjax.algorithms.ppo.Config (did you mean learning_rate for learnig_rate?)"),
        (["train", "--out", "/proc/pgjax-run"], "--out /proc/pgjax-run: cannot create the run folder"),
    ],
)
def test_mistakes_get_one_line_and_a_suggestion(args, mentions):
    code, _, stderr = run_main(args)
    assert code == 2 and mentions in one_error_line(stderr)


@pytest.mark.parametrize("text", ["{not json", '{"algorithm": "ppo"}', "[1, 2]"])
def test_a_malformed_run_json_is_one_line(checkpointed, tmp_path, text):
    out = copy_run(checkpointed, tmp_path / "run")
    (out / "run.json").write_text(text)
    code, _, stderr = run_main(["train", "--resume", str(out)])
    assert code == 2 and "is not a valid run.json" in one_error_line(stderr)


def test_wandb_without_a_login_is_one_line(tmp_path):
    pytest.importorskip("wandb")
    # A fresh process: wandb keeps settings (an offline mode, a key) across runs in one process.
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(HOME=str(tmp_path), WANDB_CONFIG_DIR=str(tmp_path / "wandb-config"))  # no stored key
    result = subprocess.run(
        [sys.executable, "-m", "pgjax", "train", *TINY, "--log", "wandb", "--out", str(tmp_path / "run")],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2 and one_error_line(result.stderr).startswith("error: --log wandb: "), result.stderr
    assert os.listdir(tmp_path / "run") == ["run.lock"]  # nothing trained, nothing left to refuse a retry


# ---------------------------------------------------------------- library edges


def test_clip_eps_must_be_positive():
    ones = jnp.ones(3)
    for clip_eps in (0.0, -0.2):
        with pytest.raises(ValueError, match="clip_eps: must be > 0"):
            pgjax.clipped_surrogate_loss(ones, ones, ones, clip_eps)


def test_a_numeric_field_must_be_a_number():
    for value in (None, [1e-3, 3e-4]):
        with pytest.raises(ValueError, match="learning_rate: must be a number or an array of numbers"):
            ppo.Config(learning_rate=value)


def test_evaluate_needs_at_least_one_episode():
    config = ppo.Config()
    state = jax.eval_shape(ppo.init, config, jax.random.key(0))
    for num_episodes in (0, -1, 2.5):
        with pytest.raises(ValueError, match="num_episodes: must be a positive integer"):
            ppo.evaluate(config, state, jax.random.key(1), num_episodes)


def test_returns_need_at_least_one_time_step():
    empty = jnp.zeros((0, 2))
    with pytest.raises(ValueError, match="rewards: must have at least one time step"):
        pgjax.gae(empty, empty, empty, empty, empty, 0.99, 0.95)
    with pytest.raises(ValueError, match="rewards: must have at least one time step"):
        pgjax.discounted_returns(empty, empty, empty, 0.99)
