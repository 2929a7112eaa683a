"""How PPO throughput and time-to-solve scale with parallelism.

1. env-steps/s against the number of parallel environments N (one seed;
   `num_steps` = clip(budget / N, 8, 128), 4 epochs × 4 minibatches);
2. env-steps/s against the number of seeds S vmapped in one program
   (`ppo.train_batch`, classic CartPole settings: 4 envs × 128 steps);
3. solving CartPole-v1 with S = 1 … 256 seeds at once (classic settings): the
   fraction of seeds whose iteration mean `episode_return` reaches 475, and the
   wall time (host timestamp per iteration via `jax.debug.callback`, compile
   excluded) until the median solving seed and the last solving seed got there.

Run: `python -m benchmarks.scaling [--quick]` → `benchmarks/scaling.md` + `scaling.png`.
"""

from __future__ import annotations

import time

import jax
import numpy as np

from benchmarks import ceiling, common, ppo_throughput
from pgjax import ppo

THRESHOLD = 475.0


def throughput_vs_envs(counts, budget: int):
    rows, points = [], []
    for num_envs in counts:
        common.log(f"scaling: N={num_envs} envs")
        config = ceiling.ppo_config("CartPole-v1", num_envs, budget)
        compile_s, timing, steps, _ = ceiling.measure_ppo(config)
        rows.append([num_envs, f"{config.num_steps}×{config.num_iterations}", f"{compile_s:.2f}",
                     timing.rate_str(steps)])
        points.append((num_envs, *timing.rate(steps)))
    return rows, points


def throughput_vs_seeds(seed_counts, budget: int):
    rows, points = [], []
    for num_seeds in seed_counts:
        per_seed = max(512, budget // num_seeds)
        common.log(f"scaling: S={num_seeds} seeds × {per_seed} steps")
        compile_s, timing, steps, _ = ppo_throughput.measure(num_seeds, per_seed)
        rows.append([num_seeds, f"{per_seed:,}", f"{compile_s:.2f}", timing.rate_str(steps)])
        points.append((num_seeds, *timing.rate(steps)))
    return rows, points


def solve_run(num_seeds: int, total_timesteps: int):
    """One timed `train_batch` run of `num_seeds` seeds. Returns compile seconds, run seconds,
    and per-iteration host timestamps `[I]` and returns `[I, S]`."""
    config = ppo_throughput.classic_config(total_timesteps)
    stamps, returns, start = [], [], [0.0]

    def record(metrics):
        stamps.append(time.perf_counter() - start[0])
        returns.append(np.asarray(metrics["episode_return"]).reshape(-1))

    keys = jax.random.split(jax.random.PRNGKey(1), num_seeds)
    executable, compile_s = common.compile_ahead(lambda c, k: ppo.train_batch(c, k, callback=record), config, keys)
    start[0] = time.perf_counter()
    common.block(executable(config, keys))
    run_s = time.perf_counter() - start[0]
    return compile_s, run_s, np.array(stamps), np.stack(returns)


def time_to_solve(seed_counts, total_timesteps: int):
    rows, curves = [], {}
    for num_seeds in seed_counts:
        common.log(f"scaling: solving with {num_seeds} seeds × {total_timesteps} steps")
        compile_s, run_s, stamps, returns = solve_run(num_seeds, total_timesteps)
        hits = [common.first_reaching(returns[:, s], THRESHOLD) for s in range(num_seeds)]
        solved = [stamps[h] for h in hits if h is not None]
        solved_frac = np.arange(1, len(stamps) + 1)[:, None] > np.array(
            [h if h is not None else len(stamps) for h in hits])[None, :]
        curves[num_seeds] = (stamps, solved_frac.mean(axis=1))
        rows.append([
            num_seeds, f"{compile_s:.2f}", f"{run_s:.2f}", f"{len(solved)}/{num_seeds} ({len(solved) / num_seeds:.0%})",
            f"{np.median(solved):.2f}" if solved else "—", f"{max(solved):.2f}" if solved else "—",
            f"{num_seeds * total_timesteps / run_s:.3g}",
        ])
    return rows, curves


def main(quick: bool = False, summary: dict | None = None) -> str:
    """Measure, write `scaling.md` + `.png`, return the markdown; key figures go into `summary`."""
    # Full run ≈ 7 min on 2 cores, most of it solving: (1 + 4 + … + 256) seeds × 200k steps.
    # 200k steps per seed is about where the classic settings solve CartPole; seeds that
    # have not reached 475 by then are reported as unsolved rather than trained longer.
    budget = 2**13 if quick else 2**17
    env_counts = (4, 64) if quick else (1, 4, 16, 64, 256, 1024)
    seed_counts = (4,) if quick else (1, 4, 16, 64, 256)
    solve_seeds = (4,) if quick else (1, 4, 16, 64, 256)
    solve_steps = 20_000 if quick else 200_000

    env_rows, env_points = throughput_vs_envs(env_counts, budget)
    seed_rows, seed_points = throughput_vs_seeds(seed_counts, budget * 4)
    solve_rows, solve_curves = time_to_solve(solve_seeds, solve_steps)
    if summary is not None:
        summary["scaling_envs"] = {n: rate for n, rate, _, _ in env_points}
        summary["scaling_seeds"] = {s: rate for s, rate, _, _ in seed_points}

    markdown = common.header(
        "Scaling: parallel environments, vmapped seeds, time to solve CartPole-v1",
        notes=[
            *(["QUICK smoke run — not a measurement."] if quick else []),
            f"env counts: one seed, ≈{budget:,} env steps per timed run; seeds: classic settings "
            f"(4 envs × 128 steps, 4×4 minibatch epochs), ≈{budget * 4:,} env steps per timed run "
            "(per-seed length = that / S, at least one 512-step iteration). Rates: median (min–max) of 3 runs.",
            f"solving: classic settings, {solve_steps:,} steps per seed (the learning rate anneals over that), "
            "one timed run per S after an ahead-of-time compile; the spread is over seeds. A seed is solved "
            f"at the first iteration whose finished episodes average ≥ {THRESHOLD:g}. Times are host "
            "timestamps after that iteration, from the start of the run.",
        ],
    )
    markdown += "\n### Throughput vs parallel environments (CartPole-v1, 1 seed)\n\n" + common.table(
        ["N envs", "steps × iterations", "compile s", "env-steps/s"], env_rows)
    markdown += "\n### Throughput vs vmapped seeds (CartPole-v1, classic settings)\n\n" + common.table(
        ["seeds", "steps / seed", "compile s", "env-steps/s (all seeds)"], seed_rows)
    markdown += "\n### Time to solve CartPole-v1, seeds trained at once\n\n" + common.table(
        ["seeds", "compile s", "run s", "solved", "median solve s", "last solve s", "env-steps/s"], solve_rows)

    figure, (ax_envs, ax_seeds, ax_solve) = common.new_figure(ncols=3, width=4.2)
    for ax, points, xlabel in ((ax_envs, env_points, "parallel envs (1 seed)"),
                               (ax_seeds, seed_points, "vmapped seeds (4 envs each)")):
        n, median, low, high = map(np.array, zip(*points))
        ax.errorbar(n, median, yerr=[median - low, high - median], fmt="o-", capsize=3)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("env-steps / s")
        ax.grid(True, which="both", alpha=0.3)
    for num_seeds, (stamps, fraction) in solve_curves.items():
        ax_solve.step(stamps, fraction, where="post", label=f"{num_seeds} seeds")
    ax_solve.set_xlabel("wall time (s), compile excluded")
    ax_solve.set_ylabel(f"fraction of seeds solved (≥ {THRESHOLD:g})")
    ax_solve.legend()
    markdown += "\n" + common.save_figure(figure, "scaling")
    return common.write_section("scaling", markdown)


if __name__ == "__main__":
    print(main(common.parse_quick()))
