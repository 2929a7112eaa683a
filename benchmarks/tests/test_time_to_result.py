"""The bookkeeping of `python -m benchmarks.time_to_result` (the timing itself is a benchmark):
when a seed counts as solved, when 95 % of them have, and how a sweep run one seed after
another is projected from a few measured runs."""

import numpy as np

from benchmarks import time_to_result as ttr


def test_a_seed_solves_at_its_first_point_at_the_threshold():
    curves = np.array([[10.0, 480.0, 300.0, 500.0], [np.nan, 474.9, 475.0, 1.0], [1.0, 2.0, 3.0, 4.0]])
    seconds = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(ttr.solve_times(curves, seconds), [2.0, 3.0, np.inf])


def test_one_program_spreads_its_run_evenly_over_iterations_after_the_compile():
    row = ttr.one_program(compile_s=5.0, run_s=10.0, curves=np.array([[0.0, 0.0, 0.0, 500.0], [500.0] * 4]))
    assert row["solve_s"] == [15.0, 7.5] and row["wall_s"] == 15.0


def test_time_to_95_percent_is_the_61st_of_64_solve_times():
    solve = list(np.arange(64.0, 0.0, -1.0))  # seed k solves at 64 - k
    assert ttr.needed(64) == 61 and ttr.needed(20) == 19
    assert ttr.time_to_fraction(solve, 64) == 61.0
    assert ttr.time_to_fraction(solve[:60] + [np.inf] * 4, 64) == np.inf  # only 60 ever solve


def test_a_sequential_sweep_is_projected_from_the_measured_runs_in_turn():
    runs = [{"wall_s": 10.0, "solve_s": 4.0}, {"wall_s": 14.0, "solve_s": None}]
    row = ttr.sequential(runs, num_seeds=4)
    # Each run starts after the ones before it (12 s each, the measured mean) and solves as
    # measured run (k mod 2) did: run 2 and run 4 never.
    assert row["solve_s"] == [4.0, np.inf, 28.0, np.inf]
    assert row["wall_s"] == 48.0 and (row["measured"], row["measured_solved"]) == (2, 1)
