"""Memory tasks, registered with gymnax so that every command and `pgjax list` sees them.

A feed-forward policy sees only the current observation; these tasks need more:

- `CartPole-positions-v1`, `Pendulum-positions-v1`: the classic tasks with the
  velocities hidden (CartPole shows the cart position and pole angle; Pendulum shows
  cos θ and sin θ). A policy must infer velocities from successive observations.
- `RepeatPrevious-v0`: each step shows one of `num_cards` cards (one-hot); the reward
  is +1 for naming the card shown `delay` steps earlier and −1 otherwise (0 during the
  first `delay` steps, when there is no such card). The best return is
  `max_steps_in_episode − delay`; a memoryless policy can only guess (expected return
  `(max_steps_in_episode − delay) · (2/num_cards − 1)`, −23.5 with the defaults).
- gymnax's own `MemoryChain-bsuite` (already registered; memory length 5 by default).

Importing `pgjax.envs` registers them.
"""

from __future__ import annotations

from typing import Any

import gymnax
import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces
from gymnax.environments.classic_control import cartpole, pendulum


class HiddenVelocities(environment.Environment):
    """`base` with only the observation entries `keep` shown (same dynamics, rewards, limits)."""

    def __init__(self, base: environment.Environment, keep: tuple[int, ...], name: str):
        super().__init__()
        self.base, self.keep, self._name = base, keep, name

    @property
    def default_params(self):
        return self.base.default_params

    def step_env(self, key, state, action, params):
        obs, state, reward, terminated, info = self.base.step_env(key, state, action, params)
        return obs[jnp.array(self.keep)], state, reward, terminated, info

    def reset_env(self, key, params):
        obs, state = self.base.reset_env(key, params)
        return obs[jnp.array(self.keep)], state

    def is_truncated(self, state, params):
        return self.base.is_truncated(state, params)

    def is_terminated(self, state, params):
        return self.base.is_terminated(state, params)

    @property
    def name(self) -> str:
        return self._name

    @property
    def num_actions(self) -> int:
        return self.base.num_actions

    def action_space(self, params=None):
        return self.base.action_space(params)

    def observation_space(self, params):
        space = self.base.observation_space(params)
        keep = jnp.array(self.keep)
        return spaces.Box(space.low[keep], space.high[keep], (len(self.keep),), space.dtype)


@struct.dataclass
class RepeatPreviousState(environment.EnvState):
    shown: jax.Array  # the card shown now
    recent: jax.Array  # [delay] the cards shown at t − delay … t − 1 (−1: none yet)
    time: int


@struct.dataclass
class RepeatPreviousParams(environment.EnvParams):
    num_cards: int = struct.field(pytree_node=False, default=4)
    delay: int = struct.field(pytree_node=False, default=3)  # k: name the card shown k steps ago
    max_steps_in_episode: int = 50


class RepeatPrevious(environment.Environment):
    """Name the card shown `delay` steps earlier: +1 if right, −1 if wrong."""

    @property
    def default_params(self) -> RepeatPreviousParams:
        return RepeatPreviousParams()

    def step_env(self, key, state: RepeatPreviousState, action, params: RepeatPreviousParams):
        target = state.recent[0]
        reward = jnp.where(target < 0, 0.0, jnp.where(action == target, 1.0, -1.0))
        state = RepeatPreviousState(
            shown=jax.random.randint(key, (), 0, params.num_cards),
            recent=jnp.concatenate([state.recent[1:], state.shown[None]]),
            time=state.time + 1,
        )
        return self._obs(state, params), state, reward, jnp.array(False), {}

    def reset_env(self, key, params: RepeatPreviousParams):
        if params.delay < 1:
            raise ValueError(f"env_params: RepeatPrevious-v0's delay must be at least 1, got {params.delay}")
        state = RepeatPreviousState(
            shown=jax.random.randint(key, (), 0, params.num_cards),
            recent=jnp.full((params.delay,), -1, jnp.int32),
            time=0,
        )
        return self._obs(state, params), state

    def _obs(self, state, params) -> jax.Array:
        return jax.nn.one_hot(state.shown, params.num_cards)

    def is_terminated(self, state, params) -> jax.Array:
        return jnp.array(False)

    @property
    def name(self) -> str:
        return "RepeatPrevious-v0"

    @property
    def num_actions(self) -> int:
        return self.default_params.num_cards

    def action_space(self, params=None):
        return spaces.Discrete((params or self.default_params).num_cards)

    def observation_space(self, params):
        return spaces.Box(0.0, 1.0, (params.num_cards,), jnp.float32)


TASKS: dict[str, Any] = {
    "CartPole-positions-v1": lambda: HiddenVelocities(cartpole.CartPole(), (0, 2), "CartPole-positions-v1"),
    "Pendulum-positions-v1": lambda: HiddenVelocities(pendulum.Pendulum(), (0, 1), "Pendulum-positions-v1"),
    "RepeatPrevious-v0": RepeatPrevious,
}

for _name, _factory in TASKS.items():
    if _name not in gymnax.registered_envs:
        gymnax.register(_name, _factory)
