"""Token tasks: prompts, answers, rewards, held-out prompts and groups that share a prompt."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.rollout import group_reset_keys

from pgjax.envs import make_env
from pgjax.envs.tokens import EOS, EQUALS, PAD, TOKEN_TASKS, decode, is_heldout


def play(name, answer, prompt_index=None, key=0):
    """Reset (on `prompt_index` if given) and generate `answer` token by token; returns the
    prompt's text, the rewards and the terminated flags of each step."""
    env, params = make_env(name)
    obs, state = env.reset(jax.random.key(key), params) if prompt_index is None else env.reset_with_prompt(prompt_index)
    prompt = decode(state.tokens[: int(state.prompt_length)])
    rewards, ends = [], []
    for token in answer:
        obs, state, reward, terminated, truncated, info = env.step(jax.random.key(1), state, token, params)
        rewards.append(float(reward))
        ends.append(bool(terminated))
        assert not bool(truncated)  # the answer's end terminates; the time limit never cuts first
        if terminated:
            break
    return prompt, rewards, ends


def digits(text):
    return [int(c) for c in text]


def test_reversal_scores_the_fraction_of_positions_right():
    assert play("Reverse4-tokens-v0", digits("1234"), prompt_index=4321) == ("4321=", [0, 0, 0, 1.0], [0, 0, 0, 1])
    _, rewards, _ = play("Reverse4-tokens-v0", digits("1243"), prompt_index=4321)
    assert rewards[-1] == 0.5


def test_addition_is_exact_match_with_three_zero_padded_digits():
    assert play("Add2-tokens-v0", digits("132"), prompt_index=4785) == ("47+85=", [0, 0, 1.0], [0, 0, 1])
    assert play("Add2-tokens-v0", digits("008"), prompt_index=503)[0] == "05+03="
    assert play("Add2-tokens-v0", digits("131"), prompt_index=4785)[1][-1] == 0.0


def test_copy_eos_ends_at_eos_and_halves_a_run_on_answer():
    prompt, rewards, ends = play("CopyEOS-tokens-v0", [5, 9, EOS], prompt_index=10 + 59)
    assert prompt == "59=" and rewards == [0, 0, 1.0] and ends == [0, 0, 1]
    _, rewards, ends = play("CopyEOS-tokens-v0", [5, 9, 9, 9, 9], prompt_index=10 + 59)
    assert rewards[-1] == 0.5 and ends[-1]  # ended by the length limit, both digits right
    _, rewards, _ = play("CopyEOS-tokens-v0", [5, EOS], prompt_index=10 + 59)
    assert rewards == [0, 0.25]  # one of two digits right, and EOS came too early


def test_copy_eos_draws_each_answer_length_equally_often():
    env, params = make_env("CopyEOS-tokens-v0")
    _, states = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(jax.random.key(0), 4000), params)
    counts = np.bincount(np.asarray(states.prompt_length) - 1, minlength=5)[1:]
    assert counts.sum() == 4000 and np.all(np.abs(counts - 1000) < 120), counts


@pytest.mark.parametrize("name", list(TOKEN_TASKS))
def test_heldout_prompts_are_fixed_disjoint_and_what_eval_resets_draw(name):
    env, params = make_env(name)
    train = set(np.asarray(env.train_pool).ravel().tolist())
    heldout = set(env.heldout_prompts().tolist())
    assert heldout and not train & heldout
    assert np.all(is_heldout(np.array(sorted(heldout)))) and not np.any(is_heldout(np.array(sorted(train))))
    keys = jax.random.split(jax.random.key(3), 256)

    def prompts(split):
        _, states = jax.vmap(env.reset, in_axes=(0, None))(keys, params.replace(split=split))
        return {decode(row) for row in np.asarray(states.tokens)}

    heldout_texts = {decode(env.reset_with_prompt(i)[1].tokens) for i in sorted(heldout)}
    assert prompts("eval") <= heldout_texts and not prompts("train") & heldout_texts


def test_a_group_that_shares_a_reset_key_shares_its_prompt():
    env, params = make_env("Reverse4-tokens-v0")
    keys = group_reset_keys(jax.random.key(5), 3, 4)
    _, states = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    prompts = np.asarray(states.tokens).reshape(3, 4, -1)
    assert all((group == group[0]).all() for group in prompts)
    assert len({decode(group[0]) for group in prompts}) == 3


def test_observation_is_the_one_hot_sequence_so_far():
    env, params = make_env("Reverse2-tokens-v0")
    obs, state = env.reset_with_prompt(47)
    assert obs.shape == (5, 14) == env.observation_space(params).shape
    np.testing.assert_array_equal(np.argmax(obs, -1), [4, 7, EQUALS, PAD, PAD])
    obs, *_ = env.step(jax.random.key(0), state, jnp.int32(7), params)
    np.testing.assert_array_equal(np.argmax(obs, -1), [4, 7, EQUALS, 7, PAD])


def test_an_unknown_split_is_refused():
    env, params = make_env("Reverse2-tokens-v0")
    with pytest.raises(ValueError, match="split must be 'train' or 'eval', got 'test'"):
        env.reset(jax.random.key(0), params.replace(split="test"))
