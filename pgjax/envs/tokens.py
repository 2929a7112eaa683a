"""Token tasks: text generation as an environment, registered with gymnax like any other.

Generation is an MDP. The state is the prompt plus the tokens generated so far; an action
is the next token; the episode ends when the answer is complete (after a fixed number of
tokens, or at the end-of-sequence token `EOS`), and the reward comes then, once. So
`rollout`, the advantage estimators, the losses, sweeps, checkpoints and the command line
work on tokens unchanged, and episodes in a group that share a reset key share their
prompt, as RLOO and GRPO need.

One vocabulary serves every task: the digits 0–9, `+`, `=` (ends the prompt), `EOS` and
`PAD`. The observation is the whole sequence so far, one-hot, `[max_len, VOCAB]` (`PAD`
after the last token): an MLP reads it flattened, the causal transformer (`pgjax.networks.transformer`,
`network="transformer"`) reads the token ids.

Tasks (`TOKEN_TASKS`):

- `Reverse2-tokens-v0`, `Reverse4-tokens-v0`: `d1 … dn =` → `dn … d1` (n = 2 or 4 digits;
  the answer always has n tokens). Reward: the fraction of positions right; exact match is
  reward 1.
- `Add2-tokens-v0`: `a1 a2 + b1 b2 =` → the sum's three digits, zero-padded (`47+85=` →
  `132`, `05+03=` → `008`). Reward: exact match, 0 or 1 (sparse: whole groups with no
  variance happen; `frac_reward_zero_std` reports them).
- `CopyEOS-tokens-v0`: `d1 … dL =` with L uniform in 1…4 → `d1 … dL EOS`; the episode
  ends at `EOS` or after 5 tokens. Reward: the fraction of the L digits right, times 1 if
  the answer ends with `EOS` right after them, else ½ (a run-on answer is worth less). The
  answer's length varies, so how a token loss is normalised over it matters
  (`pgjax.losses.aggregation_scale`).

Prompts are indices into the task's prompt space (10⁴ digit strings for reversal of 4 and
for addition, every string of 1–4 digits once for CopyEOS). A fixed 1/16 of them, chosen
by a hash of the index, is held out: training resets draw only the others, and
`params.split = "eval"` draws only the held-out ones (`heldout_prompts` lists them, for
greedy exact-match evaluation on every one).
"""

from __future__ import annotations

from typing import Any

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces

from pgjax.envs.registry import register_episode_metrics

DIGITS = 10
PLUS, EQUALS, EOS, PAD = 10, 11, 12, 13
VOCAB = 14
TOKEN_NAMES = "0123456789+=$_"  # how `decode` writes each token ($ is EOS, _ is PAD)

HELDOUT_EVERY = 16  # one prompt in 16 is held out for evaluation


def decode(tokens) -> str:
    """A sequence of token ids as text, e.g. `'47+85=132'`."""
    return "".join(TOKEN_NAMES[int(t)] for t in np.asarray(tokens).reshape(-1))


def is_heldout(index: np.ndarray) -> np.ndarray:
    """Whether prompt `index` belongs to the held-out evaluation set: a fixed integer hash
    (Knuth's multiplicative one), so the split does not follow the digits' order."""
    hashed = (np.asarray(index, np.uint64) * np.uint64(2654435761)) % np.uint64(2**32)
    return (hashed >> np.uint64(28)) % np.uint64(HELDOUT_EVERY) == 0


def _split(strata: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prompt indices `0 … Σ strata − 1`, stratum by stratum: `(train [S, M] padded by
    repeating each stratum's first index, train counts [S], held-out indices)`."""
    offsets = np.cumsum([0] + strata)
    indices = np.arange(offsets[-1])
    heldout = is_heldout(indices)
    train = [indices[lo:hi][~heldout[lo:hi]] for lo, hi in zip(offsets[:-1], offsets[1:])]
    width = max(len(t) for t in train)
    padded = np.stack([np.concatenate([t, np.full(width - len(t), t[0])]) for t in train])
    return padded, np.array([len(t) for t in train]), indices[heldout]


def _digits(value, width: int):
    """The `width` decimal digits of `value`, most significant first (traced or not)."""
    powers = 10 ** jnp.arange(width - 1, -1, -1)
    return (value // powers) % 10


@struct.dataclass
class TokenState(environment.EnvState):
    """A token episode: the sequence so far (prompt and generated tokens) and where it stands."""

    tokens: jax.Array  # [max_len] the sequence so far, PAD after it
    length: jax.Array  # tokens in the sequence (prompt + generated)
    prompt_length: jax.Array
    target: jax.Array  # [answer_len] the right answer, PAD-filled after an EOS task's EOS
    target_length: jax.Array  # tokens of the right answer, EOS included
    time: int


@struct.dataclass
class TokenParams(environment.EnvParams):
    """A token task's static parameters: which prompts it draws (`split`) and the episode step limit."""

    split: str = struct.field(pytree_node=False, default="train")  # "train" | "eval" prompts
    max_steps_in_episode: int = struct.field(pytree_node=False, default=1_000)


class TokenTask(environment.Environment):
    """A generation task; subclasses say how a prompt index becomes a prompt and its answer
    (`_prompt`), how long prompts and answers can be, and how an answer is scored (`_score`)."""

    name_: str
    # Prompt-space sizes of the strata a training reset draws from with equal probability
    # (one stratum: uniform over all prompts; CopyEOS: one per answer length).
    strata: list[int]
    max_prompt: int  # longest prompt, `=` included
    max_answer: int  # longest answer, EOS included
    ends_at_eos: bool = False

    def __init__(self):
        super().__init__()
        self.train_pool, self.train_counts, self.eval_prompts = _split(self.strata)

    @property
    def max_len(self) -> int:
        return self.max_prompt + self.max_answer

    @property
    def default_params(self) -> TokenParams:
        # The answer's end terminates the episode; the time limit never cuts it first.
        return TokenParams(max_steps_in_episode=self.max_answer + 1)

    def heldout_prompts(self) -> np.ndarray:
        """The indices of the held-out evaluation prompts, in order."""
        return self.eval_prompts

    def prompt_of(self, index):
        """`(prompt [max_prompt] PAD-filled, prompt_length, target [max_answer] PAD-filled,
        target_length)` for prompt `index` (traced or not)."""
        return self._prompt(jnp.asarray(index))

    def reset_with_prompt(self, index, params: TokenParams | None = None):
        """`(obs, state)` of an episode on prompt `index`, as `reset_env` would start it."""
        prompt, prompt_length, target, target_length = self.prompt_of(index)
        tokens = jnp.full((self.max_len,), PAD, jnp.int32).at[: self.max_prompt].set(prompt)
        state = TokenState(
            tokens=tokens, length=prompt_length, prompt_length=prompt_length, target=target,
            target_length=target_length, time=0,
        )
        return self._obs(state), state

    def reset_env(self, key, params: TokenParams):
        if params.split not in ("train", "eval"):
            raise ValueError(f"env_params: split must be 'train' or 'eval', got {params.split!r}")
        if params.split == "eval":
            pool = jnp.asarray(self.eval_prompts)
            return self.reset_with_prompt(pool[jax.random.randint(key, (), 0, len(pool))], params)
        stratum_key, index_key = jax.random.split(key)
        stratum = jax.random.randint(stratum_key, (), 0, len(self.strata))
        slot = jax.random.randint(index_key, (), 0, jnp.asarray(self.train_counts)[stratum])
        return self.reset_with_prompt(jnp.asarray(self.train_pool)[stratum, slot], params)

    def step_env(self, key, state: TokenState, action, params: TokenParams):
        action = jnp.asarray(action, jnp.int32)
        state = state.replace(tokens=state.tokens.at[state.length].set(action), length=state.length + 1,
                              time=state.time + 1)
        done = self._answer_done(state, action)
        reward = jnp.where(done, self._score(state), 0.0)
        return self._obs(state), state, reward, done, {}

    def _answer_done(self, state: TokenState, action) -> jax.Array:
        full = state.time >= self.max_answer
        if self.ends_at_eos:
            return full | (action == EOS)
        return full

    def answer(self, state: TokenState) -> jax.Array:
        """The generated tokens `[max_answer]` (PAD where nothing was generated)."""
        return jax.lax.dynamic_slice(
            jnp.concatenate([state.tokens, jnp.full((self.max_answer,), PAD, jnp.int32)]),
            (state.prompt_length,), (self.max_answer,),
        )

    def _obs(self, state: TokenState) -> jax.Array:
        return jax.nn.one_hot(state.tokens, VOCAB)

    @property
    def name(self) -> str:
        return self.name_

    @property
    def num_actions(self) -> int:
        return VOCAB

    def action_space(self, params=None):
        return spaces.Discrete(VOCAB)

    def observation_space(self, params):
        return spaces.Box(0.0, 1.0, (self.max_len, VOCAB), jnp.float32)


class Reverse(TokenTask):
    """`d1 … dn =` → `dn … d1`; reward: the fraction of positions right."""

    def __init__(self, num_digits: int):
        self.num_digits = num_digits
        self.name_ = f"Reverse{num_digits}-tokens-v0"
        self.strata = [10**num_digits]
        self.max_prompt, self.max_answer = num_digits + 1, num_digits
        super().__init__()

    def _prompt(self, index):
        digits = _digits(index, self.num_digits).astype(jnp.int32)
        prompt = jnp.concatenate([digits, jnp.array([EQUALS], jnp.int32)])
        return prompt, jnp.int32(self.max_prompt), digits[::-1], jnp.int32(self.num_digits)

    def _score(self, state):
        return jnp.mean((self.answer(state) == state.target).astype(jnp.float32))


class Add(TokenTask):
    """`a1 a2 + b1 b2 =` → the sum's three digits; reward: exact match (0 or 1)."""

    name_ = "Add2-tokens-v0"
    strata = [10**4]
    max_prompt, max_answer = 6, 3

    def _prompt(self, index):
        a, b = index // 100, index % 100
        prompt = jnp.concatenate([_digits(a, 2), jnp.array([PLUS]), _digits(b, 2), jnp.array([EQUALS])])
        return prompt.astype(jnp.int32), jnp.int32(6), _digits(a + b, 3).astype(jnp.int32), jnp.int32(3)

    def _score(self, state):
        return jnp.all(self.answer(state) == state.target).astype(jnp.float32)


class CopyEOS(TokenTask):
    """`d1 … dL =` (L in 1…4) → `d1 … dL EOS`; ends at EOS or after 5 tokens.

    Reward: (fraction of the L digits right) × (1 if EOS follows them at once, else ½)."""

    name_ = "CopyEOS-tokens-v0"
    max_digits = 4
    # Every string of 1–4 digits once: indices 0–9 the 1-digit strings, 10–109 the 2-digit
    # ones, …; a training reset draws the length uniformly, then a string of that length.
    strata = [10**length for length in range(1, max_digits + 1)]
    max_prompt, max_answer = max_digits + 1, max_digits + 1
    ends_at_eos = True

    def _prompt(self, index):
        offsets = jnp.cumsum(jnp.array([0] + self.strata))
        num_digits = jnp.sum(index >= offsets[1:]) + 1
        value = index - offsets[num_digits - 1]
        # The digits left-aligned in `max_digits` slots.
        digits = _digits(value * 10 ** (self.max_digits - num_digits), self.max_digits).astype(jnp.int32)
        slots = jnp.arange(self.max_digits)
        shown = jnp.where(slots < num_digits, digits, PAD)
        prompt = jnp.concatenate([shown, jnp.array([PAD], jnp.int32)]).at[num_digits].set(EQUALS)
        target = jnp.concatenate([shown, jnp.array([PAD], jnp.int32)]).at[num_digits].set(EOS)
        return prompt, num_digits + 1, target, num_digits + 1

    def _score(self, state):
        answer = self.answer(state)
        num_digits = state.target_length - 1
        slots = jnp.arange(self.max_answer)
        digits_right = jnp.sum((answer == state.target) & (slots < num_digits)) / num_digits
        ended_right = answer[num_digits] == EOS
        return digits_right * jnp.where(ended_right, 1.0, 0.5)


TOKEN_TASKS: dict[str, Any] = {
    "Reverse2-tokens-v0": lambda: Reverse(2),
    "Reverse4-tokens-v0": lambda: Reverse(4),
    "Add2-tokens-v0": Add,
    "CopyEOS-tokens-v0": CopyEOS,
}


def is_token_task(name: str) -> bool:
    """Whether `name` is one of pgjax's token tasks (`TOKEN_TASKS`) rather than a gymnax environment."""
    return name in TOKEN_TASKS


def ends_at_eos(name: str) -> bool:
    """Whether environment `name` is a token task whose answers end at `EOS` (so an answer
    can be cut at the length limit instead)."""
    return name in TOKEN_TASKS and TOKEN_TASKS[name]().ends_at_eos


def completion_metrics(action, episode_done) -> dict:
    """TRL's `completions/clipped_ratio` for a task whose answers end at `EOS`: the share of
    the answers that ended at this step (`episode_done`, `action` `[T, N]`) and were cut at
    the length limit instead of ending with `EOS`."""
    done = episode_done.astype(jnp.float32)
    clipped = done * (action != EOS)
    return {"completion_clipped_fraction": clipped.sum() / jnp.maximum(done.sum(), 1.0)}


for _name, _factory in TOKEN_TASKS.items():
    if _name not in gymnax.registered_envs:
        gymnax.register(_name, _factory)
    if ends_at_eos(_name):
        register_episode_metrics(_name, completion_metrics)
