"""REINFORCE leave-one-out (Kool et al., 2019; Ahmadian et al., 2024).

One iteration: `num_groups` groups of `group_size` = K environments; the K
environments of a group are reset with the same key, so they start from one
state and differ only by the policy's (and the environment's) randomness. Each
episode's return R_{g,k} (discounted from its first step) is baselined by the
mean return of the other K − 1 episodes of its group, a baseline that needs no
critic and keeps the estimator unbiased. One Adam step on

    L = −mean_alive(log π(a_t|s_t) · (R_{g,k} − b_{g,k})) − ent_coef · entropy,
    b_{g,k} = (Σ_j R_{g,j} − R_{g,k}) / (K − 1).
"""

from __future__ import annotations

import jax.numpy as jnp

from pgjax.advantages import leave_one_out_baseline
from pgjax.algorithms import acting, build, episodic, evaluation, presets, scan
from pgjax.algorithms.build import TrainState
from pgjax.algorithms.config import GroupConfig, config_dataclass


@config_dataclass
class Config(GroupConfig):
    """RLOO (Ahmadian et al., 2024): groups of `group_size` episodes from one start, each advantaged by its
    return minus the mean return of the others in its group; no critic.
    """

    PRESETS = presets.RLOO


def init(config: Config, key) -> TrainState:
    """A fresh `TrainState` for `config`: network and optimiser initialised from `key`, the
    environments reset."""
    return build.init_state(config, key)


def update(config: Config, state: TrainState):
    """One iteration: collect groups of episodes, leave-one-out advantages, one masked policy-gradient
    step.

    Returns `(state, metrics)`, metrics a dict of scalars.
    """
    setup = build.build(config)
    state, episodes = acting.collect_episodes(config, setup, state, group_size=config.group_size)
    episode_return = episodic.group_returns(config, episodes)
    # Each step gets its episode's advantage.
    advantages = (episode_return - leave_one_out_baseline(episode_return)).reshape(-1)
    state, learn_metrics = episodic.masked_policy_gradient_step(
        config, setup, state, episodes, jnp.broadcast_to(advantages, episodes.alive.shape)
    )
    return acting.finish_iteration(config, state, episodes, learn_metrics)


# The rest of the protocol (`pgjax.runs.protocol.Algorithm`), shared by every algorithm.
train, train_batch = scan.entry_points(init, update)
evaluate = evaluation.evaluate
