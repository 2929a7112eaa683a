"""How close does PPO training get to the speed of the environment itself?

For each environment and number of parallel environments N ∈ {1, 64, 1024, 4096}:

1. raw env: `jax.vmap(env.step)` of the gymnax environment under uniformly random
   actions, in a `lax.scan` (gymnax auto-resets finished episodes);
2. env + policy: the same loop, the action sampled from a pgjax `ActorCritic`
   (64-64 tanh; MinAtar's image observations add pgjax's 3×3 conv torso) —
   the ceiling for any on-policy collection;
3. PPO: `ppo.train` with that N (4 epochs × 4 minibatches, 64-64 tanh), whose
   env-steps/s includes learning; its ratio to (2) is the share of the ceiling
   that training keeps.

Run: `python -m benchmarks.ceiling [--quick]` → `benchmarks/ceiling.md` + `ceiling.png`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from benchmarks import common
from pgjax import ppo
from pgjax.algorithms import build
from pgjax.envs import make_env

ENVS = ("CartPole-v1", "Acrobot-v1", "Pendulum-v1", "Breakout-MinAtar")
NUM_ENVS = (1, 64, 1024, 4096)
# PPO on MinAtar's images trains at ≈2e3 env-steps/s on 2 CPU cores (the conv torso's gradient
# dominates), so its PPO runs get 1/8 of the budget to keep the whole benchmark within minutes.
PPO_BUDGET_FRACTION = {"Breakout-MinAtar": 1 / 8}


def _random_action_fn(env, env_params):
    space = env.action_space(env_params)
    return jax.vmap(space.sample)


def env_loop(env_name: str, num_envs: int, num_steps: int, with_policy: bool, split_keys_in_scan: bool = False):
    """`(fn, args)`: `fn(*args)` runs `num_steps` steps of `num_envs` environments and
    returns the summed reward (so nothing is dead code). All keys are drawn before
    the scan, as `pgjax.rollout` does; `split_keys_in_scan=True` instead carries one
    key through the scan and splits it at every step (the alternative that
    `studies/profile_iteration.py` measures)."""
    env, env_params = make_env(env_name)
    key = jax.random.PRNGKey(0)
    reset_key, loop_key, params_key = jax.random.split(key, 3)
    obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(reset_key, num_envs), env_params)
    obs = obs.astype(jnp.float32)
    sample_actions = _random_action_fn(env, env_params)
    if with_policy:
        # Only the network's shape is read from this config; one step keeps its budget check trivial.
        config = ppo.Config.for_env(env_name, num_envs=num_envs, num_steps=1, total_timesteps=num_envs, num_minibatches=1,
                                    hidden_sizes=(64, 64), activation="tanh")
        network = build.build(config).network
        params = network.init(params_key, obs)
    else:
        params = None

    def step(params, carry, step_action_key, step_env_keys):
        env_state, obs, total = carry
        if with_policy:
            _, dist, value = network.apply(params, (), obs, None)
            action = dist.sample(step_action_key)
            total = total + value.sum() * 0.0  # keep the critic half of the fused forward alive
        else:
            action = sample_actions(jax.random.split(step_action_key, num_envs))
        obs, env_state, reward, _, _, _ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
            step_env_keys, env_state, action, env_params
        )
        return env_state, obs.astype(jnp.float32), total + reward.sum()

    def run(params, env_state, obs, key):
        carry = (env_state, obs, jnp.zeros(()))
        if split_keys_in_scan:
            def split_step(carry_and_key, _):
                carry, key = carry_and_key
                key, action_key, env_key = jax.random.split(key, 3)
                return (step(params, carry, action_key, jax.random.split(env_key, num_envs)), key), None

            ((_, _, total), _), _ = jax.lax.scan(split_step, (carry, key), None, length=num_steps)
            return total
        action_key, env_key = jax.random.split(key)
        keys = (jax.random.split(action_key, num_steps), jax.random.split(env_key, (num_steps, num_envs)))
        (_, _, total), _ = jax.lax.scan(lambda c, k: (step(params, c, *k), None), carry, keys)
        return total

    return run, (params, env_state, obs, loop_key)


def ppo_config(env_name: str, num_envs: int, budget: int):
    """PPO at `num_envs` with about `budget` env steps: 128 steps per env per iteration,
    fewer (≥ 8) when one iteration would exceed the budget."""
    num_steps = int(max(8, min(128, budget // num_envs)))
    total = max(budget, num_envs * num_steps)
    return ppo.Config.for_env(
        env_name, num_envs=num_envs, num_steps=num_steps, total_timesteps=total,
        update_epochs=4, num_minibatches=4, hidden_sizes=(64, 64), activation="tanh",
    )


def measure_ceiling(env_name: str, num_envs: int, budget: int, repeats: int = 3) -> dict:
    """Compile seconds and Timing of the raw-env and env+policy loops with ≈`budget` steps."""
    num_steps = max(1, budget // num_envs)
    out = {"steps": num_steps * num_envs}
    for name, with_policy in (("env", False), ("env+policy", True)):
        fn, args = env_loop(env_name, num_envs, num_steps, with_policy)
        _, compile_s, timing, _ = common.compile_and_time(fn, *args, repeats=repeats)
        out[name] = (compile_s, timing)
    return out


def measure_ppo(config, repeats: int = 3):
    """Compile seconds, Timing, env steps per call and final metrics of `ppo.train`."""
    key = jax.random.PRNGKey(0)
    _, compile_s, timing, (_, metrics) = common.compile_and_time(ppo.train, config, key, repeats=repeats)
    return compile_s, timing, config.num_iterations * config.batch_size, metrics


def main(quick: bool = False, summary: dict | None = None) -> str:
    """Measure, write `ceiling.md` + `.png`, return the markdown; key figures go into `summary`."""
    # Compilation dominates a smoke run: it keeps every environment (each takes its own code
    # path: discrete, continuous, image) but only one env count.
    budget = 2**12 if quick else 2**16
    envs = ENVS
    counts = (64,) if quick else NUM_ENVS
    rows, plot_data = [], {}
    for env_name in envs:
        for num_envs in counts:
            common.log(f"ceiling: {env_name} N={num_envs}")
            ceiling = measure_ceiling(env_name, num_envs, budget)
            config = ppo_config(env_name, num_envs, int(budget * PPO_BUDGET_FRACTION.get(env_name, 1)))
            ppo_compile, ppo_timing, ppo_steps, _ = measure_ppo(config)
            env_rate = ceiling["env"][1].rate(ceiling["steps"])[0]
            policy_rate = ceiling["env+policy"][1].rate(ceiling["steps"])[0]
            ppo_rate = ppo_timing.rate(ppo_steps)[0]
            plot_data.setdefault(env_name, []).append((num_envs, env_rate, policy_rate, ppo_rate))
            if summary is not None:
                summary.setdefault("ceiling", {})[(env_name, num_envs)] = dict(
                    env=env_rate, policy=policy_rate, ppo=ppo_rate)
            rows.append([
                env_name, num_envs,
                ceiling["env"][1].rate_str(ceiling["steps"]),
                ceiling["env+policy"][1].rate_str(ceiling["steps"]),
                f"{ppo_timing.rate_str(ppo_steps)} [{config.num_steps}×{config.num_iterations} it]",
                f"{ppo_rate / policy_rate:.1%}",
                f"{ceiling['env'][0]:.2f} / {ceiling['env+policy'][0]:.2f} / {ppo_compile:.2f}",
            ])

    markdown = common.header(
        "Ceiling: environment speed vs PPO training speed",
        notes=[
            f"{'QUICK smoke run (64 envs only) — not a measurement. ' if quick else ''}"
            f"≈{budget} env steps per timed call for every N (so N=1 is a long scan, N=4096 a short one).",
            "PPO: `num_steps` = clip(budget / N, 8, 128) per env per iteration (given as steps×iterations; "
            "Breakout-MinAtar: budget / 8, at least one iteration), "
            "4 epochs × 4 minibatches, 64-64 tanh, env presets otherwise (Pendulum: obs normalisation and "
            "reward scaling wrappers; MinAtar: conv torso).",
            "rates are env-steps/s, median (min–max of the 3 calls); ratio = PPO median / env+policy median.",
        ],
    )
    markdown += "\n" + common.table(
        ["env", "N envs", "raw env", "env + policy", "PPO train", "PPO / ceiling", "compile s (env / +policy / PPO)"],
        rows,
    )
    figure, axes = common.new_figure(ncols=len(plot_data), width=4.0, height=3.6)
    axes = list(axes) if len(plot_data) > 1 else [axes]
    for ax, (env_name, points) in zip(axes, plot_data.items()):
        n, env_rate, policy_rate, ppo_rate = map(list, zip(*points))
        ax.loglog(n, env_rate, "o-", label="raw env")
        ax.loglog(n, policy_rate, "s-", label="env + policy")
        ax.loglog(n, ppo_rate, "^-", label="PPO train")
        ax.set_title(env_name)
        ax.set_xlabel("parallel envs")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("env-steps / s")
    axes[0].legend()
    markdown += "\n" + common.save_figure(figure, "ceiling")
    return common.write_section("ceiling", markdown)


if __name__ == "__main__":
    print(main(common.parse_quick()))
