"""PPO, GRPO and their LLM-literature variants, RLOO and plain REINFORCE on the three token tasks.

Every method trains the same policy, the preset causal transformer (`network="transformer"`,
d_model 64, 2 layers, 4 heads; `pgjax.algorithms.presets.TRANSFORMER_POLICY`), with the token
presets (`pgjax.algorithms.presets.TOKEN_PRESETS`: 300 iterations of 128 episodes, one answer per
window) on

- `Reverse4-tokens-v0` (reward: the fraction of the 4 positions right),
- `Add2-tokens-v0` (reward: exact match of the 3-digit sum, 0 or 1: a random answer is
  right once in 14³ ≈ 2,700, so most groups carry no signal),
- `CopyEOS-tokens-v0` (1–4 digits copied, then EOS; a run-on answer is worth half),

its 4 seeds vmapped in one program. The seeds are split off `jax.random.key(1)`; the presets
were chosen on 4-digit reversal with seeds split off `jax.random.key(0)`, so none of these
was used for tuning, and the other two tasks not at all.

Per method and task: compile and run time of the whole 4-seed program; generated tokens/s
(env steps are tokens); per seed the mean training reward of the last 10 iterations
(sampled answers), greedy exact match and completion length on the held-out prompts
(`pgjax.evaluate_heldout`), the final KL to the initial policy (GRPO's family,
which keeps one), the share of groups whose rewards were all equal (`frac_reward_zero_std`,
last 10 iterations) and the time to a training reward of 0.9 (compile time plus the run's
share up to the first iteration at 0.9: all seeds share one program).

Reversal runs all seven methods; addition and CopyEOS the five of the first list
(`EVERY_TASK`), for CPU time.

A second study isolates the loss's length normalisation on CopyEOS, where answers have 2–5
tokens: GRPO as in the table, changing only `loss_agg_mode` (verl's four modes), and
follows the sampled answers' length and the share cut at the 5-token limit without EOS.

Each run is kept in `benchmarks/token_algorithms.json` as soon as it ends, so an interrupted
run loses at most one training; `--resume` keeps what is there.

Run: `python -m benchmarks.token_algorithms [--quick] [--resume]` -> `benchmarks/token_algorithms.md`,
`token_algorithms.png` (held-out exact match against KL to the reference, per task) and
`token_lengths.png` (completion length under each aggregation mode).
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np

from benchmarks import common
from pgjax import AGGREGATIONS, evaluate_heldout, grpo, ppo, reinforce, rloo
from pgjax.algorithms import presets

TASKS = ("Reverse4-tokens-v0", "Add2-tokens-v0", "CopyEOS-tokens-v0")
LENGTH_TASK = "CopyEOS-tokens-v0"
SEEDS = 4
ROOT = 1
STORE = common.BENCH_DIR / "token_algorithms.json"

METHODS = {
    "PPO": (ppo, {}),
    "GRPO": (grpo, {}),
    "GRPO, β = 0.04 (k3 in the loss)": (grpo, dict(kl_coef=0.04, kl_estimator="k3")),
    "Dr. GRPO": (grpo, dict(scale_by_std=False, loss_agg_mode="seq-mean-token-sum-norm")),
    "REINFORCE++ (β = 0.01, k1 in the reward)": (grpo, dict(baseline="batch", kl_in_reward=True, kl_estimator="k1",
                                                             kl_coef=0.01)),
    "RLOO": (rloo, {}),
    "REINFORCE, no baseline": (reinforce, dict(baseline="none", normalize_advantages=False)),
}


# The five on every task; the KL-leashed GRPO and the no-baseline floor on reversal only (CPU time).
EVERY_TASK = ("PPO", "GRPO", "Dr. GRPO", "REINFORCE++ (β = 0.01, k1 in the reward)", "RLOO")


def _methods(env: str, quick: bool) -> list[str]:
    if quick:
        return list(METHODS)[:2]
    return list(METHODS) if env == TASKS[0] else list(EVERY_TASK)


def _config(module, env: str, overrides: dict, iterations: int):
    # REINFORCE has no token preset of its own: the same settings as the others'.
    preset = {} if env in module.Config.PRESETS else presets.TOKEN_PRESETS[env]
    config = module.Config.for_env(env, **{**preset, **overrides})
    return config.replace(total_timesteps=config.batch_size * iterations)


def measure(module, env: str, overrides: dict, iterations: int) -> dict:
    config = _config(module, env, overrides, iterations)
    keys = jax.random.split(jax.random.key(ROOT), SEEDS)
    started = time.perf_counter()
    program = jax.jit(module.train_batch).lower(config, keys).compile()
    compiled = time.perf_counter()
    states, metrics = jax.block_until_ready(program(config, keys))
    run = time.perf_counter() - compiled
    heldout = jax.jit(jax.vmap(lambda state: evaluate_heldout(config, state)))(states)
    reward = np.asarray(metrics["episode_return"])  # [iterations, seeds]
    reached = [int(np.argmax(r >= 0.9)) + 1 if np.any(r >= 0.9) else None for r in reward.T]
    curve = lambda name: np.asarray(metrics[name]).mean(axis=1).tolist() if name in metrics else None  # noqa: E731
    last = lambda name: np.asarray(metrics[name])[-10:].mean(axis=0).tolist() if name in metrics else None  # noqa: E731
    return {
        "compile": compiled - started,
        "run": run,
        "tokens_per_s": SEEDS * iterations * config.batch_size / run,
        "train_reward": reward[-10:].mean(axis=0).tolist(),
        "exact_match": np.asarray(heldout["exact_match"]).tolist(),
        "heldout_reward": np.asarray(heldout["reward"]).tolist(),
        "length": np.asarray(heldout["length"]).tolist(),
        "kl": np.asarray(metrics["reference_kl"])[-1].tolist() if "reference_kl" in metrics else None,
        "zero_std": last("frac_reward_zero_std"),
        "time_to_0.9": [None if i is None else (compiled - started) + run * i / iterations for i in reached],
        # Curves, the mean over seeds per iteration, for the length study.
        "curve_length": curve("episode_length"),
        "curve_clipped": curve("completion_clipped_fraction"),
        "curve_reward": curve("episode_return"),
    }


def _spread(values, digits=2) -> str:
    values = np.asarray(values, float)
    return f"{np.median(values):.{digits}f} ({values.min():.{digits}f}–{values.max():.{digits}f})"


def _time_to(times) -> str:
    done = [t for t in times if t is not None]
    if not done:
        return "never"
    return f"{np.median(done):.0f} s" + ("" if len(done) == len(times) else f" ({len(done)} of {len(times)} seeds)")


def plot_frontier(results: dict) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(TASKS), figsize=(4.2 * len(TASKS), 4), sharey=True)
    colors = {name: f"C{index}" for index, name in enumerate(METHODS)}  # one color per method in every panel
    for axis, env in zip(axes, TASKS):
        for name, result in results[env].items():
            if result["kl"] is not None:
                axis.scatter(result["kl"], result["exact_match"], label=name, alpha=0.8, color=colors[name])
        axis.set_xlabel("KL(π ‖ π_ref) at the last iteration (per token)")
        axis.set_title(env)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("held-out greedy exact match")
    axes[0].legend(fontsize=7)
    figure.suptitle(f"Reward against KL to the reference, {SEEDS} seeds per method")
    markdown = common.save_figure(figure, "token_algorithms")
    plt.close(figure)
    return markdown


def plot_lengths(results: dict) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (length_axis, clipped_axis, reward_axis) = plt.subplots(1, 3, figsize=(13, 4))
    for mode, result in results.items():
        iterations = np.arange(1, len(result["curve_length"]) + 1)
        length_axis.plot(iterations, result["curve_length"], label=mode)
        clipped_axis.plot(iterations, result["curve_clipped"], label=mode)
        reward_axis.plot(iterations, result["curve_reward"], label=mode)
    length_axis.axhline(3.5, color="grey", linestyle=":", label="right answers' mean (3.5)")
    for axis, label in ((length_axis, "completion length (tokens, EOS included)"),
                        (clipped_axis, "share cut at 5 tokens without EOS"), (reward_axis, "training reward")):
        axis.set_xlabel("iteration")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    length_axis.legend(fontsize=7)
    figure.suptitle(f"GRPO on {LENGTH_TASK}: the loss's aggregation over tokens, mean of {SEEDS} seeds")
    markdown = common.save_figure(figure, "token_lengths")
    plt.close(figure)
    return markdown


def _run_name(mode: str) -> str:
    """The length study's run of `loss_agg_mode=mode`: the table's GRPO row for GRPO's own mode."""
    return "GRPO" if mode == grpo.Config.loss_agg_mode else f"GRPO, {mode}"


def section(quick: bool = False, resume: bool = False) -> str:
    # A smoke run: 10 iterations of two methods and two aggregation modes.
    iterations = 10 if quick else 300
    modes = [grpo.Config.loss_agg_mode, "seq-mean-token-mean"] if quick else list(AGGREGATIONS)
    runs = [(env, name, *METHODS[name]) for env in TASKS for name in _methods(env, quick)]
    runs += [(LENGTH_TASK, _run_name(mode), grpo, dict(loss_agg_mode=mode)) for mode in modes
             if _run_name(mode) not in _methods(LENGTH_TASK, quick)]
    store = {} if quick or not (resume and STORE.exists()) else json.loads(STORE.read_text())
    for env, name, module, overrides in runs:
        key = f"{env} | {name}"
        if key in store:
            continue
        common.log(f"token_algorithms: {key}")
        store[key] = measure(module, env, overrides, iterations)
        if not quick:
            STORE.write_text(json.dumps(store) + "\n")
    results = {env: {name: store[f"{env} | {name}"] for name in _methods(env, quick)} for env in TASKS}
    lengths = {mode: store[f"{LENGTH_TASK} | {_run_name(mode)}"] for mode in modes}
    frontier, length_figure = plot_frontier(results), plot_lengths(lengths)
    tables = []
    for env in TASKS:
        rows = [[
            name, _spread(r["train_reward"]), _spread(r["exact_match"], 3), _spread(r["heldout_reward"]),
            "—" if r["kl"] is None else _spread(r["kl"], 3), _spread(r["length"], 1),
            "—" if r["zero_std"] is None else _spread(r["zero_std"]), f"{r['tokens_per_s']:,.0f}",
            f"{r['compile']:.0f} s", _time_to(r["time_to_0.9"]),
        ] for name, r in results[env].items()]
        tables += [f"### {env}", "", common.table(
            ["method", "train reward (last 10)", "held-out exact match", "held-out reward", "KL to π_ref",
             "held-out length", "groups with zero reward std", "tokens/s (4 seeds)", "compile", "time to 0.9"],
            rows)]
    length_rows = [[
        mode, f"{r['curve_length'][0]:.2f}", f"{np.mean(r['curve_length'][-10:]):.2f}",
        f"{r['curve_clipped'][0]:.2f}", f"{np.mean(r['curve_clipped'][-10:]):.2f}",
        _spread(r["train_reward"]), _spread(r["exact_match"], 3), _spread(r["length"], 2),
    ] for mode, r in lengths.items()]
    return "\n".join([
        common.header("Token RL: PPO, GRPO, Dr. GRPO, REINFORCE++, RLOO and REINFORCE on three token tasks"),
        f"The preset causal transformer (d_model 64, 2 layers, 4 heads), {iterations} iterations of 128 "
        f"episodes; {SEEDS} seeds per method split off `jax.random.key({ROOT})` (not used for tuning), vmapped in "
        "one program. Medians over the seeds (min–max). Held-out: greedy answers to every held-out prompt "
        "(626 for reversal and addition, 696 for CopyEOS; CopyEOS's are 90 % 4-digit strings, since the hash "
        "picks from every string, so a right held-out answer has 4.89 tokens on average). Speed columns "
        "(tokens/s, compile, time to 0.9) are the machine's as it was during each run, kept with `--resume`: "
        "a run that shared the cores with other jobs is slower; the learning columns do not depend on it (the "
        "same program gives the same numbers). Produced by `python -m benchmarks.token_algorithms`.",
        "",
        *tables,
        frontier,
        f"### Length normalisation on {LENGTH_TASK}",
        "",
        "GRPO as in the table, only `loss_agg_mode` changed. Sampled training answers: mean length and the "
        "share cut at the 5-token limit without EOS, at the first iteration and over the last 10 (mean of the "
        "seeds); a right answer has 2–5 tokens, 3.5 on average.",
        "",
        common.table(["loss_agg_mode", "length, iteration 1", "length, last 10", "cut, iteration 1",
                      "cut, last 10", "train reward (last 10)", "held-out exact match", "held-out length"],
                     length_rows),
        length_figure,
    ])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="30 iterations, for a smoke run (nothing is kept)")
    parser.add_argument("--resume", action="store_true", help="keep the runs already in token_algorithms.json")
    args = parser.parse_args(argv)
    print(common.write_section("token_algorithms", section(args.quick, args.resume)))


if __name__ == "__main__":
    main()
