"""Acting (`pgjax.algorithms.acting`): the metrics an iteration reports about its episodes."""

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax import grpo
from pgjax.algorithms import acting
from pgjax.envs.tokens import EOS


def test_completions_cut_at_the_length_limit_are_counted_on_eos_tasks_only(tiny):
    """`completion_clipped_fraction` (TRL's clipped ratio): of the answers that ended in the
    rollout, the share whose last token is not EOS (an EOS task ends them only at EOS or at
    the length limit)."""
    done = np.array([[0, 1, 0], [1, 0, 1], [0, 0, 1]], bool)  # [T, N]: 4 answers end
    action = np.array([[3, EOS, 0], [7, 1, EOS], [2, 4, 5]])  # the last tokens: EOS, 7, EOS, 5
    trajectory = SimpleNamespace(episode_done=jnp.asarray(done), action=jnp.asarray(action),
                                 episode_return=jnp.ones(done.shape), episode_length=jnp.full(done.shape, 5.0))
    for env, expected in (("CopyEOS-tokens-v0", 2 / 4), ("Reverse2-tokens-v0", None)):
        config = tiny("grpo", env, network="mlp")  # the network plays no part
        _, metrics = acting.finish_iteration(config, grpo.init(config, jax.random.key(0)), trajectory, {})
        if expected is None:
            assert "completion_clipped_fraction" not in metrics  # fixed-length answers are never cut
        else:
            assert float(metrics["completion_clipped_fraction"]) == pytest.approx(expected)
