"""Generating tokens with the transformer network: its key/value cache against a full pass per token.

`network="transformer"` (`pgjax.networks.Transformer`, d_model 64, 2 layers, 4 heads) generates
`NUM_SEQUENCES` sequences in parallel from a fixed one-token prompt up to `SEQ_LEN` tokens,
sampling each token (PAD excluded: it would end the sequence's prefix), two ways, each one
compiled program (a `lax.scan` over the generated tokens), compiled ahead and timed side by
side, interleaved, in this one process:

- `cache`: the network's `apply` step by step, as a rollout acts; the carry is the key/value
  cache, so each token costs one position (the observation it reads is the one-hot sequence);
- `full pass`: no cache, `sequence_outputs` over the whole sequence for every token (the
  causal mask makes the positions after the last token irrelevant; their work is the price).

Both sample with the same keys, so they generate the same tokens (checked) unless float
rounding moves a sample across a boundary. Tokens/s is the median of `REPEATS` calls
(min–max).

A second table times learning's replay of those sequences (log-probabilities of the
generated tokens and their gradient, as a policy-gradient loss needs), two ways:

- `one pass`: `unroll_episodes`, one causal pass over each whole sequence, read at every
  step (what REINFORCE, RLOO and GRPO do: each window holds one episode from its start);
- `step by step`: `unroll`, a `lax.scan` over the steps, each computing its new positions
  as a block against the cache (what a window that starts mid-episode needs: PPO's).

Run: `python -m studies.token_generation [--quick]` -> `studies/token_generation.md`.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import common
from pgjax.envs import tokens as token_tasks
from pgjax.networks import CausalTransformer, Transformer
from studies import STUDY_DIR

PAD, VOCAB = token_tasks.PAD, token_tasks.VOCAB
SEQ_LEN = 32
NUM_SEQUENCES = 64
PROMPT_TOKEN = 1
REPEATS = 7


def _network() -> Transformer:
    return Transformer(CausalTransformer(
        vocab_size=VOCAB, action_dim=VOCAB, max_len=SEQ_LEN, d_model=64, num_layers=2, num_heads=4,
    ))


def _sample(key, logits):
    return jax.random.categorical(key, logits.at[:, PAD].set(-jnp.inf)).astype(jnp.int32)


def generate_with_cache(network, params, key):
    """`[NUM_SEQUENCES, SEQ_LEN]` tokens, one `apply` (one new position) per token."""
    tokens = jnp.full((NUM_SEQUENCES, SEQ_LEN), PAD, jnp.int32).at[:, 0].set(PROMPT_TOKEN)

    def step(loop, inputs):
        carry, tokens = loop
        position, step_key = inputs
        reset = jnp.full((NUM_SEQUENCES,), position == 0)
        carry, dist, _ = network.apply(params, carry, jax.nn.one_hot(tokens, VOCAB), reset)
        return (carry, tokens.at[:, position + 1].set(_sample(step_key, dist.logits))), None

    inputs = (jnp.arange(SEQ_LEN - 1), jax.random.split(key, SEQ_LEN - 1))
    (_, tokens), _ = jax.lax.scan(step, (network.initial_carry(NUM_SEQUENCES), tokens), inputs)
    return tokens


def generate_with_full_passes(network, params, key):
    """The same tokens, each from a full causal pass (`sequence_outputs`) over the sequence."""
    tokens = jnp.full((NUM_SEQUENCES, SEQ_LEN), PAD, jnp.int32).at[:, 0].set(PROMPT_TOKEN)

    def step(tokens, inputs):
        position, step_key = inputs
        logits, _ = network.sequence_outputs(params, tokens)
        return tokens.at[:, position + 1].set(_sample(step_key, logits[:, position])), None

    inputs = (jnp.arange(SEQ_LEN - 1), jax.random.split(key, SEQ_LEN - 1))
    tokens, _ = jax.lax.scan(step, tokens, inputs)
    return tokens


def replay_windows(tokens):
    """The windows a rollout records for sequences `tokens [N, L]` generated from a 1-token
    prompt: `(obs [N, L − 1, L, VOCAB] the sequence so far at each step, reset [N, L − 1],
    actions [N, L − 1])`."""
    steps = jnp.arange(SEQ_LEN - 1)
    prefixes = jnp.where(jnp.arange(SEQ_LEN)[None, None] <= steps[None, :, None], tokens[:, None], PAD)
    reset = jnp.broadcast_to(steps == 0, (tokens.shape[0], SEQ_LEN - 1))
    return jax.nn.one_hot(prefixes, VOCAB), reset, tokens[:, 1:]


def _replay_gradient(network, one_pass: bool):
    def log_likelihood(params, obs, reset, actions):
        if one_pass:
            dist, _ = network.unroll_episodes(params, obs, reset)
        else:
            _, dist, _ = network.unroll(params, network.initial_carry(obs.shape[0]), obs, reset)
        log_prob = dist.log_prob(actions)
        return log_prob.sum(), log_prob

    return jax.grad(log_likelihood, has_aux=True)


def replay_section(network, params, tokens, repeats: int) -> str:
    obs, reset, actions = replay_windows(tokens)
    variants = {"one pass": _replay_gradient(network, True), "step by step": _replay_gradient(network, False)}
    executables, compile_seconds, samples = {}, {}, {name: [] for name in variants}
    for name, gradient in variants.items():
        common.log(f"token_generation: compiling replay, {name}")
        executables[name], compile_seconds[name] = common.compile_ahead(gradient, params, obs, reset, actions)
    for repeat in range(repeats):
        for name, executable in executables.items():
            common.log(f"token_generation: replay, {name}, repeat {repeat + 1}/{repeats}")
            samples[name] += common.time_calls(executable, params, obs, reset, actions, repeats=1, warmup=0).samples
    log_probs = {name: np.asarray(executable(params, obs, reset, actions)[1]) for name, executable in executables.items()}
    gap = float(np.max(np.abs(log_probs["one pass"] - log_probs["step by step"])))
    timings = {name: common.Timing(tuple(values)) for name, values in samples.items()}
    replayed = actions.size
    rows = [[name, f"{compile_seconds[name]:.1f}", timing.seconds(), timing.rate_str(replayed),
             f"{timings['step by step'].median / timing.median:.1f}×"] for name, timing in timings.items()]
    return "\n".join([
        "### Learning: replaying the sequences, one causal pass against step by step",
        "",
        f"The {tokens.shape[0]} generated sequences as a rollout records them ({replayed:,} steps, each observing "
        f"the sequence so far); per call, the log-probabilities of the generated tokens and their gradient "
        f"with respect to the parameters; {repeats} interleaved calls per variant. The two variants' "
        f"log-probabilities differ by at most {gap:.1e}.",
        "",
        common.table(["replay", "compile s", "s per call (median, min–max)", "replayed tokens/s", "speed-up"],
                     rows),
    ])


def section(quick: bool = False) -> str:
    repeats = 3 if quick else REPEATS
    network = _network()
    params = jax.jit(network.init)(jax.random.key(0), jax.nn.one_hot(jnp.full((1, SEQ_LEN), PAD), VOCAB))
    key = jax.random.key(1)
    variants = {"cache": generate_with_cache, "full pass": generate_with_full_passes}
    executables, compile_seconds, samples = {}, {}, {}
    started = time.perf_counter()
    for name, generate in variants.items():
        common.log(f"token_generation: compiling {name}")
        executables[name], compile_seconds[name] = common.compile_ahead(
            lambda params, key, generate=generate: generate(network, params, key), params, key,
        )
        samples[name] = []
    # Interleaved, so that a change in the machine's load falls on both alike.
    for repeat in range(repeats):
        for name, executable in executables.items():
            common.log(f"token_generation: {name}, repeat {repeat + 1}/{repeats}")
            samples[name] += common.time_calls(executable, params, key, repeats=1, warmup=0).samples
    outputs = {name: np.asarray(executable(params, key)) for name, executable in executables.items()}
    timings = {name: common.Timing(tuple(values)) for name, values in samples.items()}
    generated = NUM_SEQUENCES * (SEQ_LEN - 1)
    rows = [[name, f"{compile_seconds[name]:.1f}", timing.seconds(), timing.rate_str(generated),
             f"{timings['full pass'].median / timing.median:.1f}×"] for name, timing in timings.items()]
    same = np.array_equal(outputs["cache"], outputs["full pass"])
    return "\n".join([
        common.header("Token generation: key/value cache against a full pass per token"),
        f"`network=\"transformer\"` (d_model 64, 2 layers, 4 heads), {NUM_SEQUENCES} sequences in parallel, "
        f"a 1-token prompt sampled on to {SEQ_LEN} tokens ({generated:,} generated tokens per call); "
        f"{repeats} interleaved calls per variant (compiled ahead, compile time apart), "
        f"{time.perf_counter() - started:.0f} s in all. The two variants generated "
        + ("the same tokens." if same else "different tokens (float rounding moved a sample)."),
        "",
        common.table(["variant", "compile s", "s per call (median, min–max)", "generated tokens/s", "speed-up"],
                     rows),
        "",
        replay_section(network, params, jnp.asarray(outputs["cache"]), repeats),
    ])


def main(argv=None) -> None:
    quick = common.parse_quick(argv)
    print(common.write_section("token_generation", section(quick), STUDY_DIR))


if __name__ == "__main__":
    main()
