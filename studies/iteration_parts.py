"""The parts of one PPO iteration, each a function to jit and time on its own, shared by
`studies/profile_iteration.py` (which times them) and `studies/kernel_profile.py` (which
counts their kernels). Both import this module; neither imports the other the other way,
so there is no import circle.

The parts, keyed as `PART_NAMES`:
- rollout: `acting.collect` (env steps + the fused actor-critic forward + sampling, and one
  batched critic call on the true next observations);
- gae: `learning.advantage_batch` (GAE, then flattening `[T, N] -> [T·N]`);
- epochs: `learning.minibatch_epochs` over `learning.gradient_step` (epochs × minibatches of
  Adam steps on the PPO loss);
- update: the whole `ppo.update` in one program.
"""

from __future__ import annotations

import jax

from benchmarks import common
from pgjax import clipped_surrogate_loss
from pgjax.algorithms import acting, build, learning, ppo

CONFIGS = {
    "classic (4 envs × 128)": dict(num_envs=4, num_steps=128, update_epochs=4, num_minibatches=4),
    "wide (256 envs × 128)": dict(num_envs=256, num_steps=128, update_epochs=4, num_minibatches=4),
}

PART_NAMES = {
    "rollout": "rollout (acting.collect)",
    "gae": "GAE + flatten (learning.advantage_batch)",
    "epochs": "learning epochs (learning.minibatch_epochs)",
    "update": "whole ppo.update, one program",
}


def make_config(fields) -> ppo.Config:
    return ppo.Config.for_env("CartPole-v1", hidden_sizes=(64, 64), activation="tanh",
                              total_timesteps=fields["num_envs"] * fields["num_steps"] * 8, **fields)


def ppo_step_fn(config):
    """The optimiser step `ppo.update` scans over, built from the same pieces."""
    setup = build.build(config)

    def clipped_surrogate(dist, batch, advantages):
        return clipped_surrogate_loss(dist.log_prob(batch.action), batch.log_prob, advantages, config.clip_eps)

    loss_fn = learning.actor_critic_loss(config, setup, clipped_surrogate, config.clip_eps if config.clip_value else None)
    return learning.gradient_step(loss_fn, setup.optimizer)


def part_functions(config, epochs_impl=learning.minibatch_epochs) -> dict:
    """The parts of `ppo.update`, each a function to jit on its own, keyed as `PART_NAMES`:
    rollout `(state) -> (state, trajectory)`, gae `(trajectory) -> batch`, epochs
    `(state, batch) -> ((params, opt_state), metrics)` (with `epochs_impl` for the minibatch
    loop), update `(state) -> (state, metrics)`."""

    def collect(state):
        state, trajectory, _ = acting.collect(config, build.build(config), state)
        return state, trajectory

    def advantages(trajectory):
        return learning.advantage_batch(config, build.build(config), trajectory)

    def epochs(state, batch):
        return epochs_impl(ppo_step_fn(config), (state.params, state.opt_state), batch, state.key,
                           config.update_epochs, config.num_minibatches)

    def update(state):
        return ppo.update(config, state)

    return {"rollout": collect, "gae": advantages, "epochs": epochs, "update": update}


def part_inputs(config, functions: dict | None = None):
    """`(state, trajectory, state after the rollout, batch)`: the inputs of the parts
    (computed with `functions`, `part_functions(config)` by default)."""
    functions = functions or part_functions(config)
    state = ppo.init(config, jax.random.PRNGKey(0))
    new_state, trajectory = jax.jit(functions["rollout"])(state)
    return state, trajectory, new_state, jax.jit(functions["gae"])(trajectory)


def time_executable(executable, args, calls: int, repeats: int) -> common.Timing:
    """Per-call time of a compiled part: each timed sample is `calls` back-to-back calls, / calls."""
    def many():
        out = None
        for _ in range(calls):
            out = executable(*args)
        return out
    timing = common.time_calls(many, repeats=repeats, warmup=1)
    return common.Timing(tuple(t / calls for t in timing.samples))
