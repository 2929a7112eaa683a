"""The bookkeeping of `python -m benchmarks.peers` (the measurement itself is a benchmark, not a test):
which runs the libraries that train seeds one after another make, and how rows come of them."""

import pytest

from benchmarks import peers

SETTINGS = {"1 seed": (4, 1, 1024), "8 seeds": (4, 8, 1024), "1024 envs": (1024, 1, 262144)}


def run(seconds, steps=1000, final=1.0):
    return {"compile_s": 0.5, "wall_s": seconds + 1, "timed_s": seconds, "timed_steps": steps, "env_steps": steps,
            "final_return": final}


@pytest.mark.parametrize("cap, runs_at_4_envs", [(8, 8), (3, 3)])
def test_one_and_eight_seeds_share_the_sequential_runs_up_to_the_cap(cap, runs_at_4_envs):
    plan = peers._sequential_plan(SETTINGS, quick=False, cap=cap)
    assert plan == [(4, 1024, runs_at_4_envs, [("1 seed", 1), ("8 seeds", 8)]),
                    (1024, 262144, min(peers.REPEATS, cap), [("1024 envs", 1)])]


def test_rows_of_runs_in_a_row_say_how_many_of_the_seeds_ran():
    runs = [run(2.0, final=10), run(4.0, final=20), run(3.0, final=30)]  # 3 of the 8 seeds
    rows = peers._sequential_rows(runs, [("1 seed", 1), ("8 seeds", 8)])
    one, eight = rows["1 seed"], rows["8 seeds"]
    assert one["timing"].median == 3.0 and one["returns"] == [10] and one["wanted"] == 1  # a median over runs
    # Runs in a row: their steps over their summed time, and the count that really ran.
    assert eight["timing"].samples == (9.0,) and eight["timed_steps"] == 3000 and eight["env_steps"] == 3000
    assert (eight["sequential"], eight["wanted"], eight["returns"]) == (3, 8, [10, 20, 30])


def test_a_failed_install_is_reported_by_its_error_line():
    log = "Collecting rejax\nERROR: No matching distribution found for rejax==9.9\nWARNING: Location x\n"
    assert peers._reason(log) == "ERROR: No matching distribution found for rejax==9.9"
    assert len(peers._reason("x" * 500)) == 198


def test_the_preset_is_checked_field_by_field_against_the_classic_settings():
    assert "equals the classic settings in every field" in peers.preset_check()
    assert "hidden_sizes=(64, 64)" in peers.preset_check()
