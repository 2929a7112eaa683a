"""PPO, GRPO and their LLM-literature variants, RLOO and plain REINFORCE on 4-digit reversal.

Every method trains the same policy, the preset causal transformer (`network="transformer"`,
d_model 64, 2 layers, 4 heads; `pgjax.token_tasks.TRANSFORMER_POLICY`), on
`Reverse4-tokens-v0` for 300 iterations of 128 episodes (4 tokens each), its 4 seeds
vmapped in one program. The seeds are split off `jax.random.key(1)`; the presets were
chosen on seeds split off `jax.random.key(0)`, so none of these was used for tuning.

Per method: compile and run time of the whole 4-seed program; generated tokens/s (env
steps are tokens); per seed the mean training reward of the last 10 iterations (sampled
answers), greedy exact match and reward on the 626 held-out prompts
(`pgjax.token_tasks.evaluate_heldout`), the final KL to the initial policy (GRPO's
family, which keeps one), and the time to a training reward of 0.9 (compile time plus the
run's share up to the first iteration at 0.9: all seeds share one program, so each
seed's time is its share of the run).

Run: `python -m benchmarks.token_algorithms [--quick]` -> `benchmarks/token_algorithms.md`
and `token_algorithms.png` (final reward against KL to the reference).
"""

from __future__ import annotations

import time

import jax
import numpy as np

from benchmarks import common
from pgjax import grpo, ppo, reinforce, rloo
from pgjax.token_tasks import REVERSE4, evaluate_heldout

ENV = "Reverse4-tokens-v0"
SEEDS = 4
ROOT = 1

METHODS = {
    "PPO": (ppo, {}),
    "GRPO": (grpo, {}),
    "GRPO, β = 0.04 (k3 in the loss)": (grpo, dict(kl_coef=0.04, kl_estimator="k3")),
    "Dr. GRPO": (grpo, dict(scale_by_std=False, loss_agg_mode="seq-mean-token-sum-norm")),
    "REINFORCE++ (β = 0.01, k1 in the reward)": (grpo, dict(baseline="batch", kl_in_reward=True, kl_estimator="k1",
                                                             kl_coef=0.01)),
    "RLOO": (rloo, {}),
    "REINFORCE, no baseline": (reinforce, dict(REVERSE4, baseline="none", normalize_advantages=False)),
}


def measure(module, overrides: dict, iterations: int) -> dict:
    config = module.Config.for_env(ENV, **overrides)
    config = config.replace(total_timesteps=config.batch_size * iterations)
    keys = jax.random.split(jax.random.key(ROOT), SEEDS)
    started = time.perf_counter()
    program = jax.jit(module.train_batch).lower(config, keys).compile()
    compiled = time.perf_counter()
    states, metrics = jax.block_until_ready(program(config, keys))
    run = time.perf_counter() - compiled
    heldout = jax.jit(jax.vmap(lambda state: evaluate_heldout(config, state)))(states)
    reward = np.asarray(metrics["episode_return"])  # [iterations, seeds]
    reached = [int(np.argmax(r >= 0.9)) + 1 if np.any(r >= 0.9) else None for r in reward.T]
    return {
        "compile": compiled - started,
        "run": run,
        "tokens_per_s": SEEDS * iterations * config.batch_size / run,
        "train_reward": reward[-10:].mean(axis=0),
        "exact_match": np.asarray(heldout["exact_match"]),
        "heldout_reward": np.asarray(heldout["reward"]),
        "length": np.asarray(heldout["length"]),
        "kl": np.asarray(metrics["reference_kl"])[-1] if "reference_kl" in metrics else None,
        "time_to_0.9": [None if i is None else (compiled - started) + run * i / iterations for i in reached],
    }


def _spread(values, digits=2) -> str:
    values = np.asarray(values, float)
    return f"{np.median(values):.{digits}f} ({values.min():.{digits}f}–{values.max():.{digits}f})"


def _time_to(times) -> str:
    done = [t for t in times if t is not None]
    if not done:
        return "never"
    return f"{np.median(done):.0f} s" + ("" if len(done) == len(times) else f" ({len(done)} of {len(times)} seeds)")


def plot(results: dict) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for name, result in results.items():
        if result["kl"] is not None:
            axes.scatter(result["kl"], result["exact_match"], label=name, alpha=0.8)
    axes.set_xlabel("KL(π ‖ π_ref) at the last iteration (per token)")
    axes.set_ylabel("held-out greedy exact match")
    axes.set_title(f"{ENV}: reward against KL, {SEEDS} seeds each")
    axes.legend(fontsize=7)
    markdown = common.save_figure(figure, "token_algorithms")
    plt.close(figure)
    return markdown


def section(quick: bool = False) -> str:
    iterations = 30 if quick else REVERSE4["total_timesteps"] // REVERSE4["num_envs"] // REVERSE4["num_steps"]
    results = {}
    for name, (module, overrides) in METHODS.items():
        common.log(f"token_algorithms: {name}")
        results[name] = measure(module, overrides, iterations)
    figure = plot(results)
    rows = [[
        name, _spread(r["train_reward"]), _spread(r["exact_match"], 3), _spread(r["heldout_reward"]),
        "—" if r["kl"] is None else _spread(r["kl"], 3), _spread(r["length"], 1), f"{r['tokens_per_s']:,.0f}",
        f"{r['compile']:.0f} s", _time_to(r["time_to_0.9"]),
    ] for name, r in results.items()]
    return "\n".join([
        common.header("Token RL: PPO, GRPO, Dr. GRPO, REINFORCE++, RLOO and REINFORCE on 4-digit reversal"),
        f"`{ENV}`, the preset causal transformer (d_model 64, 2 layers, 4 heads), {iterations} iterations of 128 "
        f"episodes; {SEEDS} seeds per method split off `jax.random.key({ROOT})` (not used for tuning), vmapped in one "
        "program. Medians over the seeds (min–max). Held-out: greedy answers to the 626 held-out prompts.",
        "",
        common.table(["method", "train reward (last 10)", "held-out exact match", "held-out reward",
                      "KL to π_ref", "length", "tokens/s (4 seeds)", "compile", "time to 0.9"], rows),
        "",
        figure,
    ])


def main(argv=None) -> None:
    quick = common.parse_quick(argv)
    print(common.write_section("token_algorithms", section(quick)))


if __name__ == "__main__":
    main()
