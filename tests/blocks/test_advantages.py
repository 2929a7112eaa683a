"""`gae`, `discounted_returns`, `normalize` and the group and masked estimators against plain
NumPy loops written here.

The loops spell out the contract of `pgjax.advantages` one step at a time:
a terminated step does not bootstrap, a truncated step bootstraps from
`next_values[t]`, and either one cuts the backward recursion.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.advantages import (
    discounted_returns,
    gae,
    group_normalized_advantages,
    leave_one_out_baseline,
    masked_normalize,
    normalize,
)

T, N = 9, 3


def numpy_gae(rewards, values, next_values, terminated, truncated, gamma, gae_lambda):
    advantages = np.zeros_like(rewards, dtype=np.float64)
    for env in range(rewards.shape[1]):
        following = 0.0  # A_{t+1}; nothing follows the last step of the segment
        for t in reversed(range(rewards.shape[0])):
            if terminated[t, env]:
                delta = rewards[t, env] - values[t, env]
            else:
                delta = rewards[t, env] + gamma * next_values[t, env] - values[t, env]
            if terminated[t, env] or truncated[t, env]:
                advantage = delta
            else:
                advantage = delta + gamma * gae_lambda * following
            advantages[t, env] = advantage
            following = advantage
    return advantages


def numpy_returns(rewards, terminated, truncated, gamma, bootstrap):
    returns = np.zeros_like(rewards, dtype=np.float64)
    for env in range(rewards.shape[1]):
        following = bootstrap[-1, env]  # the segment is cut after its last step
        for t in reversed(range(rewards.shape[0])):
            if terminated[t, env]:
                ret = rewards[t, env]
            elif truncated[t, env]:
                ret = rewards[t, env] + gamma * bootstrap[t, env]
            else:
                ret = rewards[t, env] + gamma * following
            returns[t, env] = ret
            following = ret
    return returns


def episode_ends(kind: str, rng: np.random.Generator):
    """`(terminated, truncated)` boolean `[T, N]` patterns, each with ends at the last step too."""
    terminated = np.zeros((T, N), bool)
    truncated = np.zeros((T, N), bool)
    if kind == "none":
        return terminated, truncated
    if kind == "terminated":
        terminated[[2, 5, T - 1], :] = True
    elif kind == "truncated":
        truncated[[3, 4, T - 1], :] = True
    elif kind == "both_at_once":
        terminated[[1, 6, T - 1], :] = True
        truncated[[1, 6, T - 1], :] = True
    elif kind == "mixed":
        terminated = rng.random((T, N)) < 0.25
        truncated = rng.random((T, N)) < 0.25
        terminated[T - 1, 0] = True
        truncated[T - 1, 1] = True
        terminated[T - 1, 2] = truncated[T - 1, 2] = True
    return terminated, truncated


def random_segment(kind: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=(T, N)).astype(np.float32)
    values = rng.normal(size=(T, N)).astype(np.float32)
    next_values = rng.normal(size=(T, N)).astype(np.float32)
    terminated, truncated = episode_ends(kind, rng)
    return rewards, values, next_values, terminated, truncated


KINDS = ["none", "terminated", "truncated", "both_at_once", "mixed"]
jit_gae = jax.jit(gae)
jit_returns = jax.jit(discounted_returns)


@pytest.mark.parametrize("kind", KINDS)
def test_gae_matches_numpy_loop_under_jit(kind):
    rewards, values, next_values, terminated, truncated = random_segment(kind)
    gamma, gae_lambda = 0.97, 0.9
    expected = numpy_gae(rewards, values, next_values, terminated, truncated, gamma, gae_lambda)
    # gamma and gae_lambda are traced arguments here, as they are in a vmapped sweep.
    advantages, targets = jit_gae(
        rewards, values, next_values, terminated, truncated, jnp.float32(gamma), jnp.float32(gae_lambda)
    )
    np.testing.assert_allclose(advantages, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(targets, expected + values, rtol=1e-5, atol=1e-5)


def test_gae_vmaps_over_gamma_and_lambda():
    rewards, values, next_values, terminated, truncated = random_segment("mixed", seed=1)
    gammas = jnp.array([0.0, 0.5, 0.9, 0.99], jnp.float32)
    lambdas = jnp.array([0.0, 0.3, 0.95, 1.0], jnp.float32)
    segment = (rewards, values, next_values, terminated, truncated)

    over_gamma, _ = jax.vmap(gae, in_axes=(None,) * 5 + (0, None))(*segment, gammas, jnp.float32(0.95))
    over_lambda, _ = jax.vmap(gae, in_axes=(None,) * 5 + (None, 0))(*segment, jnp.float32(0.99), lambdas)
    for i in range(4):
        np.testing.assert_allclose(
            over_gamma[i], numpy_gae(*segment, float(gammas[i]), 0.95), rtol=1e-5, atol=1e-5
        )
        np.testing.assert_allclose(
            over_lambda[i], numpy_gae(*segment, 0.99, float(lambdas[i])), rtol=1e-5, atol=1e-5
        )


def test_gae_lambda_extremes_are_td_error_and_monte_carlo():
    """λ = 0 is the one-step TD error; λ = 1 without episode ends is the bootstrapped return minus V."""
    rewards, values, next_values, terminated, truncated = random_segment("none", seed=2)
    gamma = 0.9
    td, _ = gae(rewards, values, next_values, terminated, truncated, gamma, 0.0)
    np.testing.assert_allclose(td, rewards + gamma * next_values - values, rtol=1e-5, atol=1e-5)

    # With λ = 1 the intermediate values telescope away when next_values[t] == values[t + 1].
    consistent_next = np.concatenate([values[1:], next_values[-1:]])
    full, targets = gae(rewards, values, consistent_next, terminated, truncated, gamma, 1.0)
    discounts = gamma ** np.arange(T)[:, None]
    for t in range(T):
        mc = np.sum(discounts[: T - t] * rewards[t:], axis=0) + gamma ** (T - t) * consistent_next[-1]
        np.testing.assert_allclose(targets[t], mc, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(full[t], mc - values[t], rtol=1e-5, atol=1e-5)


def _jacobians(fn, rewards, values, next_values):
    """d advantages[t, 0] / d input[u, 0] for a single environment, `[T, T]` per input."""
    jac = jax.jacobian(lambda r, v, nv: fn(r, v, nv)[:, 0], argnums=(0, 1, 2))(rewards, values, next_values)
    return [np.asarray(j[:, :, 0]) for j in jac]


@pytest.mark.parametrize("end", ["terminated", "truncated", "both"])
def test_gae_episode_end_contract(end):
    rewards, values, next_values, _, _ = random_segment("none", seed=3)
    rewards, values, next_values = rewards[:, :1], values[:, :1], next_values[:, :1]
    end_step, gamma, gae_lambda = 4, 0.9, 0.8
    terminated = np.zeros((T, 1), bool)
    truncated = np.zeros((T, 1), bool)
    terminated[end_step] = end in ("terminated", "both")
    truncated[end_step] = end in ("truncated", "both")

    def advantages_of(r, v, nv):
        return gae(r, v, nv, terminated, truncated, gamma, gae_lambda)[0]

    d_rewards, d_values, d_next_values = _jacobians(advantages_of, rewards, values, next_values)
    # Nothing after the episode end reaches the advantages up to and including it.
    for jac in (d_rewards, d_values, d_next_values):
        assert np.all(jac[: end_step + 1, end_step + 1 :] == 0.0)
    # Only a truncated step bootstraps from the value of its true next state.
    expected_bootstrap = 0.0 if end in ("terminated", "both") else gamma
    np.testing.assert_allclose(d_next_values[end_step, end_step], expected_bootstrap, rtol=1e-6)
    # Away from the end the recursion is intact: A_{t} depends on r_{t+1} with weight γλ.
    np.testing.assert_allclose(d_rewards[end_step - 1, end_step], gamma * gae_lambda, rtol=1e-6)


def test_gae_targets_at_lambda_zero_are_one_step_targets():
    """With λ = 0, targets_t = r_t + γ (1 − terminated_t) next_values_t, truncated or not."""
    rewards, values, next_values, terminated, truncated = random_segment("mixed", seed=4)
    advantages, targets = gae(rewards, values, next_values, terminated, truncated, 0.9, 0.0)
    np.testing.assert_allclose(targets, np.asarray(advantages) + values, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        targets, rewards + 0.9 * np.where(terminated, 0.0, next_values), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("with_bootstrap", [False, True])
def test_discounted_returns_matches_numpy_loop(kind, with_bootstrap):
    rewards, _, next_values, terminated, truncated = random_segment(kind, seed=5)
    gamma = 0.95
    bootstrap = next_values if with_bootstrap else None
    expected = numpy_returns(
        rewards, terminated, truncated, gamma, next_values if with_bootstrap else np.zeros_like(rewards)
    )
    returns = jit_returns(rewards, terminated, truncated, jnp.float32(gamma), bootstrap)
    np.testing.assert_allclose(returns, expected, rtol=1e-5, atol=1e-5)


def test_discounted_returns_vmaps_over_gamma():
    rewards, _, next_values, terminated, truncated = random_segment("mixed", seed=6)
    gammas = jnp.array([0.0, 0.5, 0.99], jnp.float32)
    returns = jax.vmap(discounted_returns, in_axes=(None, None, None, 0, None))(
        rewards, terminated, truncated, gammas, next_values
    )
    for i, gamma in enumerate(np.asarray(gammas)):
        expected = numpy_returns(rewards, terminated, truncated, float(gamma), next_values)
        np.testing.assert_allclose(returns[i], expected, rtol=1e-5, atol=1e-5)


def test_discounted_returns_equal_gae_targets_at_lambda_one():
    """With λ = 1, GAE's targets are the bootstrapped discounted returns (values cancel)."""
    rewards, values, next_values, terminated, truncated = random_segment("mixed", seed=7)
    # A consistent critic: inside an episode V(s_{t+1}) is the next step's value, so
    # GAE(λ=1)'s values telescope away and only the cut points bootstrap.
    cut = terminated | truncated
    cut[-1] = True
    next_values = np.where(cut, next_values, np.concatenate([values[1:], values[-1:]]))
    _, targets = gae(rewards, values, next_values, terminated, truncated, 0.9, 1.0)
    returns = discounted_returns(rewards, terminated, truncated, 0.9, next_values)
    np.testing.assert_allclose(targets, returns, rtol=1e-4, atol=1e-4)


def test_normalize_matches_numpy():
    rng = np.random.default_rng(8)
    advantages = (3.0 + 2.5 * rng.normal(size=(T, N))).astype(np.float32)
    expected = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    normalized = jax.jit(normalize)(advantages)
    np.testing.assert_allclose(normalized, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.mean(normalized), 0.0, atol=1e-6)
    np.testing.assert_allclose(np.std(normalized), 1.0, rtol=1e-5)
    # A constant batch has zero spread: the epsilon keeps the result finite (all zeros).
    np.testing.assert_array_equal(normalize(jnp.full((T, N), 4.0)), np.zeros((T, N)))


# ---------------------------------------------------------------- group and masked estimators

GROUP_RNG = np.random.default_rng(0)


def test_leave_one_out_baseline_matches_loop():
    returns = GROUP_RNG.normal(size=(5, 4)).astype(np.float32)
    expected = np.zeros_like(returns)
    for g in range(5):
        for k in range(4):
            others = [returns[g, j] for j in range(4) if j != k]
            expected[g, k] = sum(others) / len(others)
    np.testing.assert_allclose(leave_one_out_baseline(jnp.asarray(returns)), expected, rtol=1e-5, atol=1e-6)


def test_leave_one_out_needs_two_per_group():
    with pytest.raises(ValueError, match="group_size: .*at least 2"):
        leave_one_out_baseline(jnp.ones((3, 1)))


def test_group_normalized_advantages_match_loop():
    returns = GROUP_RNG.normal(size=(3, 6)).astype(np.float32) * 10
    returns[2] = 7.0  # a group whose episodes all did equally well carries no signal
    eps = 1e-6
    expected = np.zeros_like(returns)
    for g in range(3):
        mean = sum(returns[g]) / 6
        std = np.sqrt(sum((r - mean) ** 2 for r in returns[g]) / 6)
        for k in range(6):
            expected[g, k] = (returns[g, k] - mean) / (std + eps)
    got = group_normalized_advantages(jnp.asarray(returns), eps)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert np.all(got[2] == 0.0)


def test_masked_normalize_ignores_padding():
    values = GROUP_RNG.normal(size=(7, 3)).astype(np.float32)
    mask = (GROUP_RNG.uniform(size=(7, 3)) < 0.6).astype(np.float32)
    kept = [values[t, i] for t in range(7) for i in range(3) if mask[t, i]]
    mean = sum(kept) / len(kept)
    std = np.sqrt(sum((v - mean) ** 2 for v in kept) / len(kept))
    expected = np.where(mask > 0, (values - mean) / (std + 1e-8), 0.0)
    np.testing.assert_allclose(masked_normalize(jnp.asarray(values), jnp.asarray(mask)), expected, rtol=1e-4, atol=1e-5)


def test_dr_grpo_keeps_the_centring_and_drops_the_std():
    returns = GROUP_RNG.normal(size=(3, 4)).astype(np.float32)
    centred = returns - returns.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(group_normalized_advantages(returns, scale_by_std=False), centred, rtol=1e-6)
    np.testing.assert_allclose(group_normalized_advantages(returns), centred / (returns.std(axis=1, keepdims=True) + 1e-8),
                               rtol=1e-5)


def test_reward_to_go_within_masked_episode_matches_loop():
    """`discounted_returns` on masked flags is the reward-to-go of each first episode."""
    rewards = GROUP_RNG.normal(size=(8, 3)).astype(np.float32)
    terminated = np.zeros((8, 3), bool)
    truncated = np.zeros((8, 3), bool)
    terminated[4, 0] = True  # env 0's episode ends at t = 4
    truncated[7, 1] = True  # env 1's is cut by the window: bootstrap
    truncated[2, 2] = True  # env 2's hits a time limit at t = 2: bootstrap
    bootstrap = GROUP_RNG.normal(size=(8, 3)).astype(np.float32)
    ends = {0: 4, 1: 7, 2: 2}
    gamma = 0.9
    expected = np.zeros((8, 3), np.float32)
    for i, end in ends.items():
        rewards[end + 1:, i] = 0.0
        bootstrap[end + 1:, i] = 0.0
        tail = 0.0 if terminated[end, i] else bootstrap[end, i]
        for t in range(end + 1):
            expected[t, i] = sum(gamma ** (k - t) * rewards[k, i] for k in range(t, end + 1)) + gamma ** (end + 1 - t) * tail
    got = discounted_returns(jnp.asarray(rewards), jnp.asarray(terminated), jnp.asarray(truncated), jnp.asarray(gamma),
                             bootstrap=jnp.asarray(bootstrap))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
