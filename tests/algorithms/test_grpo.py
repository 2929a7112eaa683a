"""GRPO beyond the protocol (tests/algorithms/test_protocol.py): the frozen reference policy and
its KL penalty, the LLM literature's switches on a token task, and TRL's reward statistics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax import grpo


def test_the_kl_penalty_holds_the_policy_near_the_frozen_reference(tiny, train_per_value):
    config = tiny("grpo", "Catch-bsuite", num_steps=9, learning_rate=3e-2, anneal_lr=False, iterations=40)
    states, metrics = train_per_value(grpo, config, "kl_coef", jnp.array([0.0, 10.0]), jax.random.key(0))
    initial = grpo.init(config, jax.random.key(0))
    for i in range(2):  # the reference is the initial policy and never moves, while the policy does
        reference, params = jax.tree.map(lambda x: x[i], (states.reference_params, states.params))
        jax.tree.map(lambda r, p: np.testing.assert_allclose(r, p, rtol=1e-5, atol=1e-6), reference, initial.params)
        assert not np.allclose(params.actor["params"]["actor_head"]["kernel"], reference.actor["params"]["actor_head"]["kernel"])
    final_kl = metrics["reference_kl"][:, -5:].mean(axis=1)
    assert final_kl[1] < 0.5 * final_kl[0], final_kl


# REINFORCE++: batch-normalised returns-to-go, the k1 KL folded into the rewards.
REINFORCE_PLUS_PLUS = dict(baseline="batch", kl_in_reward=True, kl_estimator="k1", loss_agg_mode="seq-mean-token-mean")


@pytest.mark.parametrize(
    "switches",
    [
        # Dr. GRPO with DAPO's clip-higher and the k3 estimator in the loss
        dict(scale_by_std=False, loss_agg_mode="seq-mean-token-sum-norm", clip_higher=0.08, kl_estimator="k3",
             kl_coef=0.1),
        dict(REINFORCE_PLUS_PLUS, kl_coef=0.1),
    ],
    ids=["dr-grpo", "reinforce++"],
)
def test_variants_run_on_a_token_task_and_report_trl_metrics(tiny, switches):
    config = tiny("grpo", "Reverse2-tokens-v0", **switches)
    _, metrics = jax.jit(grpo.train)(config, jax.random.key(0))
    for name in ("reward_std", "frac_reward_zero_std", "reference_kl", "entropy", "clip_fraction_low",
                 "clip_fraction_high", "episode_length"):
        assert np.all(np.isfinite(metrics[name])), name
    assert 0.0 <= float(metrics["frac_reward_zero_std"][0]) <= 1.0
    np.testing.assert_array_equal(metrics["episode_length"], 2.0)  # a 2-digit answer is 2 tokens


def test_reward_statistics_are_of_the_task_rewards_not_the_kl_shaped_ones(tiny):
    """With the KL folded into the rewards (REINFORCE++), `reward_std` and
    `frac_reward_zero_std` still describe the task's rewards, as TRL reports them: one
    iteration from the same state (so the same episodes) gives the same numbers whatever the
    penalty's weight, though the policy is far from its reference."""
    configs = [tiny("grpo", "Reverse2-tokens-v0", **REINFORCE_PLUS_PLUS, kl_coef=coef) for coef in (0.0, 10.0)]
    state = grpo.init(configs[0], jax.random.key(4))
    state = state.replace(reference_params=jax.tree.map(lambda p: 50 * p, state.params))  # a sharp reference
    update = jax.jit(grpo.update)  # kl_coef is traced: one program for both
    (_, plain), (_, shaped) = update(configs[0], state), update(configs[1], state)
    assert abs(float(plain["reference_kl"])) > 0.01  # so a KL-shaped statistic would differ
    for name in ("reward_std", "frac_reward_zero_std", "episode_return"):
        assert float(plain[name]) == float(shaped[name]), name
