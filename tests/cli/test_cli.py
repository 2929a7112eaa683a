"""The `pgjax` command, end to end, on tiny runs."""

import contextlib
import csv
import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import pgjax
from pgjax.cli import main
from pgjax.algorithms.config_io import parse_value
from pgjax.cli.arguments import resolve_algorithm_and_env

TINY = ["--total-timesteps", "2048", "--set", "num_envs=4", "num_steps=64"]
ITERATIONS = 2048 // (4 * 64)


def read_csv(path):
    with open(path, newline="") as file:
        reader = csv.DictReader(file)
        return reader.fieldnames, list(reader)


RUN = ["train", "ppo", "CartPole-v1", *TINY, "--seeds", "2", "--seed", "3", "--log", "csv,jsonl", "--eval-episodes", "2"]


def run_main(args):
    """`main(args)` with its stdout and stderr captured: `(code, stdout, stderr)`."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(args)
    return code, stdout.getvalue(), stderr.getvalue()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One 2-seed run with every always-available output, its progress bar on."""
    out = tmp_path_factory.mktemp("cli") / "run"
    code, stdout, stderr = run_main([*RUN, "--out", str(out)])
    return code, out, stdout, stderr


def test_train_writes_metrics_per_seed_and_iteration(run):
    code, out, _, _ = run
    assert code == 0
    columns, rows = read_csv(out / "metrics.csv")
    assert columns[:3] == ["seed", "iteration", "env_steps"]
    assert {"episode_return", "episode_count", "loss", "entropy"} <= set(columns)
    assert len(rows) == 2 * ITERATIONS
    assert sorted((int(r["seed"]), int(r["iteration"])) for r in rows) == [
        (seed, i) for seed in (3, 4) for i in range(1, ITERATIONS + 1)
    ]
    for row in rows:
        assert int(row["env_steps"]) == int(row["iteration"]) * 4 * 64

    jsonl = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(jsonl) == len(rows)
    for record, row in zip(jsonl, rows):
        assert set(record) == set(columns)
        assert record["seed"] == int(row["seed"]) and record["loss"] == pytest.approx(float(row["loss"]))


def test_train_writes_config_summary_and_plot(run):
    code, out, stdout, _ = run
    assert code == 0
    config = json.loads((out / "config.json").read_text())
    assert config["algorithm"] == "ppo" and config["env"] == "CartPole-v1"
    assert (config["num_envs"], config["num_steps"], config["total_timesteps"]) == (4, 64, 2048)
    assert config["hidden_sizes"] == list(pgjax.ppo.Config().network.hidden_sizes)

    summary = json.loads((out / "summary.json").read_text())
    _, rows = read_csv(out / "metrics.csv")
    last = [float(r["episode_return"]) for r in rows if int(r["iteration"]) == ITERATIONS]
    assert summary["seeds"] == [3, 4] and summary["iterations"] == ITERATIONS
    assert summary["final_return_mean"] == pytest.approx(np.mean(last), rel=1e-6)
    assert summary["final_return_std"] == pytest.approx(np.std(last), rel=1e-6, abs=1e-6)
    assert len(summary["eval_return_per_seed"]) == 2 and summary["eval_episodes_per_seed"] == 2
    # A CartPole episode returns 1 per step, at least 1 and at most 500.
    assert all(1 <= r <= 500 for r in summary["eval_return_per_seed"])
    assert summary["compile_seconds"] > 0 and summary["env_steps_per_second"] > 0

    assert (out / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for text in ("ppo", "CartPole-v1", "compile", "env steps/s", str(out)):
        assert text in stdout


def test_progress_bar_reports_rate_and_return(run):
    _, _, _, stderr = run
    assert "env-steps/s=" in stderr and "return=" in stderr
    assert f"{ITERATIONS * 256}/{ITERATIONS * 256}" in stderr  # it reached the end


def test_seeds_are_reproducible_one_at_a_time(run, tmp_path):
    """`--seeds 1 --seed 4` through the `python -m pgjax` entry point reruns seed 4 of the batch:
    the same keys, but another float program (one run instead of a batch of two under vmap),
    so the two agree to rounding at first and only statistically later (docs/guides/reproducibility.md)."""
    _, batch_out, _, _ = run
    out = tmp_path / "single"
    result = subprocess.run(
        [sys.executable, "-m", "pgjax", "train", *TINY, "--seed", "4", "--out", str(out),
         "--eval-episodes", "0", "--no-progress"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "CartPole-v1" in result.stdout
    _, single = read_csv(out / "metrics.csv")
    _, batch = read_csv(batch_out / "metrics.csv")
    seed4 = [r for r in batch if r["seed"] == "4"]
    assert len(single) == len(seed4) == ITERATIONS
    assert [a["env_steps"] for a in single] == [b["env_steps"] for b in seed4]
    for name in ("episode_return", "loss", "entropy"):
        assert float(single[0][name]) == pytest.approx(float(seed4[0][name]), rel=1e-3), name


def test_script_entry_point_reports_errors_in_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "pgjax.cli", "train", "no-such-algorithm", "CartPole-v1"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: unknown algorithm 'no-such-algorithm'")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args, mentions",
    [
        (["train", "no-such-algorithm"], "unknown algorithm"),
        (["train", "ppo", "NoSuchEnv-v0"], "unknown environment"),
        (["train", "--set", "num_envs=four"], "num_envs"),
        (["train", "--set", "num_envs=2.5"], "num_envs"),
        (["train", "--set", "learning_rate=fast"], "learning_rate"),
        (["train", "--set", "anneal_lr=maybe"], "anneal_lr"),
        (["train", "--set", "hidden_sizes=64,wide"], "hidden_sizes"),
        (["train", "--set", "no_such_field=1"], "no_such_field"),
        (["train", "--set", "num_envs"], "field=value"),
        (["train", "--set", "num_envs=0"], "num_envs: must be a positive integer"),
        (["train", "--set", "gamma=1.5"], "gamma"),
        (["train", "--set", "activation=sigmoid"], "activation"),
        (["train", "--set", "env_params=no_such_param:3"], "env_params"),
        (["train", "--set", "num_envs=4", "num_steps=64", "num_minibatches=3"], "num_minibatches"),
        (["train", "--total-timesteps", "10"], "total_timesteps"),
        (["train", "--total-timesteps", "many"], "--total-timesteps"),
        (["train", "--seeds", "0"], "--seeds"),
        (["train", "--seed", "-1"], "--seed"),
        (["train", "--eval-episodes", "-1"], "--eval-episodes"),
        (["train", "--log", "csv,parquet"], "parquet"),
        (["train", "--no-such-flag"], "--no-such-flag"),
        (["train", "--checkpoint-every", "0"], "--checkpoint-every: must be a positive integer"),
        (["train", "--devices", "0"], "--devices: must be a positive integer"),
        (["train", "--resume", "no-such-run"], "--resume: continues with the run's saved settings; do not also give --out"),
        (["sweep", "--grid", "num_envs=4,8"], "--grid num_envs: is structural"),
        (["sweep", "--grid", "hidden_sizes=16,32"], "hidden_sizes: is structural"),
        (["train", "--distributed", "--devices", "2"], "--devices: cannot be combined with --distributed"),
        (["sweep", "--grid", "clip_eps=0.1", "--distributed", "--devices", "1"], "--devices: cannot be combined"),
        (["train", "--coordinator", "host:1234"], "--coordinator: only with --distributed"),
        (["train", "--coordinator-timeout", "5"], "--coordinator-timeout: only with --distributed"),
        (["train", "--distributed", "--coordinator", "host:1234"],
         "give all of --coordinator, --num-processes and --process-id, or none"),
        (["train", "--distributed", "--coordinator", "host", "--num-processes", "2", "--process-id", "0"],
         "--coordinator: expected HOST:PORT"),
        (["train", "--distributed", "--coordinator", "h:1", "--num-processes", "2", "--process-id", "2"],
         "--process-id: must be between 0 and --num-processes - 1 = 1"),
        (["train", "--distributed", "--coordinator", "h:1", "--num-processes", "0", "--process-id", "0"],
         "--num-processes: must be a positive integer"),
        (["train", "--distributed", "--coordinator", "h:1", "--num-processes", "2", "--process-id", "0",
          "--coordinator-timeout", "0"], "--coordinator-timeout: must be a positive number"),
        (["sweep", "--grid", "learning_rate=1e-3,-1"], "learning_rate: must be > 0"),
        (["sweep", "--grid", "clip_eps=0.1,wide"], "clip_eps: 'wide' is not a number"),
        (["sweep", "--grid", "no_such_field=1"], "no_such_field: unknown field"),
        (["sweep", "--grid", "clip_eps=0.1", "--seeds", "0"], "--seeds: must be a positive integer"),
        (["sweep"], "--grid"),
        (["fly"], "fly"),
        ([], "command"),
    ],
)
def test_bad_arguments_end_with_one_error_line(args, mentions, capsys, tmp_path):
    out = tmp_path / "run"
    code = main([*args, "--out", str(out)] if args[:1] in (["train"], ["sweep"]) else args)
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert mentions in lines[0]
    assert "Traceback" not in captured.err and captured.out == ""
    assert not out.exists()  # rejected before any work


def test_missing_extra_is_a_usage_error(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    code = main(["train", "--log", "tensorboard", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "pip install 'pgjax[tensorboard]'" in err
    assert not (tmp_path / "run").exists()


def test_help_exits_zero(capsys):
    assert main(["--help"]) == 0
    assert "train" in capsys.readouterr().out


def test_list_names_algorithms_environments_and_presets(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "ppo" in out and "CartPole-v1" in out and "Breakout-MinAtar" in out
    for name, module in pgjax.ALGORITHMS.items():
        preset_line = next(line for line in out.splitlines()[::-1] if line.split()[:1] == [name])
        for env in module.Config.PRESETS:
            assert env in preset_line


@pytest.mark.parametrize(
    "text, default, value",
    [
        ("true", False, True),
        ("off", True, False),
        ("8", 4, 8),
        ("1e6", 4, 1_000_000),
        ("3e-4", 2.5e-4, 3e-4),
        ("1", 0.5, 1.0),
        ("128,64", (64, 64), (128, 64)),
        ("256", (64, 64), (256,)),
        ("max_steps_in_episode:200,gravity:9.5", (), (("max_steps_in_episode", 200), ("gravity", 9.5))),
        ("relu", "tanh", "relu"),
    ],
)
def test_set_values_take_the_type_of_the_default(text, default, value):
    parsed = parse_value(text, default)
    assert parsed == value and type(parsed) is type(value)


def test_a_lone_environment_name_means_the_default_algorithm():
    assert resolve_algorithm_and_env("Acrobot-v1", None) == ("ppo", "Acrobot-v1")
    assert resolve_algorithm_and_env(None, None) == ("ppo", "CartPole-v1")


def test_resume_needs_a_checkpointed_run_folder(run, capsys, tmp_path):
    _, out, _, _ = run  # trained without --checkpoint-every
    for folder, mentions in ((out, "without --checkpoint-every"), (tmp_path, "not a pgjax run folder")):
        assert main(["train", "--resume", str(folder)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and mentions in err


def test_checkpointed_run_interrupted_and_resumed_equals_straight(run, tmp_path):
    """`--checkpoint-every 4`, a crash after iteration 6 (checkpoint 8 never written, metrics.csv
    cut at iteration 6), then `--resume DIR`: the files and numbers of the uninterrupted run."""
    _, straight, _, _ = run
    out = tmp_path / "chunked"
    code, stdout, _ = run_main([*RUN, "--out", str(out), "--checkpoint-every", "4", "--no-progress"])
    assert code == 0 and "every 4 iterations" in stdout
    assert sorted(os.listdir(out / "checkpoints")) == ["4", "8"]

    shutil.rmtree(out / "checkpoints" / "8")
    lines = (out / "metrics.csv").read_text().splitlines(keepends=True)
    (out / "metrics.csv").write_text("".join(lines[: 1 + 2 * 6]))
    code, stdout, stderr = run_main(["train", "--resume", str(out)])
    assert code == 0, stderr
    assert "from the checkpoint after iteration 4" in stdout
    assert "env-steps/s=" in stderr  # the progress bar resumed

    columns, rows = read_csv(out / "metrics.csv")
    straight_columns, straight_rows = read_csv(straight / "metrics.csv")
    assert sorted(columns) == sorted(straight_columns)
    assert rows == straight_rows  # every value, as written, for every seed and iteration, once
    jsonl = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert jsonl == [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]

    summary = json.loads((out / "summary.json").read_text())
    expected = json.loads((straight / "summary.json").read_text())
    assert summary["resumed_from_iteration"] == 4 and summary["seeds"] == [3, 4]
    for name in ("final_return_per_seed", "eval_return_per_seed", "iterations", "env_steps_per_seed"):
        assert summary[name] == expected[name], name


def test_sweep_ranks_grid_points_and_reports_nan_runs(tmp_path):
    out = tmp_path / "sweep"
    code, stdout, stderr = run_main(
        ["sweep", "ppo", "CartPole-v1", *TINY, "--seeds", "2", "--grid", "learning_rate=1e-3,1e30", "--out", str(out)]
    )
    assert code == 0, stderr
    assert "env-steps/s=" in stderr and "return=" in stderr  # live progress from inside the program
    # The diverging grid point is named, per seed, and ranked last without spoiling the other.
    for seed in (0, 1):
        assert f"NaN: run {2 + seed} (learning_rate=1e+30, seed {seed})" in stdout
    table = (out / "results.md").read_text()
    assert table in stdout
    assert table.splitlines()[2].startswith("| 1 | 0.001 |") and table.splitlines()[3].startswith("| 2 | 1e+30 |")

    _, runs = read_csv(out / "runs.csv")
    assert [(r["learning_rate"], r["seed"]) for r in runs] == [("0.001", "0"), ("0.001", "1"), ("1e+30", "0"), ("1e+30", "1")]

    # Every run NaN: the sweep fails as `pgjax train` does (1), not as a Ctrl-C (130).
    code, stdout, stderr = run_main(["sweep", "ppo", "CartPole-v1", *TINY, "--seeds", "2", "--grid",
                                     "learning_rate=1e30", "--out", str(tmp_path / "all-nan")])
    assert code == 1, stderr
    assert "NaN: run 1 (learning_rate=1e+30, seed 1) went NaN" in stdout
    finals = np.array([float(r["final_episode_return"]) for r in runs[:2]])
    assert [float(r["final_learning_rate"]) for r in runs[:2]] == pytest.approx([1e-3 / 8] * 2)  # annealed: 1 - 7/8
    _, results = read_csv(out / "results.csv")
    best, diverged = results
    assert (best["rank"], float(best["learning_rate"]), best["num_nan"]) == ("1", 1e-3, "0")
    assert float(best["mean"]) == pytest.approx(finals.mean())
    assert float(best["std"]) == pytest.approx(abs(finals[0] - finals[1]) / np.sqrt(2))  # ddof=1 for two seeds
    assert float(best["ci_low"]) <= finals.mean() <= float(best["ci_high"])
    assert (diverged["num_nan"], diverged["mean"]) == ("2", "")
    assert (out / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    config = json.loads((out / "config.json").read_text())
    assert config["grid"] == {"learning_rate": [1e-3, 1e30]} and config["num_envs"] == 4


GRU = ["--total-timesteps", "256", "--set", "num_envs=4", "num_steps=16", "network=gru", "gru_size=8",
       "num_minibatches=2", "--no-progress"]


def test_a_recurrent_run_checkpoints_its_carry_resumes_and_sweeps(tmp_path):
    """`--set network=gru` through the whole command: a crash after iteration 2 of 4 and
    `--resume` give the rows of the uninterrupted run (the hidden state is in the checkpoint);
    a sweep over the same recurrent program ranks its grid points."""
    chunked = tmp_path / "chunked"
    base = ["train", "ppo", "CartPole-positions-v1", *GRU, "--seeds", "2", "--checkpoint-every", "2", "--eval-episodes", "2"]
    code, _, stderr = run_main([*base, "--out", str(chunked)])
    assert code == 0, stderr
    straight = read_csv(chunked / "metrics.csv")  # the uninterrupted run's rows
    # A crash after iteration 2: the last checkpoint and the rows after it are gone.
    shutil.rmtree(chunked / "checkpoints" / "4")
    lines = (chunked / "metrics.csv").read_text().splitlines(keepends=True)
    (chunked / "metrics.csv").write_text("".join(lines[: 1 + 2 * 2]))
    code, stdout, stderr = run_main(["train", "--resume", str(chunked)])
    assert code == 0 and "from the checkpoint after iteration 2" in stdout, stderr
    assert read_csv(chunked / "metrics.csv") == straight
    summary = json.loads((chunked / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert json.loads((chunked / "config.json").read_text())["network"] == "gru"

    code, stdout, stderr = run_main(
        ["sweep", "ppo", "CartPole-positions-v1", *GRU, "--seeds", "1", "--grid", "learning_rate=1e-3,3e-4",
         "--out", str(tmp_path / "sweep")]
    )
    assert code == 0, stderr
    assert len(read_csv(tmp_path / "sweep" / "results.csv")[1]) == 2


def test_importing_pgjax_and_its_command_line_starts_no_xla_backend():
    # `--distributed` (and `jax.distributed.initialize()` after `import pgjax`) must run before
    # any backend starts; importing gymnax starts one, so pgjax loads it only on first use.
    script = (
        "import pgjax, pgjax.cli, pgjax.runs.distributed\n"
        "from jax._src import xla_bridge\n"
        "assert not xla_bridge.backends_are_initialized()\n"
        "import pgjax.rollout  # the submodule must not shadow the function of its name\n"
        "assert callable(pgjax.gae) and callable(pgjax.rollout) and pgjax.ppo.Config and 'rollout' in dir(pgjax)\n"
        "import gymnax\n"
        "assert 'RepeatPrevious-v0' in gymnax.registered_envs  # the memory tasks, registered on first use\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
