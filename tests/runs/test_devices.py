"""The CPU split into devices (`pgjax.runs.devices`): how many devices runs go on, and
`split_cpu`, which must act before JAX starts its backend (so its cases run in a fresh process)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from pgjax.runs.devices import devices_for_runs, usable_cores


@pytest.mark.parametrize("available", [1, 2, 3, 4, 8])
def test_runs_take_as_few_devices_as_hold_them_at_the_fewest_per_device(available):
    for runs in range(1, 20):
        chosen = devices_for_runs(runs, available)
        fewest_per_device = min(math.ceil(runs / d) for d in range(1, available + 1))
        assert 1 <= chosen <= min(runs, available)
        assert math.ceil(runs / chosen) == fewest_per_device
        assert all(math.ceil(runs / d) > fewest_per_device for d in range(1, chosen))


def test_bad_counts_name_the_field():
    with pytest.raises(ValueError, match="num_runs"):
        devices_for_runs(0, 2)
    with pytest.raises(ValueError, match="available"):
        devices_for_runs(3, 0)


_PROBE = """
import json, sys
import jax
from pgjax.runs.devices import runs_mesh, split_cpu
asked = json.loads(sys.argv[1])
count = split_cpu(asked)
out = {"count": count, "devices": len(jax.devices()),
       "meshes": {runs: runs_mesh(runs).size for runs in (1, 2, 5)}}
try:
    split_cpu(count + 1)
except RuntimeError as error:
    out["late"] = str(error)
try:
    runs_mesh(2, count + 1)
except ValueError as error:
    out["too_many"] = str(error)
print(json.dumps(out))
"""


def _probe(asked, **env_changes) -> dict:
    env = {name: value for name, value in os.environ.items() if name not in ("XLA_FLAGS", "JAX_NUM_CPU_DEVICES")}
    env.update(env_changes)
    result = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(asked)], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_split_cpu_makes_one_device_per_core_or_as_many_as_asked_or_as_xla_was_told():
    default = _probe(None)
    assert default["count"] == default["devices"] == usable_cores()
    three = _probe(3)
    assert three["count"] == three["devices"] == 3
    assert three["meshes"] == {"1": 1, "2": 2, "5": 3}  # 5 runs: 2 per device on 3 devices
    assert "already started with 3 CPU device(s)" in three["late"] and "before any computation" in three["late"]
    assert "devices: must be between 1 and the 3 visible device(s), got 4" in three["too_many"]
    forced = _probe(None, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    assert forced["count"] == forced["devices"] == 4  # the user's choice stands
