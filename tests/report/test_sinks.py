"""Metric sinks write back exactly what they were fed."""

import csv
import glob
import json
import math
import struct
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from pgjax.report.sinks import CSVSink, JSONLSink, MetricsLogger, TensorBoardSink, WandbSink, make_sink, metrics_to_rows

SEEDS = [5, 7]
BATCH = 64


def fed_metrics(num_iterations: int, start: int = 1):
    """Per-iteration metrics as the training callback delivers them: NumPy leaves `[S]`."""
    rng = np.random.default_rng(start)
    iterations = []
    for iteration in range(start, start + num_iterations):
        returns = rng.normal(20, 5, len(SEEDS)).astype(np.float32)
        if iteration == start:
            returns[1] = np.nan  # no episode finished yet for one seed
        iterations.append((iteration, {
            "env_steps": np.full(len(SEEDS), iteration * BATCH, np.int32),
            "episode_return": returns,
            "loss": rng.normal(size=len(SEEDS)).astype(np.float32),
            "learning_rate": np.float32(2.5e-4),  # unbatched: broadcast to every seed
        }))
    return iterations


def expected_rows(iterations):
    """The rows a reader should find, built with a plain loop independent of `metrics_to_rows`."""
    rows = []
    for iteration, metrics in iterations:
        for i, seed in enumerate(SEEDS):
            rows.append({
                "seed": seed, "iteration": iteration, "env_steps": iteration * BATCH,
                "episode_return": float(metrics["episode_return"][i]),
                "loss": float(metrics["loss"][i]),
                "learning_rate": float(np.float32(2.5e-4)),
            })
    return rows


def feed(logger, iterations, as_block: bool):
    """Log `iterations` one by one, or all in one `log_block` call (as a command's host does
    with a block of iterations)."""
    if not as_block:
        for iteration, metrics in iterations:
            logger.log(iteration, metrics)
        return
    block = {name: np.stack([np.broadcast_to(m[name], np.shape(iterations[0][1][name])) for _, m in iterations])
             for name in iterations[0][1]}
    logger.log_block([iteration for iteration, _ in iterations], block)


ONE_BY_ONE_OR_BLOCK = pytest.mark.parametrize("as_block", [False, True], ids=["per-iteration", "block"])


def same(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == b


def read_csv(path):
    with open(path, newline="") as file:
        reader = csv.DictReader(file)
        return reader.fieldnames, list(reader)


def assert_csv_matches(path, rows):
    columns, read = read_csv(path)
    assert columns == ["seed", "iteration", "env_steps", "episode_return", "loss", "learning_rate"]
    assert len(read) == len(rows)
    for got, want in zip(read, rows):
        for key in ("seed", "iteration", "env_steps"):
            assert int(got[key]) == want[key]
        for key in ("episode_return", "loss", "learning_rate"):
            assert same(float(got[key]), want[key]), (key, got[key], want[key])  # exact float round trip


@ONE_BY_ONE_OR_BLOCK
def test_csv_and_jsonl_read_back_what_was_fed(tmp_path, as_block):
    iterations = fed_metrics(3)
    with MetricsLogger([make_sink("csv", tmp_path), make_sink("jsonl", tmp_path)], SEEDS) as logger:
        feed(logger, iterations, as_block)
    rows = expected_rows(iterations)
    assert_csv_matches(tmp_path / "metrics.csv", rows)

    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == len(rows)
    for line, want in zip(lines, rows):
        got = json.loads(line)  # strict JSON: NaN must have become null
        assert set(got) == set(want)
        assert all(type(got[key]) is int for key in ("seed", "iteration", "env_steps"))
        for key, value in want.items():
            assert (got[key] is None) if math.isnan(value) else got[key] == value


def test_appending_continues_the_file_with_its_header(tmp_path):
    first, later = fed_metrics(2), fed_metrics(2, start=3)
    with MetricsLogger([CSVSink(tmp_path / "m.csv"), JSONLSink(tmp_path / "m.jsonl")], SEEDS) as logger:
        for iteration, metrics in first:
            logger.log(iteration, metrics)
    # A resumed run may deliver its metrics in another key order: the file's columns win.
    reordered = [(i, dict(reversed(list(m.items())))) for i, m in later]
    sinks = [CSVSink(tmp_path / "m.csv", append=True), JSONLSink(tmp_path / "m.jsonl", append=True)]
    with MetricsLogger(sinks, SEEDS) as logger:
        for iteration, metrics in reordered:
            logger.log(iteration, metrics)
    assert_csv_matches(tmp_path / "m.csv", expected_rows(first + later))
    assert len((tmp_path / "m.jsonl").read_text().splitlines()) == 4 * len(SEEDS)


def test_csv_rejects_a_metric_missing_from_its_header(tmp_path):
    (iteration, metrics), = fed_metrics(1)
    with MetricsLogger([CSVSink(tmp_path / "m.csv")], SEEDS) as logger:
        logger.log(iteration, metrics)
        with pytest.raises(ValueError):
            logger.log(iteration + 1, {**metrics, "surprise": np.zeros(len(SEEDS))})


def test_rows_need_one_value_per_seed():
    with pytest.raises(ValueError):
        metrics_to_rows(1, SEEDS, {"env_steps": np.zeros(3), "loss": np.zeros(3)})


def test_unknown_sink_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="unknown sink"):
        make_sink("parquet", tmp_path)


@pytest.mark.parametrize("sink, package", [("tensorboard", "tensorboardX"), ("wandb", "wandb")])
def test_missing_optional_package_names_the_extra(tmp_path, monkeypatch, sink, package):
    monkeypatch.setitem(sys.modules, package, None)  # makes `import package` fail
    with pytest.raises(ImportError, match=rf"pip install 'pgjax\[{sink}\]'"):
        make_sink(sink, tmp_path)


def read_tensorboard_scalars(logdir: Path) -> dict[tuple[str, int], float]:
    """Scalars of every event file under `logdir`, parsed from the TFRecord framing by hand:
    [uint64 length][uint32 crc][event bytes][uint32 crc]."""
    from tensorboardX.proto import event_pb2

    scalars = {}
    for path in sorted(logdir.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset:offset + 8])
            event = event_pb2.Event.FromString(data[offset + 12:offset + 12 + length])
            offset += 12 + length + 4
            for value in event.summary.value:
                scalars[value.tag, event.step] = value.simple_value
    return scalars


@ONE_BY_ONE_OR_BLOCK
def test_tensorboard_writes_one_folder_per_seed(tmp_path, as_block):
    import tensorboardX  # noqa: F401  (installed by the dev extra; fail loudly if missing)
    iterations = fed_metrics(3)
    with MetricsLogger([TensorBoardSink(tmp_path)], SEEDS) as logger:
        feed(logger, iterations, as_block)
    for i, seed in enumerate(SEEDS):
        scalars = read_tensorboard_scalars(tmp_path / f"seed_{seed}")
        want = {}
        for row in expected_rows(iterations):
            if row["seed"] == seed:
                for key in ("episode_return", "loss", "learning_rate"):
                    want[key, row["env_steps"]] = np.float32(row[key])  # TensorBoard stores float32
        assert set(scalars) == set(want)
        for key, value in want.items():
            assert same(float(scalars[key]), float(value)), key


class FakeRun:
    def __init__(self, **init_kwargs):
        self.init_kwargs, self.logged, self.finished = init_kwargs, [], False

    def log(self, data, step):
        self.logged.append((step, data))

    def finish(self):
        self.finished = True


@ONE_BY_ONE_OR_BLOCK
def test_wandb_logs_each_seed_and_the_mean_at_env_steps(tmp_path, monkeypatch, as_block):
    fake = types.ModuleType("wandb")
    fake.init = lambda **kwargs: FakeRun(**kwargs)
    monkeypatch.setitem(sys.modules, "wandb", fake)
    iterations = fed_metrics(2)
    sink = WandbSink(tmp_path, name="run-a", config={"gamma": 0.99}, mode="offline")
    with MetricsLogger([sink], SEEDS) as logger:
        feed(logger, iterations, as_block)  # a block is still one `log` per iteration
    run = sink.run
    assert run.finished
    assert run.init_kwargs["mode"] == "offline" and run.init_kwargs["config"] == {"gamma": 0.99}
    assert [step for step, _ in run.logged] == [BATCH, 2 * BATCH]
    for (step, data), (_, metrics) in zip(run.logged, iterations):
        for key in ("episode_return", "loss"):
            values = [float(v) for v in metrics[key]]
            for seed, value in zip(SEEDS, values):
                assert same(data[f"{key}/seed_{seed}"], value)
            finite = [v for v in values if not math.isnan(v)]
            assert data[f"{key}/mean"] == pytest.approx(sum(finite) / len(finite))


def test_wandb_offline_run_works_without_network(tmp_path, monkeypatch):
    import wandb  # noqa: F401  (installed by the dev extra; fail loudly if missing)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    iterations = fed_metrics(2)
    with MetricsLogger([make_sink("wandb", tmp_path, config={"gamma": 0.99})], SEEDS) as logger:
        for iteration, metrics in iterations:
            logger.log(iteration, metrics)
    run_files = glob.glob(str(tmp_path / "wandb" / "offline-run-*" / "run-*.wandb"))
    assert len(run_files) == 1 and Path(run_files[0]).stat().st_size > 0
