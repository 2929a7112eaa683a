"""Every benchmark in one command, assembled into `benchmarks/README.md`.

    python -m benchmarks.run_all            # the measurement (≈17 min on 2 CPU cores)
    python -m benchmarks.run_all --quick    # smoke run (≈3 min), output marked as such

Runs, in order: PPO throughput at the classic CartPole settings (`ppo_throughput`),
the environment ceiling and PPO's share of it (`ceiling`), Stable-Baselines3 beside
pgjax (`sb3_peer`), scaling with environments, seeds and time to solve
(`scaling`), hyperparameter-sweep scaling (`sweep_scaling`, when that script is
present), one process vs two local ones (`multiprocess`) and the token-RL methods on
three token tasks (`token_algorithms`). Each script also runs on its own
(`python -m benchmarks.<name> [--quick]`) and writes `benchmarks/<name>.md` and PNGs;
this one adds a header, a paragraph on what limits the speed (written from the measured
figures) and joins them into the README. A section that fails is reported in the README
with its error; the others still run, and the exit status is 1.

The investigations that recorded a decision (the profile of one PPO iteration, the progress
callback's cost, token generation with and without the key/value cache, ...) are studies,
run on their own (`studies/README.md`); benchmarks never import them.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.util
import inspect
import os
import time
import traceback
from collections.abc import Callable

from benchmarks import common

# (module name, what it answers), in README order. `sweep_scaling` is optional.
SECTIONS = (
    ("ppo_throughput", "PPO throughput at the classic CartPole settings, 1/8/64 seeds"),
    ("ceiling", "raw env and env + policy speed for 1…4096 envs on four environments, and PPO's share of it"),
    ("sb3_peer", "Stable-Baselines3 PPO vs pgjax PPO at SB3's defaults: env-steps/s, time to 475"),
    ("scaling", "env-steps/s vs parallel envs and vmapped seeds; time to solve CartPole with 1…256 seeds"),
    ("sweep_scaling", "hyperparameter sweeps: runs per program vs throughput"),
    ("multiprocess", "1 process x 4 CPU devices vs 2 local processes x 2 devices (--distributed)"),
    ("token_algorithms", "PPO, GRPO, Dr. GRPO, REINFORCE++, RLOO, REINFORCE on three token tasks, 4 unseen seeds"),
)
EXTRA_VERSIONS = ("torch", "stable-baselines3", "gymnasium")


def _section_function(module) -> Callable[[bool, dict], str | None]:
    """`fn(quick, summary)` for a benchmark module: its `section` function if it has one,
    else its `main`, called with whichever of `quick`/`argv` and `summary` it accepts."""
    fn = getattr(module, "section", None) or module.main
    parameters = inspect.signature(fn).parameters

    def call(quick: bool, summary: dict):
        kwargs = {}
        if "quick" in parameters:
            kwargs["quick"] = quick
        elif "argv" in parameters:
            kwargs["argv"] = ["--quick"] if quick else []
        if "summary" in parameters:
            kwargs["summary"] = summary
        return fn(**kwargs)

    return call


def run_section(name: str, quick: bool, summary: dict) -> tuple[str, float, bool] | None:
    """Run one benchmark module. Returns `(markdown, seconds, ok)`, or None when the module
    does not exist (only `sweep_scaling` may be absent)."""
    module_name = f"benchmarks.{name}"
    if importlib.util.find_spec(module_name) is None:
        return None
    start = time.perf_counter()
    common.log(f"run_all: ── {name} {'(quick) ' if quick else ''}──")
    try:
        markdown = _section_function(importlib.import_module(module_name))(quick, summary)
        if not isinstance(markdown, str):  # a script that only writes its .md file
            markdown = (common.BENCH_DIR / f"{name}.md").read_text()
        ok = True
    except Exception:  # noqa: BLE001 — one broken section must not lose the others
        error = traceback.format_exc()
        common.log(error)
        markdown = f"## {name}\n\n**This section failed in this run:**\n\n```\n{error[-3000:]}\n```\n"
        ok = False
    seconds = time.perf_counter() - start
    common.log(f"run_all: {name} took {seconds:.0f} s")
    return markdown, seconds, ok


def _fmt_rate(x: float) -> str:
    return f"{x:.2e}"


def speed_limits(summary: dict) -> str:
    """The 'what limits the speed' paragraph, written from the figures of this run."""
    lines = []
    ceiling = summary.get("ceiling", {})
    if ceiling:
        parts = []
        for (env_name, num_envs), entry in ceiling.items():
            if env_name == "CartPole-v1":
                parts.append(f"{entry['ppo'] / entry['policy']:.0%} at {num_envs} envs")
        if parts:
            lines.append("PPO training keeps " + ", ".join(parts) + " of the env + policy ceiling on CartPole-v1 "
                         "(ratio of medians): every collected step costs one policy forward in the rollout "
                         "but, in learning, 4 epochs of forward + backward passes and an Adam step per "
                         "minibatch, so training cannot approach the collection-only ceiling.")
        minatar = [(n, e) for (env_name, n), e in ceiling.items() if env_name == "Breakout-MinAtar"]
        cartpole = {n: e for (env_name, n), e in ceiling.items() if env_name == "CartPole-v1"}
        if minatar and cartpole:
            n, entry = minatar[-1]
            if n in cartpole:
                lines.append(f"Image observations change the balance: at {n} envs Breakout-MinAtar's raw env "
                             f"runs at {_fmt_rate(entry['env'])} env-steps/s but its env + policy loop at "
                             f"{_fmt_rate(entry['policy'])} (CartPole's: {_fmt_rate(cartpole[n]['policy'])}), "
                             f"so there the network, not the environment, sets the pace; PPO on it reaches "
                             f"{_fmt_rate(entry['ppo'])}.")
    throughput = summary.get("ppo_throughput", {})
    if throughput:
        best_seeds = max(throughput, key=lambda s: throughput[s]["rate"])
        one = throughput.get(1)
        text = (f"The best use of the machine at the classic settings was {best_seeds} seed(s) in one program: "
                f"{_fmt_rate(throughput[best_seeds]['rate'])} env-steps/s")
        if one:
            text += f" against {_fmt_rate(one['rate'])} for one seed (compile {one['compile_s']:.1f} s)"
        lines.append(text + ".")
    if "sb3_speedup" in summary:
        lines.append(f"Against Stable-Baselines3 on the same hyperparameters (1 env, minibatches of 64), "
                     f"pgjax runs {summary['sb3_speedup']:.1f}× the env-steps/s: both do the same 320 small "
                     "gradient steps per 2048 env steps, and pgjax's are compiled into one XLA program "
                     "with the environment, without Python or PyTorch dispatch in between.")
    studies = ("Where the time of one iteration goes (rollout against learning epochs, and the XLA kernels "
               "behind them) is a study: `studies/profile_iteration.md` and `studies/kernel_profile.md`.")
    if not lines:
        return f"_No figures were collected in this run (sections failed)._ {studies}\n"
    return " ".join(lines) + f"\n\n{studies}\n"


def header(quick: bool, started: str, load_start: float | None) -> str:
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    load = ""
    if load_start is not None and load_end is not None:
        load = f"; 1-min load average {load_start:.2f} at start, {load_end:.2f} at end"
    version_text = ", ".join(f"{k} {v}" for k, v in common.versions(EXTRA_VERSIONS).items())
    lines = [
        "# pgjax benchmarks",
        "",
        *(["> **QUICK smoke run — not a measurement.** Step counts are cut to check that every script "
           "runs; rerun without `--quick` for figures.", ""] if quick else []),
        f"- date: {started}",
        f"- machine: {common.cpu_description()}; JAX devices: {common.device_description()}{load}",
        f"- versions: {version_text}",
        "- protocol: every figure is the median of ≥ 3 runs with (min–max); compile time is measured apart "
        "(ahead-of-time `jax.jit(f).lower(...).compile()`), never inside a timed run. Each section repeats "
        "its own date / machine / versions block.",
        "",
        "## How to reproduce",
        "",
        "```bash",
        "pip install -e '.[bench]'              # torch (CPU), stable-baselines3, gymnasium for the SB3 peer",
        "python -m benchmarks.run_all           # every section → benchmarks/README.md + PNGs (≈17 min, 2 cores)",
        "python -m benchmarks.run_all --quick   # ≈3 min smoke run",
        "python -m benchmarks.ceiling [--quick] # any one section on its own → benchmarks/ceiling.md",
        "JAX_PLATFORMS=cuda python -m benchmarks.run_all   # on a GPU (needs jax[cuda])",
        "```",
        "",
        "Run on a quiet machine: other processes on the same cores show up directly in the (min–max) ranges.",
        "",
        "**GPU.** The scripts run unchanged on a GPU (select it with `JAX_PLATFORMS=cuda`; the headers then "
        "name the card). No GPU table is included: no GPU was available for this run.",
        "",
        "**Peers.** `python -m benchmarks.peers [--quick] [--peers rejax,sbx,sb3] [--sequential-runs K]` times pgjax PPO against Rejax 0.1.3, sbx-rl 0.28.0 (Stable-Baselines-Jax) and Stable-Baselines3 in one invocation, at the classic CartPole settings (pgjax's `Config.for_env(\"CartPole-v1\")` preset, checked field by field: 4 envs × 128 steps, 4 epochs × 4 minibatches, 64-64 tanh, 500k steps per seed), for 1 seed, 8 seeds and 1024 envs, each library's final return (64 evaluation episodes) beside its env-steps/s: `benchmarks/peers.md`. Rejax needs gymnax 0.0.9's four-value `step` and sbx pins its own stack, so on its first run the script creates a venv for each under `benchmarks/.peer_venvs/` (git-ignored) from the pinned `benchmarks/peers/*-requirements.txt` (both on JAX 0.10.2, as pgjax's venv; a few minutes and about 3 GB). SB3 runs in pgjax's venv (the `bench` extra) through `benchmarks/sb3_peer.py`. A peer that cannot be installed is listed as \"not installed: reason\", not dropped. Rejax vmaps seeds like `ppo.train_batch`; sbx and SB3 do not, so their 8-seed rows are runs one after another. PureJaxRL is not compared: it is not packaged, and it unpacks gymnax's old four-value `step`. Not part of `run_all` (its sequential peers alone take most of an hour); every speed ratio of this README is against a peer timed in the same run.",
        "",
        "Other scripts, not part of this run: `python -m benchmarks.family` (every algorithm at equal budgets), "
        "`python -m benchmarks.presets` (every `Config.for_env` preset on 32 unseen seeds: IQM with a bootstrap "
        "interval, worst seed, seeds at the threshold; `--set` for variants on tuning seeds, `--update` to measure "
        "chosen presets again in place), `python -m benchmarks.memory` (PPO-MLP against PPO-GRU on the memory tasks "
        "on 8 unseen seeds, and the env-steps/s of the two networks at equal settings, side by side: "
        "`benchmarks/memory.md`), `python -m benchmarks.minatar` (the MLP and the conv torso on four MinAtar games, "
        "by env-steps/s and by return, and XLA's convolution against the im2col product: `benchmarks/minatar.md`) "
        "and `python -m benchmarks.time_to_result` (wall time until 95 % of 64 seeds have solved CartPole, pgjax "
        "in one program against Rejax, sbx and SB3 as each is run for a sweep: `benchmarks/time_to_result.md`).",
        "",
        "**Studies.** The investigations that recorded a decision are in `studies/`, each with its question, "
        "what was decided and its command in `studies/README.md`: where one PPO iteration's time goes and its XLA "
        "kernels, pgjax's and Rejax's distance from the arithmetic limit, the progress callback's cost, token "
        "generation with and without the key/value cache, how CartPole presets' failing seeds fail and how often "
        "untrained noise reaches the Mountain Car goal. They may import `benchmarks/`, never the reverse, and are "
        "not part of this run.",
        "",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Run every pgjax benchmark and write benchmarks/README.md.")
    parser.add_argument("--quick", action="store_true", help="small step counts, for a smoke run (≈3 min)")
    parser.add_argument("--only", default="", help="comma-separated section names (default: all)")
    args = parser.parse_args(argv)
    only = set(filter(None, args.only.split(",")))
    unknown = only - {name for name, _ in SECTIONS}
    if unknown:
        raise ValueError(f"--only: unknown sections {sorted(unknown)}; choose from {[n for n, _ in SECTIONS]}")

    started = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    start = time.perf_counter()
    summary: dict = {}
    results = []
    for name, purpose in SECTIONS:
        if only and name not in only:
            continue
        result = run_section(name, args.quick, summary)
        if result is not None:
            results.append((name, purpose, *result))
    total = time.perf_counter() - start

    contents = common.table(
        ["section", "what it answers", "wall time of the section"],
        [[f"[{name}](#{name})" if ok else f"{name} (**failed**)", purpose, f"{seconds:.0f} s"]
         for name, purpose, _, seconds, ok in results],
    )
    body = "".join(f'\n<a id="{name}"></a>\n\n{markdown}\n' for name, _, markdown, _, _ in results)
    readme = (
        header(args.quick, started, load_start)
        + f"## Contents\n\nWhole run: {total / 60:.1f} min.\n\n{contents}\n"
        + "## What limits the speed\n\n"
        + ("_(from the quick run's figures — indicative only)_ " if args.quick else "")
        + speed_limits(summary)
        + body
    )
    (common.BENCH_DIR / "README.md").write_text(readme)
    common.log(f"run_all: wrote {common.BENCH_DIR / 'README.md'} after {total / 60:.1f} min")
    return 0 if all(ok for *_, ok in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
