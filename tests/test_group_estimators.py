"""Group and masked-episode estimators against plain NumPy loops written here."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.advantages import discounted_returns, group_normalized_advantages, leave_one_out_baseline, masked_normalize
from pgjax.rollout import group_reset_keys
from pgjax.envs import make_vec_env
from pgjax.rollout import first_episode_mask, rollout_episodes

RNG = np.random.default_rng(0)


def test_leave_one_out_baseline_matches_loop():
    returns = RNG.normal(size=(5, 4)).astype(np.float32)
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
    returns = RNG.normal(size=(3, 6)).astype(np.float32) * 10
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
    values = RNG.normal(size=(7, 3)).astype(np.float32)
    mask = (RNG.uniform(size=(7, 3)) < 0.6).astype(np.float32)
    kept = [values[t, i] for t in range(7) for i in range(3) if mask[t, i]]
    mean = sum(kept) / len(kept)
    std = np.sqrt(sum((v - mean) ** 2 for v in kept) / len(kept))
    expected = np.where(mask > 0, (values - mean) / (std + 1e-8), 0.0)
    np.testing.assert_allclose(masked_normalize(jnp.asarray(values), jnp.asarray(mask)), expected, rtol=1e-4, atol=1e-5)


def test_first_episode_mask_matches_loop():
    done = RNG.uniform(size=(9, 5)) < 0.2
    expected = np.zeros((9, 5), np.float32)
    for i in range(5):
        running = True
        for t in range(9):
            expected[t, i] = float(running)
            if done[t, i]:
                running = False
    np.testing.assert_array_equal(first_episode_mask(jnp.asarray(done)), expected)


def test_reward_to_go_within_masked_episode_matches_loop():
    """`discounted_returns` on masked flags is the reward-to-go of each first episode."""
    rewards = RNG.normal(size=(8, 3)).astype(np.float32)
    terminated = np.zeros((8, 3), bool)
    truncated = np.zeros((8, 3), bool)
    terminated[4, 0] = True  # env 0's episode ends at t = 4
    truncated[7, 1] = True  # env 1's is cut by the window: bootstrap
    truncated[2, 2] = True  # env 2's hits a time limit at t = 2: bootstrap
    bootstrap = RNG.normal(size=(8, 3)).astype(np.float32)
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


def test_group_reset_keys_share_initial_states_within_groups_only():
    env, params = make_vec_env("CartPole-v1", 6)
    obs, _ = env.reset(group_reset_keys(jax.random.key(0), 3, 2), params)
    obs = np.asarray(obs)
    for g in range(3):
        np.testing.assert_array_equal(obs[2 * g], obs[2 * g + 1])
    assert len({tuple(o) for o in obs}) == 3


def test_rollout_episodes_masks_everything_after_the_first_episode():
    """A random policy on CartPole: each env's first episode ends early, after which
    the env auto-resets; only the first episode counts."""
    from pgjax.algorithms import build, rloo

    config = rloo.Config.for_env("CartPole-v1", num_steps=60, total_timesteps=960, hidden_sizes=(8,))
    setup = build.build(config)
    env, params, network = setup.env, setup.env_params, setup.network
    variables = network.init(jax.random.key(1), jnp.zeros((1, 4)))
    _, _, episodes = rollout_episodes(env, params, network.apply, None, variables, jax.random.key(2), 60, group_size=4)
    alive = np.asarray(episodes.alive)
    raw_done = np.asarray(episodes.terminated | episodes.truncated)
    for i in range(16):
        steps = int(alive[:, i].sum())
        assert np.all(alive[:steps, i] == 1) and np.all(alive[steps:, i] == 0)
        # The episode's end is the only flagged step, and the reward stops there.
        assert raw_done[:, i].sum() == 1 and raw_done[steps - 1, i]
        assert np.all(np.asarray(episodes.reward)[steps:, i] == 0)
        assert float(np.asarray(episodes.reward)[:, i].sum()) == steps  # CartPole pays 1 per step
        if steps < 60:  # ended inside the window: the statistics report the same episode
            assert np.asarray(episodes.episode_done)[:, i].sum() == 1
            assert np.asarray(episodes.episode_return)[steps - 1, i] == steps
    # Envs of a group start alike, yet sampled actions make their episodes differ.
    first_obs = np.asarray(episodes.obs[0])
    np.testing.assert_array_equal(first_obs[0], first_obs[3])
    assert not np.array_equal(first_obs[0], first_obs[4])
    assert len(set(alive.sum(axis=0).tolist())) > 1
