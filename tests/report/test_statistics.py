"""Robust aggregates over seeds against independent references: scipy's trimmed mean,
the bootstrap's coverage, stratification, and a direct count for performance profiles."""

import numpy as np
import pytest
from scipy import stats

from pgjax.report.statistics import iqm, performance_profile, stratified_bootstrap_ci


@pytest.mark.parametrize("shape", [(32,), (10, 3), (7, 2), (4,)])
def test_iqm_is_the_25_percent_trimmed_mean(shape):
    scores = np.random.default_rng(0).normal(size=shape) ** 3  # heavy tails
    np.testing.assert_allclose(iqm(scores), stats.trim_mean(scores.reshape(-1), 0.25), rtol=1e-12)


def test_iqm_ignores_a_few_outlying_seeds():
    scores = np.full(32, 500.0)
    scores[:3] = [0.0, 10.0, 144.0]
    assert iqm(scores) == 500.0 and scores.mean() < 480


def test_bootstrap_interval_covers_the_true_iqm_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    true_iqm = stats.trim_mean(rng.normal(size=2_000_000), 0.25)  # ≈ 0 for a standard normal
    covered = 0
    for trial in range(200):
        low, high = stratified_bootstrap_ci(rng.normal(size=32), num_resamples=1000, seed=trial)
        covered += low <= true_iqm <= high
    assert 0.88 <= covered / 200 <= 0.99, covered


def test_bootstrap_resamples_within_each_task():
    rng = np.random.default_rng(2)
    scores = np.stack([rng.normal(size=16), np.full(16, 7.0)], axis=1)  # task 1 is constant
    # Every resample of a stratified bootstrap holds 16 runs of task 1, all equal to 7.
    assert stratified_bootstrap_ci(scores, statistic=lambda s: s[:, 1].min(), num_resamples=500) == (7.0, 7.0)
    low, high = stratified_bootstrap_ci(scores[:, 0], statistic=np.mean, num_resamples=4000)
    half = 1.96 * scores[:, 0].std(ddof=1) / 4
    np.testing.assert_allclose(high - low, 2 * half, rtol=0.2)


def test_performance_profile_counts_runs_above_each_threshold():
    scores = np.array([[1.0, 5.0], [2.0, 6.0], [3.0, 7.0]])
    taus = [0.0, 2.0, 5.5, 7.0]
    expected = [sum(s > tau for s in scores.reshape(-1)) / 6 for tau in taus]
    np.testing.assert_allclose(performance_profile(scores, taus), expected)


def test_bad_scores_raise():
    with pytest.raises(ValueError, match="scores:"):
        iqm(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="confidence:"):
        stratified_bootstrap_ci(np.ones(4), confidence=1.5)
