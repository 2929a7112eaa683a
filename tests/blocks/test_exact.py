"""Exact answer-space quantities against plain loops written here: the tilted policy against a
softmax and its optimality, exact KL with zero-probability completions, best-of-n against brute
force over every n-tuple of draws (with ties), its KL against the bound and an analytic case,
and the Gao fits on synthetic curves."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.exact import (
    best_of_n_kl_bound,
    best_of_n_log_probs,
    fit_gao,
    kl_divergence,
    tilted_policy,
)

best_of_n = jax.jit(best_of_n_log_probs)
best_of_n_over_n = jax.jit(jax.vmap(best_of_n_log_probs, in_axes=(None, None, 0)))
kl_over_n = jax.jit(jax.vmap(kl_divergence, in_axes=(0, None)))

# A support of 5 completions, two pairs of them tied in score (the middle score and the top).
TIED_PROBS = np.array([0.1, 0.25, 0.15, 0.3, 0.2])
TIED_SCORES = np.array([0.0, 1.0, 2.0, 1.0, 2.0])


def numpy_kl(p, q):
    total = 0.0
    for pi, qi in zip(p, q):
        if pi > 0:
            total += pi * (math.log(pi) - math.log(qi)) if qi > 0 else math.inf
    return total


def test_tilted_policy_is_a_softmax_of_reference_and_reward():
    rng = np.random.default_rng(0)
    ref = np.log(rng.dirichlet(np.ones(5), size=2)).astype(np.float32)
    ref[1, 2] = -np.inf  # a completion the reference never writes stays unwritten
    rewards = rng.normal(size=(2, 5)).astype(np.float32)
    for beta in (0.25, 2.0):
        tilted = np.exp(tilted_policy(ref, rewards, beta))
        for b in range(2):
            unnormalised = [math.exp(ref[b, k]) * math.exp(rewards[b, k] / beta) for k in range(5)]
            expected = [u / sum(unnormalised) for u in unnormalised]
            np.testing.assert_allclose(tilted[b], expected, rtol=1e-5, atol=1e-8)
        assert tilted[1, 2] == 0.0


def test_tilted_policy_maximises_the_regularised_objective_and_tends_to_the_reference():
    rng = np.random.default_rng(1)
    ref = rng.dirichlet(np.ones(6))
    rewards = rng.normal(size=6)
    log_ref = jnp.log(jnp.asarray(ref, jnp.float32))
    betas = [0.1, 0.3, 1.0, 3.0, 10.0]
    kls = []
    for beta in betas:
        tilted = np.exp(np.asarray(tilted_policy(log_ref, jnp.asarray(rewards, jnp.float32), beta), np.float64))
        tilted /= tilted.sum()
        best = tilted @ rewards - beta * numpy_kl(tilted, ref)
        for q in rng.dirichlet(np.ones(6), size=50):  # no other policy does better
            assert q @ rewards - beta * numpy_kl(q, ref) <= best + 1e-6
        kls.append(numpy_kl(tilted, ref))
    assert all(a > b for a, b in itertools.pairwise(kls))  # less regularisation, further from π_ref
    far = np.exp(tilted_policy(log_ref, jnp.asarray(rewards, jnp.float32), 1e6))
    np.testing.assert_allclose(far, ref, atol=1e-5)


def test_kl_divergence_against_a_loop_with_zero_probabilities():
    p = np.array([[0.5, 0.0, 0.3, 0.2], [0.25, 0.25, 0.25, 0.25]])
    q = np.array([[0.1, 0.0, 0.4, 0.5], [0.7, 0.1, 0.1, 0.1]])
    with np.errstate(divide="ignore"):
        log_p, log_q = np.log(p).astype(np.float32), np.log(q).astype(np.float32)
    kl = kl_divergence(log_p, log_q)
    np.testing.assert_allclose(kl, [numpy_kl(p[b], q[b]) for b in range(2)], rtol=1e-5)
    assert np.isinf(kl_divergence(log_p[1], log_p[0]))  # mass where the second has none
    np.testing.assert_allclose(kl_divergence(log_p, log_p), 0.0, atol=1e-7)
    grad = jax.grad(lambda lq: kl_divergence(log_p[0], lq))(jnp.asarray(log_q[0]))
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, -p[0], rtol=1e-6)  # d/d log q of −Σ p log q


def brute_force_best_of_n(probs, scores, n, tie_rule):
    """P(the kept completion = y), summing over every n-tuple of draws from `probs`."""
    result = np.zeros(len(probs))
    for draws in itertools.product(range(len(probs)), repeat=n):
        weight = 1.0
        for y in draws:
            weight *= probs[y]
        top = max(scores[y] for y in draws)
        tied = [y for y in draws if scores[y] == top]  # the draws with the top score, with repeats
        if tie_rule == "first":
            result[tied[0]] += weight
        elif tie_rule == "uniform":
            for y in tied:
                result[y] += weight / len(tied)
        else:  # "lowest index": prefers one completion over another of equal score
            result[min(tied)] += weight
    return result


@pytest.mark.parametrize("n", [1, 2, 3])
def test_best_of_n_against_brute_force_with_ties(n):
    exact = np.exp(np.asarray(best_of_n(np.log(TIED_PROBS).astype(np.float32), TIED_SCORES.astype(np.float32), n),
                              np.float64))
    for rule in ("first", "uniform"):
        np.testing.assert_allclose(exact, brute_force_best_of_n(TIED_PROBS, TIED_SCORES, n, rule), atol=1e-6,
                                   err_msg=rule)
    if n > 1:  # the tie rule matters: one that looks at which completion was drawn differs
        by_index = brute_force_best_of_n(TIED_PROBS, TIED_SCORES, n, "lowest index")
        assert np.abs(exact - by_index).max() > 1e-2
    else:
        np.testing.assert_allclose(exact, TIED_PROBS, atol=1e-7)


def test_best_of_n_batches_prompts_and_traces_n():
    rng = np.random.default_rng(2)
    ref = np.log(rng.dirichlet(np.ones(5), size=3)).astype(np.float32)
    scores = rng.integers(0, 3, size=(3, 5)).astype(np.float32)  # ties in every row
    batched = best_of_n(ref, scores, 3)
    over_n = best_of_n_over_n(ref, scores, jnp.arange(1, 5))
    for b in range(3):
        expected = brute_force_best_of_n(np.exp(ref[b].astype(np.float64)), scores[b], 3, "first")
        np.testing.assert_allclose(np.exp(batched[b]), expected, atol=1e-6)
        np.testing.assert_allclose(over_n[2, b], batched[b], atol=1e-6)
    np.testing.assert_allclose(np.exp(over_n[0]), np.exp(ref), atol=1e-7)


def test_best_of_n_sums_to_one_and_its_kl_stays_under_the_bound_up_to_1024():
    rng = np.random.default_rng(3)
    ns = np.arange(1, 1025)
    bound = np.asarray(best_of_n_kl_bound(ns))
    np.testing.assert_allclose(bound, [math.log(n) - (n - 1) / n for n in ns], rtol=1e-6, atol=1e-7)
    for size in (8, 40):
        ref = jnp.asarray(np.log(rng.dirichlet(np.ones(size))), jnp.float32)
        scores = jnp.asarray(rng.permutation(size), jnp.float32)  # no ties
        log_probs = best_of_n_over_n(ref, scores, ns)
        np.testing.assert_allclose(np.exp(log_probs).sum(axis=-1), 1.0, atol=1e-5)
        kl = np.asarray(kl_over_n(log_probs, ref))
        assert np.all(kl <= bound + 1e-5)
        assert np.all(np.diff(kl) > -1e-6)  # more draws, further from π_ref
        # A finite support stays strictly under the bound for large n: best-of-n tends to the
        # single best completion y*, whose KL −log π_ref(y*) it approaches from below.
        assert kl[-1] < bound[-1] - 0.5
        assert kl[-1] <= -float(ref[int(jnp.argmax(scores))]) + 1e-5


@pytest.mark.parametrize("n", [2, 16, 128])
def test_best_of_n_kl_meets_the_bound_on_a_fine_support(n):
    """Without ties on a uniform support of K completions P_BoN(i-th worst) = (i/K)^n − ((i−1)/K)^n
    exactly, and its KL tends to log n − (n − 1)/n as K grows."""
    size = 20000
    rng = np.random.default_rng(4)
    scores = rng.permutation(size).astype(np.float32)
    log_probs = best_of_n(jnp.full(size, -math.log(size), jnp.float32), jnp.asarray(scores), n)
    kl = float(kl_divergence(log_probs, jnp.full(size, -math.log(size))))
    analytic = 0.0
    for i in range(1, size + 1):
        mass = (i / size) ** n - ((i - 1) / size) ** n
        analytic += mass * math.log(mass * size) if mass > 0 else 0.0
    np.testing.assert_allclose(kl, analytic, atol=2e-5)
    assert abs(kl - float(best_of_n_kl_bound(n))) < 1e-4


def test_best_of_n_keeps_small_probabilities():
    """A rare best completion: 1 − (1 − p)^n ≈ n p for p = 1e-30, far below float32's spacing."""
    probs = np.array([0.5, 0.5 - 2e-30, 1e-30, 1e-30])
    scores = np.array([0.0, 1.0, 3.0, 2.0], np.float32)
    log_probs = np.asarray(best_of_n(np.log(probs).astype(np.float32), scores, 1024), np.float64)
    np.testing.assert_allclose(np.exp(log_probs[2]), 1024e-30, rtol=1e-4)
    np.testing.assert_allclose(np.exp(log_probs[3]), 1024e-30, rtol=1e-4)
    np.testing.assert_allclose(np.exp(log_probs[1]), 1 - 0.5**1024, rtol=1e-6)
    np.testing.assert_allclose(log_probs[0], 1024 * math.log(0.5), rtol=1e-5)  # 0.5^1024, kept as a log


def test_best_of_n_rejects_nonpositive_n():
    with pytest.raises(ValueError, match="^n: must be > 0"):
        best_of_n_log_probs(np.log(TIED_PROBS), TIED_SCORES, 0)


def gao_curve(d, alpha, beta, form):
    return [x * (alpha - beta * (x if form == "bon" else math.log(x))) if x > 0 else 0.0 for x in d]


@pytest.mark.parametrize("form", ["bon", "rl"])
def test_fit_gao_recovers_exact_curves_and_scores_noise_lower(form):
    d = np.linspace(0.0, 4.0, 21)
    gold = gao_curve(d, 1.3, 0.4, form)
    fit = fit_gao(d, gold, form)
    assert fit["alpha"] == pytest.approx(1.3, abs=1e-9) and fit["beta"] == pytest.approx(0.4, abs=1e-9)
    assert fit["r2"] == pytest.approx(1.0, abs=1e-9)
    assert fit["num_points"] == (21 if form == "bon" else 20)  # log 0 is undefined: "rl" drops d = 0
    noisy = fit_gao(d, np.asarray(gold) + np.random.default_rng(5).normal(0.0, 0.3, d.size), form)
    assert noisy["r2"] < 0.99
    assert fit_gao(d, np.random.default_rng(6).normal(size=d.size), form)["r2"] < 0.5


def test_fit_gao_checks_its_arguments():
    with pytest.raises(ValueError, match="^form"):
        fit_gao([1.0, 2.0], [1.0, 2.0], "ppo")
    with pytest.raises(ValueError, match="^gold"):
        fit_gao([1.0, 2.0], [1.0], "bon")
    with pytest.raises(ValueError, match="^d: needs at least 2"):
        fit_gao([0.0, 1.0], [0.0, 1.0], "rl")
