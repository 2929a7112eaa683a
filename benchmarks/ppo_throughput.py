"""PPO throughput on CartPole-v1 at the classic settings.

4 envs × 128 steps, 4 epochs × 4 minibatches, 64-64 tanh, lr 2.5e-4 annealed,
500k steps per seed. For 1 seed (`ppo.train`) and 8 and 64 seeds vmapped in one
program (`ppo.train_batch`): compile seconds (ahead of time, apart from the run),
env-steps/s over all seeds (median of 3 runs, min–max), and the final mean return
(the mean of the last 10 iterations' `episode_return`, averaged over seeds) to
show that batching seeds does not change what is learned. Beside it: the
env + policy-forward ceiling at 1024 envs (see `benchmarks/ceiling.py`). No peer is
timed here, so no speed ratio is given: a ratio is only meaningful between two
programs timed in the same run on the same machine.

Run: `python -m benchmarks.ppo_throughput [--quick]` → `benchmarks/ppo_throughput.md` + `.png`.
"""

from __future__ import annotations

import jax
import numpy as np

from benchmarks import ceiling, common
from pgjax import ppo

SEEDS = (1, 8, 64)


def classic_config(total_timesteps: int = 500_000) -> ppo.Config:
    return ppo.Config.for_env(
        "CartPole-v1", num_envs=4, num_steps=128, update_epochs=4, num_minibatches=4,
        hidden_sizes=(64, 64), activation="tanh", learning_rate=2.5e-4, anneal_lr=True,
        total_timesteps=total_timesteps,
    )


def measure(num_seeds: int, total_timesteps: int, repeats: int = 3):
    """`(compile_s, Timing, env_steps per run, metrics)` of training `num_seeds` seeds at once."""
    config = classic_config(total_timesteps)
    if num_seeds == 1:
        fn, args = ppo.train, (config, jax.random.PRNGKey(0))
    else:
        fn, args = ppo.train_batch, (config, jax.random.split(jax.random.PRNGKey(0), num_seeds))
    _, compile_s, timing, (_, metrics) = common.compile_and_time(fn, *args, repeats=repeats)
    env_steps = num_seeds * config.num_iterations * config.batch_size
    return compile_s, timing, env_steps, jax.tree.map(np.asarray, metrics)


def final_return(metrics) -> float:
    """Mean over seeds of the mean `episode_return` of the last 10 iterations."""
    returns = metrics["episode_return"]  # [iterations] or [iterations, seeds]
    return float(np.nanmean(returns[-10:]))


def main(quick: bool = False, summary: dict | None = None) -> str:
    """Measure, write `ppo_throughput.md` + `.png`, return the markdown; key figures go into `summary`."""
    full = 20_000 if quick else 500_000
    rows, curves = [], {}
    # The quick run skips 64 seeds: it is the same vmapped program as 8, only bigger.
    for num_seeds in SEEDS[:2] if quick else SEEDS:
        # 64 seeds × 500k steps is 32M steps; per-seed length is cut to keep the run short on
        # 2 cores. Throughput is per iteration, so a shorter run measures the same rate.
        total = full if num_seeds <= 8 else full // 8
        common.log(f"ppo_throughput: {num_seeds} seeds × {total} steps")
        compile_s, timing, env_steps, metrics = measure(num_seeds, total)
        returns = metrics["episode_return"]
        curves[num_seeds] = (metrics["env_steps"] if returns.ndim == 1 else metrics["env_steps"][:, 0],
                             returns if returns.ndim == 1 else np.nanmean(returns, axis=1))
        rows.append([
            num_seeds, f"{total:,}", f"{compile_s:.2f}", timing.seconds(),
            timing.rate_str(env_steps),
            f"{final_return(metrics):.1f}",
        ])
        if summary is not None:
            summary.setdefault("ppo_throughput", {})[num_seeds] = dict(
                compile_s=compile_s, rate=timing.rate(env_steps)[0])

    common.log("ppo_throughput: env + policy ceiling at 1024 envs")
    ceiling_budget = 2**13 if quick else 2**16
    ceiling_result = ceiling.measure_ceiling("CartPole-v1", 1024, ceiling_budget)
    policy_compile, policy_timing = ceiling_result["env+policy"]
    env_compile, env_timing = ceiling_result["env"]
    if summary is not None:
        summary["ppo_throughput_ceiling_1024"] = policy_timing.rate(ceiling_result["steps"])[0]

    markdown = common.header(
        "PPO throughput, CartPole-v1, classic settings",
        notes=[
            *(["QUICK smoke run (20k steps per seed, 1 and 8 seeds) — not a measurement."] if quick else []),
            "4 envs × 128 steps, 4 epochs × 4 minibatches, 64-64 tanh, lr 2.5e-4 annealed, "
            "500k steps per seed (64 seeds: 62.5k per seed, to keep the run short; the rate is per iteration).",
            "1 seed: `ppo.train`; 8 and 64 seeds: `ppo.train_batch` (one vmapped program). "
            "env-steps/s counts the steps of all seeds together.",
            "no peer is timed in this run, so no ratio against one is given (a figure measured on "
            "another machine is not comparable).",
            "final return: mean `episode_return` of the last 10 iterations, averaged over seeds "
            "(64 seeds train for 1/8 as long, so theirs is earlier in learning).",
        ],
    )
    markdown += "\n" + common.table(
        ["seeds", "steps / seed", "compile s", "run time", "env-steps/s", "final return"], rows
    )
    markdown += "\n" + common.table(
        ["ceiling, 1024 CartPole envs", "compile s", "env-steps/s"],
        [
            ["raw env (random actions)", f"{env_compile:.2f}", env_timing.rate_str(ceiling_result["steps"])],
            ["env + policy forward (64-64)", f"{policy_compile:.2f}",
             policy_timing.rate_str(ceiling_result["steps"])],
        ],
    )
    figure, ax = common.new_figure()
    for num_seeds, (steps, returns) in curves.items():
        ax.plot(steps, returns, label=f"{num_seeds} seed(s)")
    ax.axhline(475, color="grey", ls=":", lw=1)
    ax.set_xlabel("env steps per seed")
    ax.set_ylabel("mean episode return")
    ax.set_title("PPO CartPole-v1, classic settings")
    ax.legend()
    markdown += "\n" + common.save_figure(figure, "ppo_throughput")
    return common.write_section("ppo_throughput", markdown)


if __name__ == "__main__":
    print(main(common.parse_quick()))
