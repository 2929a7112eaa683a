"""Evaluation on held-out prompts (`pgjax.algorithms.evaluation`). Evaluation on control tasks:
the protocol test (tests/algorithms/test_protocol.py) and the learning tests."""

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.algorithms.evaluation import answer_heldout
from pgjax.distributions import Categorical
from pgjax.envs.tokens import PAD, decode


def test_heldout_answers_of_a_policy_that_reads_the_prompt_are_all_right():
    """A stand-in network that answers 2-digit reversal from the prompt gets exact match 1;
    one that always says 0 gets the held-out prompts' share of right digits."""
    env = gymnax.make("Reverse2-tokens-v0")[0]

    class Answering:
        def __init__(self, right):
            self.right = right

        def initial_carry(self, n):
            return ()

        def policy(self, params, carry, obs, reset):
            tokens = jnp.argmax(obs, -1)  # "ab=" then the answer so far
            first = jnp.sum(tokens != PAD, axis=-1) == 3
            answer = jnp.where(first, tokens[:, 1], tokens[:, 0]) if self.right else jnp.zeros_like(tokens[:, 0])
            return carry, Categorical(jax.nn.one_hot(answer, 14) * 50.0)

    result = answer_heldout(env, Answering(True), None)
    assert float(result["exact_match"]) == 1.0 == float(result["reward"]) and float(result["length"]) == 2.0
    prompts = [decode(env.reset_with_prompt(i)[1].tokens[:2]) for i in env.heldout_prompts()]
    zeros = np.mean([(p[1] == "0") / 2 + (p[0] == "0") / 2 for p in prompts])
    assert float(answer_heldout(env, Answering(False), None)["reward"]) == pytest.approx(zeros)
