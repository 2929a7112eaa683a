"""Learning from whole episodes (`pgjax.algorithms.episodic`): what is replayed is what was acted."""

import jax
import numpy as np
import pytest

from pgjax import grpo, reinforce
from pgjax.algorithms import acting, build, episodic, learning
from pgjax.layout import swap_time


@pytest.mark.parametrize(
    "module, env, overrides",
    [
        (grpo, "CopyEOS-tokens-v0", dict(network="transformer", num_envs=16, num_groups=4, group_size=4)),
        (reinforce, "CartPole-positions-v1", dict(network="gru", num_steps=40)),
    ],
    ids=["grpo-transformer", "reinforce-gru"],
)
def test_episodic_learning_replays_exactly_what_was_acted(module, env, overrides, tiny):
    """The Monte-Carlo methods replay each window from a fresh carry: the replayed log-probs
    of the actions equal the ones recorded while acting, on every alive step, in both the
    whole-batch layout and the minibatch rows, and so does stepping through each window
    (`unroll`; the transformer's replay is one causal pass per episode instead)."""
    config = tiny(module, env, iterations=1, **overrides)

    @jax.jit
    def replayed(key):
        state = module.init(config, key)
        setup = build.build(config)
        _, episodes = acting.collect_episodes(config, setup, state, group_size=getattr(config, "group_size", 1))
        dist, _ = episodic.replay_episodes(setup, state.params, episodes)
        batch = episodic.episode_batch(config, setup, episodes, episodes.alive)
        rows = learning.replay(setup, state.params, batch, policy_only=True)
        stepped = setup.network.unroll_policy(state.params, batch.carry, batch.obs, batch.reset)
        return episodes, [dist.log_prob(episodes.action)] + [swap_time(d.log_prob(batch.action)) for d in (rows, stepped)]

    episodes, log_probs = replayed(jax.random.key(2))
    alive = np.asarray(episodes.alive) > 0
    assert alive.sum() > alive.shape[1] and not alive.all()  # several steps per window, and steps after the episode
    for log_prob in log_probs:
        assert np.all(np.isfinite(log_prob))  # masked steps too: a NaN there would poison the masked means' gradients
        np.testing.assert_allclose(np.asarray(log_prob)[alive], np.asarray(episodes.log_prob)[alive], atol=1e-5)
