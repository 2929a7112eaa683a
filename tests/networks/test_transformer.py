"""The causal transformer (`network="transformer"`): its key/value cache gives the full causal
pass's outputs one token at a time, resets, replays, and config rules. PPO training it on a
token task, checkpointed and resumed: tests/runs/test_checkpoint_tokens.py."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pgjax.envs.tokens as token_tasks
from pgjax import ppo
from pgjax.algorithms import build
from pgjax.envs.tokens import PAD, VOCAB
from pgjax.networks.transformer import CausalTransformer, Transformer

MAX_LEN = 10  # the longest token task, CopyEOS (5 prompt + 5 answer tokens)
SMALL = dict(d_model=32, num_layers=2, num_heads=2)


@pytest.fixture(scope="module")
def net():
    network = Transformer(CausalTransformer(vocab_size=VOCAB, action_dim=VOCAB, max_len=MAX_LEN, **SMALL))
    obs = jax.nn.one_hot(jnp.full((1, MAX_LEN), PAD), VOCAB)
    params = jax.jit(network.init)(jax.random.key(0), obs)
    return network, params, jax.jit(network.apply), jax.jit(network.sequence_outputs)


def _one_hot(tokens):
    return jax.nn.one_hot(jnp.asarray(tokens), VOCAB)


def _episodes(env, prompt_indices, num_steps, seed):
    """Token sequences `[num_steps + 1, N, L]` of episodes on these prompts, one random
    (non-PAD) token appended per step, as the environment's observations show them."""
    tokens = np.stack([np.asarray(env.reset_with_prompt(i)[1].tokens) for i in prompt_indices])
    lengths = (tokens != PAD).sum(1)
    generated = np.random.default_rng(seed).integers(0, PAD, (num_steps, len(prompt_indices)))
    frames = [tokens.copy()]
    for step in range(num_steps):
        tokens[np.arange(len(tokens)), lengths + step] = generated[step]
        frames.append(tokens.copy())
    return np.stack(frames)


@pytest.mark.parametrize("task, prompts, num_steps", [
    ("Reverse4-tokens-v0", [0, 1234, 9876], 4),
    ("CopyEOS-tokens-v0", [3, 40, 500, 5000], 5),  # prompts of 2, 3, 4 and 5 tokens
])
def test_cached_steps_equal_the_full_causal_pass(net, task, prompts, num_steps):
    network, params, apply, sequence_outputs = net
    env = token_tasks.TOKEN_TASKS[task]()
    frames = _episodes(env, prompts, num_steps, seed=0)
    logits, values = sequence_outputs(params, jnp.asarray(frames[-1]))
    carry, batch = network.initial_carry(len(prompts)), np.arange(len(prompts))
    for step, tokens in enumerate(frames):
        carry, dist, value = apply(params, carry, _one_hot(tokens), jnp.full(len(prompts), step == 0))
        last = (tokens != PAD).sum(1) - 1
        np.testing.assert_array_equal(carry.length, last + 1)
        np.testing.assert_allclose(dist.logits, np.asarray(logits)[batch, last], atol=1e-5, rtol=0)
        np.testing.assert_allclose(value, np.asarray(values)[batch, last], atol=1e-5, rtol=0)


def test_a_reset_restarts_one_environment_and_leaves_the_other_alone(net):
    network, params, apply, _ = net
    env = token_tasks.CopyEOS()
    frames = _episodes(env, [500, 5000], 3, seed=1)
    new_prompt = _episodes(env, [40, 40], 0, seed=2)[0]
    carry = network.initial_carry(2)
    for step, tokens in enumerate(frames):
        carry, _, _ = apply(params, carry, _one_hot(tokens), jnp.full(2, step == 0))
    # Environment 0 starts a new episode; environment 1 takes its next token.
    mixed = np.stack([new_prompt[0], _episodes(env, [500, 5000], 4, seed=1)[-1][1]])
    carry_mixed, dist_mixed, value_mixed = apply(params, carry, _one_hot(mixed), jnp.array([True, False]))
    _, dist_fresh, value_fresh = apply(params, network.initial_carry(2), _one_hot(mixed), jnp.ones(2, bool))
    np.testing.assert_allclose(dist_mixed.logits[0], dist_fresh.logits[0], atol=1e-6, rtol=0)
    np.testing.assert_allclose(value_mixed[0], value_fresh[0], atol=1e-6, rtol=0)
    _, dist_on, value_on = apply(params, carry, _one_hot(mixed), jnp.array([False, False]))
    np.testing.assert_array_equal(dist_mixed.logits[1], dist_on.logits[1])
    np.testing.assert_array_equal(value_mixed[1], value_on[1])
    np.testing.assert_array_equal(carry_mixed.length, [(new_prompt[0] != PAD).sum(), (mixed[1] != PAD).sum()])


def test_unroll_equals_stepping_apply(net):
    network, params, apply, _ = net
    env = token_tasks.CopyEOS()
    # Per environment: episodes (prompt index, tokens generated) laid end to end, so that
    # resets fall at different steps, one of them on the segment's first step.
    plans = [[(3, 2), (5000, 5)], [(500, 1), (40, 2), (7, 3)], [(4000, 5), (9, 2)]]
    num_steps = 7
    obs, reset = np.zeros((3, num_steps + 2, MAX_LEN), int), np.zeros((3, num_steps + 2), bool)
    for env_index, plan in enumerate(plans):
        rows = []
        for episode, (prompt, generated) in enumerate(plan):
            frames = _episodes(env, [prompt], generated, seed=env_index * 10 + episode)[:, 0]
            rows += [(frame, step == 0) for step, frame in enumerate(frames)]
        obs[env_index], reset[env_index] = [r[0] for r in rows[:num_steps + 2]], [r[1] for r in rows[:num_steps + 2]]
    obs = _one_hot(obs)
    # The segment starts after two steps, from a carry in mid-episode.
    carry = network.initial_carry(3)
    for t in range(2):
        carry, _, _ = apply(params, carry, obs[:, t], jnp.asarray(reset[:, t]) | (t == 0))
    stepped = []
    step_carry = carry
    for t in range(2, num_steps + 2):
        step_carry, dist, value = apply(params, step_carry, obs[:, t], jnp.asarray(reset[:, t]))
        stepped.append((dist.logits, value))
    end_carry, dist, value = jax.jit(network.unroll)(params, carry, obs[:, 2:], jnp.asarray(reset[:, 2:]))
    np.testing.assert_allclose(dist.logits, jnp.stack([s[0] for s in stepped], 1), atol=1e-5, rtol=0)
    np.testing.assert_allclose(value, jnp.stack([s[1] for s in stepped], 1), atol=1e-5, rtol=0)
    np.testing.assert_array_equal(end_carry.length, step_carry.length)
    filled = np.arange(MAX_LEN)[None, :, None, None] < np.asarray(step_carry.length)[:, None, None, None]
    for unrolled, stepped_keys in zip(end_carry.keys + end_carry.values, step_carry.keys + step_carry.values):
        np.testing.assert_allclose(np.where(filled, unrolled, 0), np.where(filled, stepped_keys, 0), atol=1e-5)


def test_config_rules():
    config = ppo.Config.for_env("Reverse4-tokens-v0", network="transformer", max_len=8, num_minibatches=1)
    with pytest.raises(ValueError, match=r"max_len: must be at least the task's sequence length 9"):
        build.build(config)
    with pytest.raises(ValueError, match=r"d_model: must be divisible by num_heads = 4.*got 30"):
        ppo.Config(d_model=30, num_heads=4)
    with pytest.raises(ValueError, match=r"network: 'transformer' needs one-hot token observations"):
        build.build(ppo.Config(network="transformer", num_minibatches=1))
    assert ppo.Config(network="transformer", num_minibatches=1).recurrent
