"""studies/exploration_odds: the interval arithmetic and the goal detection."""

import math

import jax
import jax.numpy as jnp
import pytest

from studies import exploration_odds


def test_wilson_interval_matches_the_closed_form():
    # p = 0.5, n = 100: centre 0.5, half-width z·sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n).
    z = 1.96
    half = z * math.sqrt(0.25 / 100 + z * z / 40000) / (1 + z * z / 100)
    assert exploration_odds.wilson(0.5, 100) == pytest.approx((0.5 - half, 0.5 + half))
    assert exploration_odds.wilson(0.0, 20000)[0] == 0.0
    # Away from 0.5 the interval is not centred on p: 10 of 100 gives [0.0552, 0.1744].
    assert exploration_odds.wilson(0.1, 100) == pytest.approx((0.0552, 0.1744), abs=1e-4)


def test_gaussian_noise_reaches_the_goal_sometimes_and_no_noise_never():
    # σ = e: 8.4 % of 20,000 episodes in studies/exploration_odds.md; 256 episodes give
    # a standard error of 1.7 points, so [3 %, 15 %] only fails if detection is broken.
    noisy = exploration_odds.reach_fraction(
        "MountainCarContinuous-v0", lambda k: jnp.clip(math.e * jax.random.normal(k, (1,)), -1, 1), 256,
        jax.random.key(0),
    )
    assert 0.03 <= noisy <= 0.15
    # Doing nothing never gets up the hill.
    assert exploration_odds.reach_fraction("MountainCarContinuous-v0", lambda k: jnp.zeros(1), 64, jax.random.key(0)) == 0
