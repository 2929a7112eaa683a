"""Time to a result for the sweep use case: wall seconds until 95 % of 64 seeds have solved CartPole.

    python -m benchmarks.time_to_result [--quick] [--seeds 64] [--sequential-runs 3] [--peers rejax,sbx,sb3]

Every library trains PPO at the classic CartPole settings of `benchmarks.peers` (4 envs ×
128 steps, 4 epochs × 4 minibatches, 64-64 tanh, 499,712 env steps per seed), each as it
is normally run for a sweep over seeds:

- pgjax: all seeds in one compiled program, as `pgjax train --seeds` runs them: sharded over
  the CPU split into one device per core (the command's default, `pgjax.runs.devices`); a
  seed has solved at the first iteration whose finished training episodes average ≥ 475
  (`episode_return`).
- Rejax 0.1.3 (own venv, `peers/rejax_runner.py`): all seeds in one program
  (`jax.vmap(algo.train)`); Rejax reports no training returns, so it is followed as its
  users follow it, with its evaluator inside the program: 16 episodes (actions sampled)
  every 16 iterations (8,192 steps); a seed has solved at the first evaluation ≥ 475.
- sbx and Stable-Baselines3: one seed after another (neither has vmapped seeds), solved at
  the first iteration whose finished training episodes average ≥ 475. Running all 64 here
  would take hours, so `--sequential-runs` of them are measured and the 64-seed sweep is
  projected from them: run k (k = 1…64) starts after k − 1 runs of the measured mean wall
  time (model set-up and sbx's per-model compile included) and solves at the measured
  solve time of measured run ((k − 1) mod runs) + 1, or never if that run did not.

For the programs that hold every seed, the time of an iteration is compile seconds plus
the run's share of iterations up to it (iterations take equal time in a compiled loop).
The figure, `time_to_result.png`, is the fraction of seeds solved against wall seconds;
`time_to_result.md` has the table. Ratios are between rows of one run on one machine.
"""

from __future__ import annotations

import argparse
import math
import statistics

import jax
import numpy as np

from benchmarks import common, peers
from pgjax import ppo

THRESHOLD = 475.0
FRACTION = 0.95
CURVE_EVERY = 8192  # Rejax's evaluation period: 16 iterations of 512 steps
CURVE_EPISODES = 16


def needed(num_seeds: int) -> int:
    return math.ceil(FRACTION * num_seeds)


def solve_times(curves: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """Per seed, the seconds at its first point ≥ THRESHOLD (inf if never). curves: [seeds, points]."""
    out = np.full(curves.shape[0], np.inf)
    for seed, curve in enumerate(curves):
        hit = common.first_reaching(curve, THRESHOLD)
        if hit is not None:
            out[seed] = seconds[hit]
    return out


def one_program(compile_s: float, run_s: float, curves: np.ndarray) -> dict:
    points = curves.shape[1]
    seconds = compile_s + run_s * np.arange(1, points + 1) / points
    return {"compile_s": compile_s, "run_s": run_s, "solve_s": solve_times(curves, seconds).tolist(),
            "wall_s": compile_s + run_s, "measured": curves.shape[0]}


def run_pgjax(num_seeds: int, steps: int) -> dict:
    """All seeds as `pgjax train --seeds` trains them: one program sharded over the CPU's devices."""
    config = ppo.Config.for_env("CartPole-v1", total_timesteps=steps)
    trained = common.train_seeds_sharded(ppo, config, num_seeds, jax.random.PRNGKey(0), repeats=1)
    row = one_program(trained["compile_s"], trained["timing"].median,
                      np.asarray(trained["metrics"]["episode_return"], np.float64).T)
    return {**row, "devices": trained["devices"]}


def run_rejax(num_seeds: int, steps: int) -> dict:
    python, reason = peers.peer_python("rejax")
    if python is None:
        return {"missing": reason}
    out = peers.run_runner(python, "rejax_runner.py", [
        "--num-envs", 4, "--num-seeds", num_seeds, "--total-timesteps", steps, "--repeats", 1,
        "--eval-episodes", 16, "--curve-every", CURVE_EVERY, "--curve-episodes", CURVE_EPISODES,
    ])
    row = one_program(out["compile_s"], out["run_s"][0], np.asarray(out["curve"], np.float64))
    return {**row, "version": out["versions"]["rejax"]}


def sequential(runs: list[dict], num_seeds: int) -> dict:
    """Project a 64-seed sweep run one seed after another from the measured runs (see the docstring).
    Each run: {"wall_s": seconds of the whole run, "solve_s": seconds into it, or None}."""
    wall = statistics.mean(run["wall_s"] for run in runs)
    solve = []
    for k in range(num_seeds):
        measured = runs[k % len(runs)]["solve_s"]
        solve.append(np.inf if measured is None else k * wall + measured)
    return {"wall_s": num_seeds * wall, "solve_s": solve, "per_run_s": wall, "measured": len(runs),
            "measured_solved": sum(run["solve_s"] is not None for run in runs)}


def run_sbx(runs: int, steps: int, num_seeds: int) -> dict:
    python, reason = peers.peer_python("sbx")
    if python is None:
        return {"missing": reason}
    out = peers.run_runner(python, "sbx_runner.py", [
        "--num-envs", 4, "--seeds", runs, "--total-timesteps", steps, "--eval-episodes", 16,
    ])
    measured = []
    for run in out["runs"]:
        stamps, _, returns = (np.asarray(column, np.float64) for column in zip(*run["curve"]))
        hit = common.first_reaching(returns, THRESHOLD)
        measured.append({"wall_s": run["setup_s"] + run["wall_s"],
                         "solve_s": None if hit is None else run["setup_s"] + float(stamps[hit])})
    return {**sequential(measured, num_seeds), "version": out["versions"]["sbx-rl"]}


def run_sb3(runs: int, steps: int, num_seeds: int) -> dict:
    try:
        import stable_baselines3  # noqa: F401
    except ImportError as error:
        return {"missing": f"{error} in pgjax's venv; `pip install -e '.[bench]'`"}
    from benchmarks import sb3_peer

    result = sb3_peer.run_sb3(
        steps, n_envs=4, seeds=tuple(range(runs)), n_steps=peers.NUM_STEPS, batch_size=128, n_epochs=4,
        learning_rate=lambda progress_remaining: 2.5e-4 * progress_remaining,
        clip_range=0.2, clip_range_vf=0.2, ent_coef=0.01, vf_coef=0.5, max_grad_norm=0.5,
    )
    measured = [{"wall_s": result["setup_s"] + run["wall_s"],
                 "solve_s": None if run["solve_s"] is None else result["setup_s"] + run["solve_s"]}
                for run in result["runs"]]
    return {**sequential(measured, num_seeds), "version": common._version("stable-baselines3")}


def time_to_fraction(solve_s: list[float], num_seeds: int) -> float:
    ordered = np.sort(np.asarray(solve_s, np.float64))
    return float(ordered[needed(num_seeds) - 1])


def plot(results: dict, num_seeds: int) -> str:
    figure, ax = common.new_figure(6.4, 4.0)
    for label, row in results.items():
        if "missing" in row:
            continue
        times = np.sort(np.asarray(row["solve_s"], np.float64))
        finite = times[np.isfinite(times)]
        fractions = np.arange(1, finite.size + 1) / num_seeds
        style = "-" if row["measured"] == num_seeds else "--"
        name = label if row["measured"] == num_seeds else f"{label} (projected from {row['measured']} runs)"
        ax.step(np.concatenate([[0.0], finite]), np.concatenate([[0.0], fractions]), style, where="post", label=name)
    ax.axhline(FRACTION, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xscale("log")
    ax.set_xlabel("wall seconds from the start (compile included)")
    ax.set_ylabel(f"fraction of {num_seeds} seeds solved (return ≥ {THRESHOLD:g})")
    ax.legend(fontsize="small")
    ax.set_title("CartPole-v1, classic PPO settings: time to a result")
    return common.save_figure(figure, "time_to_result")


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few seeds and steps, for a smoke run")
    parser.add_argument("--seeds", type=int, default=64)
    parser.add_argument("--sequential-runs", type=int, default=3, help="sbx/SB3 runs measured for the projection")
    parser.add_argument("--peers", default="rejax,sbx,sb3")
    args = parser.parse_args(argv)
    steps = peers.steps_per_seed(2 * CURVE_EVERY if args.quick else peers.CLASSIC["total_timesteps"], 4, 2)
    num_seeds, runs = (4, 1) if args.quick else (args.seeds, args.sequential_runs)
    chosen = args.peers.split(",") if args.peers else []
    common.log(f"time_to_result: pgjax, {num_seeds} seeds × {steps:,} steps in one program")
    results = {"pgjax": run_pgjax(num_seeds, steps)}
    runners = {"rejax": ("Rejax", lambda: run_rejax(num_seeds, steps)),
               "sbx": ("sbx", lambda: run_sbx(runs, steps, num_seeds)),
               "sb3": ("SB3", lambda: run_sb3(runs, steps, num_seeds))}
    for peer in chosen:
        label, runner = runners[peer]
        common.log(f"time_to_result: {label}")
        try:
            results[label] = runner()
        except RuntimeError as error:
            results[label] = {"missing": f"failed: {error}"}
    rows = []
    base = time_to_fraction(results["pgjax"]["solve_s"], num_seeds)
    for label, row in results.items():
        if "missing" in row:
            rows.append([label, "—", row["missing"], "—", "—", "—", "—"])
            continue
        to_result = time_to_fraction(row["solve_s"], num_seeds)
        solved = int(np.isfinite(row["solve_s"]).sum())
        how = (f"one program on {row['devices']} CPU devices" if "devices" in row else
               "one program" if label == "Rejax" else
               f"one seed after another; {row['measured']} runs measured ({row['measured_solved']} solved), "
               f"{row['per_run_s']:.0f} s each, {num_seeds} projected")
        rows.append([
            label, row.get("version", common._version("pgjax")), how, f"{solved}/{num_seeds}",
            f"{row['wall_s']:,.0f}", "never" if not np.isfinite(to_result) else f"{to_result:,.0f}",
            "—" if label == "pgjax" or not np.isfinite(to_result) else f"{to_result / base:.1f}×",
        ])
    notes = [
        *(["QUICK smoke run — not a measurement."] if args.quick else []),
        f"command: `python -m benchmarks.time_to_result --seeds {num_seeds} --sequential-runs {runs}"
        f"{'' if args.peers == 'rejax,sbx,sb3' else f' --peers {args.peers}'}`; "
        f"{steps:,} env steps per seed; solved: return ≥ {THRESHOLD:g} (pgjax, sbx, SB3: the training episodes "
        f"finished in an iteration; Rejax: its evaluator, {CURVE_EPISODES} episodes every {CURVE_EVERY:,} steps)",
        f"time to {FRACTION:.0%}: wall seconds from the start (compile or set-up included) until "
        f"{needed(num_seeds)} of {num_seeds} seeds have solved; 'never' when fewer solve within the budget; "
        "× pgjax: that time over pgjax's, in this run",
    ]
    markdown = common.header("Time to a result: 95 % of the seeds solve CartPole", notes=notes)
    markdown += "\n" + common.table(
        ["library", "version", "how the seeds run", "seeds solved", "whole sweep s", f"s to {FRACTION:.0%} solved",
         "× pgjax"], rows)
    markdown += "\n" + plot(results, num_seeds)
    return common.write_section("time_to_result", markdown)


if __name__ == "__main__":
    print(main())
