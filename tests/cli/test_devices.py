"""The commands' device count (`pgjax.cli.devices`): the flag, then PGJAX_DEVICES, then (resuming)
the count the run was trained on, then the default; checked without starting a backend."""

from __future__ import annotations

import argparse
import json

import pytest

from pgjax.cli.devices import describe, requested
from pgjax.cli.errors import UsageError


def _args(devices=None, resume=None):
    return argparse.Namespace(devices=devices, resume=resume, distributed=False)


def test_the_flag_then_the_variable_then_the_trained_count_then_the_default(monkeypatch, tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"devices": 3}))
    monkeypatch.setenv("PGJAX_DEVICES", "2")
    assert requested(_args(devices=4, resume=tmp_path)) == (4, "--devices")
    assert requested(_args(resume=tmp_path)) == (2, "PGJAX_DEVICES")
    monkeypatch.delenv("PGJAX_DEVICES")
    assert requested(_args(resume=tmp_path)) == (3, "the count the run was trained on")
    assert requested(_args()) == (None, "default")
    (tmp_path / "run.json").write_text(json.dumps({"seeds": [0]}))  # trained before the count was recorded
    assert requested(_args(resume=tmp_path)) == (None, "default")
    assert requested(_args(resume=tmp_path / "missing")) == (None, "default")  # train --resume says why


@pytest.mark.parametrize("devices, variable, mentions", [
    (0, None, "--devices: must be a positive integer, got 0"),
    (None, "two", "PGJAX_DEVICES: must be a positive integer, got 'two'"),
    (None, "0", "PGJAX_DEVICES: must be a positive integer, got '0'"),
])
def test_bad_counts_are_usage_errors_naming_where_they_came_from(monkeypatch, devices, variable, mentions):
    monkeypatch.setenv("PGJAX_DEVICES", variable or "")
    with pytest.raises(UsageError, match=mentions):
        requested(_args(devices=devices))


def test_the_device_line_says_how_many_runs_each_device_holds():
    class Device:
        platform = "cpu"

    class Mesh:
        size = 2
        devices = type("Grid", (), {"flat": [Device(), Device()]})()

    assert describe(Mesh(), 3, "default") == "3 runs on 2 cpu devices, 2 each (one per core; --devices D pins the count)"
    assert describe(Mesh(), 4, "--devices") == "4 runs on 2 cpu devices, 2 each (--devices)"
    Mesh.size = 1
    assert describe(Mesh(), 1, "default") == "1 run on 1 cpu device (one per core; --devices D pins the count)"
