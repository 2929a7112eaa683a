"""pgjax PPO against real peers, timed in one invocation, at the classic CartPole settings.

    python -m benchmarks.peers [--quick] [--peers rejax,sbx,sb3] [--sequential-runs K]   → benchmarks/peers.md + .png

Settings (every library): CartPole-v1, 4 envs × 128 steps, 4 epochs × 4 minibatches,
64-64 tanh actor and critic, lr 2.5e-4 (annealed where the library can), γ .99, λ .95,
clip .2, ent .01, vf .5, max_grad_norm .5, 500k env steps per seed (a whole number of
iterations: 499,712 = 976 × 512), in three rows: 1 seed; 8 seeds; 1024 envs
(1024 × 128 steps, still 4 minibatches; 3 iterations = 393,216 steps). pgjax runs its
preset, `ppo.Config.for_env("CartPole-v1")`, checked here field by field against the
classic settings.

Peers, each with the version it reports and how it was installed:
- Rejax 0.1.3: needs gymnax 0.0.9's four-value `step`, so it runs in its own venv
  (`benchmarks/.peer_venvs/rejax`, made from `peers/rejax-requirements.txt` on the first
  run and again when that file changes) through `peers/rejax_runner.py`. Seeds are
  vmapped (`jax.vmap(algo.train)`), as pgjax's `ppo.train_batch` does.
- sbx-rl (Stable-Baselines-Jax): its own venv too (`peers/sbx-requirements.txt`,
  `peers/sbx_runner.py`). No vmapped seeds: the 8-seed row is 8 runs one after another.
- Stable-Baselines3: `benchmarks/sb3_peer.run_sb3` in pgjax's venv (the `bench` extra),
  at the classic settings; 8 seeds are 8 runs one after another.
A peer that cannot be installed or imported gets a "not installed: <reason>" row.

Timing: pgjax and Rejax compile their whole training program ahead of time
(`jax.jit(f).lower(...).compile()`) and time 3 calls (median, min–max). sbx and SB3
run Python loops; sbx compiles inside every new model's first iteration (its jitted
functions are per model), so for both the rate is timed from the end of the first
iteration to the end of training, and their "compile s" is the first iteration's time
minus the median iteration's (SB3: —; PyTorch compiles nothing, and `sb3_peer` runs an
untimed warm-up model first). Final return: the mean return of 64 fresh episodes of each
trained policy (actions sampled), each library with its own evaluator, untimed;
averaged over seeds. Speed ratios are only between rows of this run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np

from benchmarks import common
from pgjax import ppo

HERE = Path(__file__).resolve().parent
VENV_DIR = common.BENCH_DIR / ".peer_venvs"
REPO = common.BENCH_DIR.parent
PEERS = ("rejax", "sbx", "sb3")
ONE_DEVICE = "pgjax-1"  # pgjax's 8 seeds again, pinned to one device: what the split of the CPU adds
LABELS = {"pgjax": "pgjax", ONE_DEVICE: "pgjax", "rejax": "Rejax", "sbx": "sbx", "sb3": "SB3"}
NUM_STEPS = 128
EVAL_EPISODES = 64
REPEATS = 3
SUBPROCESS_TIMEOUT_S = 3600

# The classic CartPole PPO settings (PureJaxRL's / CleanRL's) in pgjax's field names.
CLASSIC = dict(
    num_envs=4, num_steps=128, update_epochs=4, num_minibatches=4, hidden_sizes=(64, 64), activation="tanh",
    learning_rate=2.5e-4, anneal_lr=True, gamma=0.99, gae_lambda=0.95, clip_eps=0.2, clip_value=True,
    ent_coef=0.01, vf_coef=0.5, max_grad_norm=0.5, normalize_advantages=True, normalize_observations=False,
    total_timesteps=500_000,
)
# (row name, envs, seeds)
SETTINGS = (("1 seed", 4, 1), ("8 seeds", 4, 8), ("1024 envs", 1024, 1))


def steps_per_seed(total: int, num_envs: int, min_iterations: int) -> int:
    """A whole number of iterations, at least `min_iterations` (sbx and SB3 time iterations 2…n)."""
    batch = num_envs * NUM_STEPS
    return max(total // batch, min_iterations) * batch


def preset_check() -> str:
    """One line: does pgjax's CartPole preset equal the classic settings, and where not."""
    preset = ppo.Config.for_env("CartPole-v1").flat_fields()  # the network's fields by their flat names
    differences = [f"{name} {preset[name]!r} (classic {value!r})"
                   for name, value in CLASSIC.items() if preset[name] != value]
    if differences:
        return "pgjax preset `ppo.Config.for_env(\"CartPole-v1\")` differs from the classic settings: " + \
            "; ".join(differences) + "."
    return ("pgjax runs its preset `ppo.Config.for_env(\"CartPole-v1\")`, which equals the classic settings in "
            "every field (" + ", ".join(f"{k}={v}" for k, v in CLASSIC.items()) + "); only `num_envs` and "
            "`total_timesteps` are set per row. pgjax: one Adam (ε 1e-5) over the summed loss, global-norm "
            "clipping, orthogonal init, truncated episodes bootstrapped from their final observation.")


# ---------------------------------------------------------------- pgjax


def run_pgjax(num_envs: int, num_seeds: int, steps: int, with_hlo: bool = False, devices: int | None = None) -> dict:
    """pgjax's row: one seed is `ppo.train`; several are trained as `pgjax train --seeds` trains
    them, in one program sharded over the CPU's devices (`common.train_seeds_sharded`; default:
    one device per core, `devices` pins the count). `with_hlo` adds the optimised HLO of the
    one-seed program (`"hlo"`)."""
    config = ppo.Config.for_env("CartPole-v1", num_envs=num_envs, total_timesteps=steps)
    key = jax.random.PRNGKey(0)

    def final_return(state, eval_key):
        return ppo.evaluate(config, state, eval_key, EVAL_EPISODES).mean()

    eval_key = jax.random.PRNGKey(1)
    if num_seeds == 1:
        executable, compile_s, timing, (states, _) = common.compile_and_time(ppo.train, config, key, repeats=REPEATS)
        returns = [float(jax.jit(final_return)(states, eval_key))]
        used, extra = 1, ({"hlo": executable.as_text()} if with_hlo else {})
    else:
        trained = common.train_seeds_sharded(ppo, config, num_seeds, key, REPEATS, devices)
        compile_s, timing, used, extra = trained["compile_s"], trained["timing"], trained["devices"], {}
        returns = np.asarray(jax.jit(jax.vmap(final_return))(
            trained["states"], jax.random.split(eval_key, num_seeds))).tolist()
    return {
        "compile_s": compile_s, "timing": timing, "env_steps": num_seeds * config.num_iterations * config.batch_size,
        "returns": returns, "devices": used, **extra,
    }


# ---------------------------------------------------------------- peer venvs


def _reason(text: str) -> str:
    """The telling line of a failed command's output: its last `ERROR`/`Error` line, else its last line."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("WARNING: Location")]
    errors = [line for line in lines if "error" in line.lower()]
    reason = (errors or lines or ["no output"])[-1]
    return reason if len(reason) <= 200 else reason[:197] + "…"


def peer_python(name: str) -> tuple[Path | None, str]:
    """The Python of `name`'s venv, made from `peers/<name>-requirements.txt` if it is missing or stale.
    Returns `(python, "")`, or `(None, reason)` when it cannot be installed."""
    requirements = HERE / f"{name}-requirements.txt"
    venv = VENV_DIR / name
    python = venv / "bin" / "python"
    stamp = venv / "requirements.sha256"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == digest:
        return python, ""
    shutil.rmtree(venv, ignore_errors=True)
    VENV_DIR.mkdir(exist_ok=True)
    log_path = VENV_DIR / f"{name}-install.log"
    common.log(f"peers: creating {venv.relative_to(REPO)} from {requirements.relative_to(REPO)} "
               f"(once; takes minutes; log: {log_path.relative_to(REPO)})")
    with open(log_path, "w") as log_file:
        for command in ([sys.executable, "-m", "venv", str(venv)],
                        [str(python), "-m", "pip", "install", "--no-input", "-r", str(requirements)]):
            log_file.write(f"$ {' '.join(command)}\n")
            log_file.flush()
            completed = subprocess.run(command, stdout=log_file, stderr=subprocess.STDOUT, cwd=REPO)
            if completed.returncode != 0:
                return None, f"`{' '.join(Path(c).name for c in command[:3])} …` failed: " + \
                    _reason(log_path.read_text())
    stamp.write_text(digest)
    return python, ""


def run_runner(python: Path, script: str, args: list) -> dict:
    """Run `peers/<script>` in a peer venv; its last stdout line is JSON. Raises RuntimeError on failure."""
    command = [str(python), str(HERE / script), *map(str, args)]
    common.log(f"peers: {' '.join([python.parent.parent.name + '/python', script, *map(str, args)])}")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    try:
        completed = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env,
                                   timeout=SUBPROCESS_TIMEOUT_S)
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(f"timed out after {SUBPROCESS_TIMEOUT_S} s") from error
    if completed.returncode != 0:
        raise RuntimeError(f"exit {completed.returncode}: {_reason(completed.stderr)}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- peers


def run_rejax(python: Path, num_envs: int, num_seeds: int, steps: int, hlo_path: Path | None = None) -> dict:
    """Rejax's row; with `hlo_path`, the runner writes its timed program's optimised HLO there."""
    out = run_runner(python, "rejax_runner.py", [
        "--num-envs", num_envs, "--num-seeds", num_seeds, "--total-timesteps", steps,
        "--repeats", REPEATS, "--eval-episodes", EVAL_EPISODES, *(["--hlo-out", hlo_path] if hlo_path else []),
    ])
    return {
        "compile_s": out["compile_s"], "timing": common.Timing(tuple(out["run_s"])), "env_steps": out["env_steps"],
        "returns": out["final_return_per_seed"], "versions": out["versions"],
    }


def _sequential_rows(runs: list[dict], settings: list[tuple[str, int]]) -> dict:
    """Rows from runs made one after another: `(row name, n)` uses the first n runs.
    One run: median (min–max) over runs of its own rate; n runs: their steps over their time."""
    rows = {}
    for name, count in settings:
        chosen = runs if count == 1 else runs[:count]
        compiles = [run["compile_s"] for run in chosen if run["compile_s"] is not None]
        compile_s = statistics.median(compiles) if compiles else None
        if count == 1:
            timing = common.Timing(tuple(run["timed_s"] for run in chosen))
            timed_steps = chosen[0]["timed_steps"]
            wall = common.Timing(tuple(run["wall_s"] for run in chosen))
            returns = [chosen[0]["final_return"]]
        else:
            timing = common.Timing((sum(run["timed_s"] for run in chosen),))
            timed_steps = sum(run["timed_steps"] for run in chosen)
            wall = common.Timing((sum(run["wall_s"] for run in chosen),))
            returns = [run["final_return"] for run in chosen]
        rows[name] = {
            "compile_s": compile_s, "timing": timing, "timed_steps": timed_steps, "wall": wall,
            "env_steps": sum(run["env_steps"] for run in chosen) if count > 1 else chosen[0]["env_steps"],
            "returns": returns, "runs": len(chosen), "sequential": len(chosen) if count > 1 else 1, "wanted": count,
        }
    return rows


def _sequential_plan(settings: dict, quick: bool, cap: int = 8) -> list[tuple[int, int, int, list[tuple[str, int]]]]:
    """For libraries whose seeds run one after another: `(envs, steps, runs, [(row, seeds)])` per
    group of rows that can share runs (1 and 8 seeds at 4 envs share 8 runs, or `cap` of them).
    A group of one-seed rows gets 3 runs, for a median (quick: 1)."""
    groups: dict[tuple[int, int], list[tuple[str, int]]] = {}
    for name, (num_envs, num_seeds, steps) in settings.items():
        groups.setdefault((num_envs, steps), []).append((name, num_seeds))
    plan = []
    for (num_envs, steps), named in groups.items():
        runs = min(max(seeds for _, seeds in named), cap)
        plan.append((num_envs, steps, REPEATS if runs == 1 and not quick else runs, named))
    return plan


def run_sbx(python: Path, settings: dict, quick: bool, cap: int = 8) -> dict:
    rows, versions = {}, {}
    for num_envs, steps, runs, named in _sequential_plan(settings, quick, cap):
        try:
            out = run_runner(python, "sbx_runner.py", [
                "--num-envs", num_envs, "--seeds", runs, "--total-timesteps", steps, "--eval-episodes", EVAL_EPISODES,
            ])
        except RuntimeError as error:
            rows.update({name: f"failed: {error}" for name, _ in named})
            continue
        versions = out["versions"]
        rows.update(_sequential_rows(out["runs"], named))
    for row in rows.values():
        if isinstance(row, dict):
            row["versions"] = versions
    return rows


def run_sb3(settings: dict, quick: bool, cap: int = 8) -> dict:
    """`benchmarks.sb3_peer.run_sb3` (its protocol: an untimed warm-up model, then one `learn` per
    seed) at the classic settings, turned into the same per-run records as `sbx_runner.py`'s."""
    from benchmarks import sb3_peer

    rows = {}
    for num_envs, steps, runs_needed, named in _sequential_plan(settings, quick, cap):
        common.log(f"peers: SB3 (sb3_peer.run_sb3), {num_envs} envs, {runs_needed} run(s) × {steps:,} steps")
        try:
            result = sb3_peer.run_sb3(
                steps, n_envs=num_envs, seeds=tuple(range(runs_needed)), eval_episodes=EVAL_EPISODES,
                n_steps=NUM_STEPS, batch_size=num_envs * NUM_STEPS // 4, n_epochs=4,
                learning_rate=lambda progress_remaining: 2.5e-4 * progress_remaining,
                clip_range=0.2, clip_range_vf=0.2, ent_coef=0.01, vf_coef=0.5, max_grad_norm=0.5,
            )
        except Exception as error:  # one failed setting is reported in its rows; the others still run
            rows.update({name: f"failed: {type(error).__name__}: {error}"[:200] for name, _ in named})
            continue
        runs = []
        for run in result["runs"]:
            steps_done, _, stamps = run["curve"]  # stamps: seconds from the start, at the end of each iteration
            runs.append({
                "compile_s": None, "wall_s": run["wall_s"],  # PyTorch compiles nothing; warmed up untimed
                "timed_s": float(stamps[-1] - stamps[0]), "timed_steps": int(steps_done[-1] - steps_done[0]),
                "env_steps": int(steps_done[-1]), "final_return": run["eval_return"],
            })
        rows.update(_sequential_rows(runs, named))
    return rows


# ---------------------------------------------------------------- report


def _versions_sb3() -> dict:
    return {name: common._version(name) for name in ("stable-baselines3", "torch", "gymnasium")}


def _seconds(timing: common.Timing) -> str:
    return timing.seconds() if len(timing.samples) > 1 else f"{timing.median:.3g} s"


def _rate(timing: common.Timing, work: float) -> str:
    return timing.rate_str(work) if len(timing.samples) > 1 else f"{work / timing.median:.3g}"


def _return_cell(returns: list[float]) -> str:
    if len(returns) == 1:
        return f"{returns[0]:.1f}"
    return f"{np.mean(returns):.1f} ({min(returns):.0f}–{max(returns):.0f})"


def main(quick: bool = False, summary: dict | None = None, peers: tuple[str, ...] = PEERS,
         sequential_runs: int = 8) -> str:
    """Measure pgjax and every installable peer, write `peers.md` + `.png`, return the markdown."""
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    total = 50_000 if quick else CLASSIC["total_timesteps"]
    settings = {name: (num_envs, num_seeds, steps_per_seed(total, num_envs, 2))
                for name, num_envs, num_seeds in SETTINGS}
    results: dict[str, dict[str, dict | str]] = {}  # library → row name → result, or a reason string

    results["pgjax"] = {}
    for name, (num_envs, num_seeds, steps) in settings.items():
        common.log(f"peers: pgjax, {name}: {num_envs} envs × {num_seeds} seed(s) × {steps:,} steps")
        results["pgjax"][name] = run_pgjax(num_envs, num_seeds, steps)
    eight = settings["8 seeds"]
    common.log(f"peers: pgjax, 8 seeds on 1 device: {eight[0]} envs × {eight[1]} seeds × {eight[2]:,} steps")
    results[ONE_DEVICE] = {"8 seeds": run_pgjax(*eight, devices=1)}

    installs = {"pgjax": f"this checkout, in the running venv (`pip install -e .`); "
                         f"jax {common._version('jax')}, gymnax {common._version('gymnax')}"}
    versions = {"pgjax": common._version("pgjax")}
    versions[ONE_DEVICE] = versions["pgjax"] + ", 1 device"
    for peer in peers:
        label = LABELS[peer]
        try:
            if peer == "sb3":
                try:
                    import stable_baselines3  # noqa: F401
                    import torch  # noqa: F401
                except ImportError as error:
                    raise LookupError(f"{error} in pgjax's venv; `pip install -e '.[bench]'`") from error
                results[peer] = run_sb3(settings, quick, sequential_runs)
                v = _versions_sb3()
                versions[peer] = v["stable-baselines3"]
                installs[peer] = (f"pgjax's venv, the `bench` extra (`pip install -e '.[bench]'`); "
                                  f"torch {v['torch']}, gymnasium {v['gymnasium']}; run by `benchmarks/sb3_peer.py`")
                continue
            python, reason = peer_python(peer)
            if python is None:
                raise LookupError(reason)
            if peer == "rejax":
                results[peer] = {}
                for name, setting in settings.items():
                    try:
                        results[peer][name] = run_rejax(python, *setting)
                    except RuntimeError as error:
                        results[peer][name] = f"failed: {error}"
            else:
                results[peer] = run_sbx(python, settings, quick, sequential_runs)
            measured = [row for row in results[peer].values() if isinstance(row, dict)]
            if not measured:
                raise RuntimeError(next(iter(results[peer].values())).removeprefix("failed: "))
            v = measured[0]["versions"]
            main_package = "rejax" if peer == "rejax" else "sbx-rl"
            versions[peer] = v[main_package]
            installs[peer] = (f"own venv `benchmarks/.peer_venvs/{peer}` from `benchmarks/peers/{peer}-requirements.txt`; "
                              + ", ".join(f"{k} {val}" for k, val in v.items() if k != main_package))
        except LookupError as error:
            results[peer] = f"not installed: {error}"
            versions[peer], installs[peer] = "—", results[peer]
            common.log(f"peers: {label} {results[peer]}")
        except RuntimeError as error:
            results[peer] = f"failed: {error}"
            versions[peer] = versions.get(peer, "—")
            installs.setdefault(peer, "—")
            common.log(f"peers: {label} {results[peer]}")
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

    rows, chart = [], {}
    for name, (num_envs, num_seeds, steps) in settings.items():
        pgjax_rate = results["pgjax"][name]["timing"].rate(results["pgjax"][name]["env_steps"])[0]
        for library in ("pgjax", ONE_DEVICE, *peers):
            label = f"{LABELS[library]} {versions[library]}"
            result = results[library]
            if library == ONE_DEVICE and name not in result:
                continue
            if isinstance(result, str):
                rows.append([name, label, "—", "—", "—", result, "—", "—"])
                continue
            row = result[name]
            if isinstance(row, str):
                rows.append([name, label, "—", "—", "—", row, "—", "—"])
                continue
            if library in ("pgjax", ONE_DEVICE, "rejax"):
                rate_work = row["env_steps"]
                run_time = row["timing"].seconds()
                if library != "rejax" and row["devices"] > 1:
                    run_time += f" ({row['devices']} CPU devices)"
            else:
                rate_work = row["timed_steps"]
                runs = f"{row['runs']} run{'s' if row['runs'] > 1 else ''}"
                if row["wanted"] > 1:
                    runs = (f"{row['sequential']} runs in a row" if row["sequential"] == row["wanted"] else
                            f"{row['sequential']} of {row['wanted']} runs in a row, `--sequential-runs`")
                run_time = f"{_seconds(row['wall'])} ({runs})"
            rate = row["timing"].rate(rate_work)[0]
            chart.setdefault(library, {})[name] = rate
            ratio = "1" if library == "pgjax" else f"{pgjax_rate / rate:.1f}×"
            rows.append([
                name, label, f"{row['env_steps']:,}", "—" if row["compile_s"] is None else f"{row['compile_s']:.2f}",
                run_time, _rate(row["timing"], rate_work), _return_cell(row["returns"]), ratio,
            ])
    if summary is not None:
        summary["peers"] = {lib: rates for lib, rates in chart.items()}

    notes = [
        *([f"QUICK smoke run ({total:,} steps per seed; 1024 envs: 2 iterations) — not a measurement."]
          if quick else []),
        f"1-min load average {load_start:.2f} at start, {load_end:.2f} at end.",
        "CartPole-v1 (gymnax for pgjax and Rejax, gymnasium for sbx and SB3), 4 envs × 128 steps, 4 epochs × 4 "
        "minibatches, 64-64 tanh actor and critic, lr 2.5e-4, γ .99, λ .95, clip .2, ent .01, vf .5, "
        f"max_grad_norm .5; {settings['1 seed'][2]:,} steps per seed (a whole number of 512-step iterations). "
        f"1024 envs: 1024 × 128 steps, 4 minibatches of {1024 * NUM_STEPS // 4:,}, "
        f"{settings['1024 envs'][2]:,} steps ({settings['1024 envs'][2] // (1024 * NUM_STEPS)} iterations: "
        "returns there are early in learning for every library).",
        preset_check(),
        f"pgjax's 8 seeds run as `pgjax train --seeds 8` runs them: one program (`scan.train_runs`) sharded over "
        f"the CPU split into one device per core (`pgjax.runs.devices`; here {results['pgjax']['8 seeds']['devices']} "
        "devices), the command's default; 'pgjax, 1 device' is the same program on one device (`--devices 1`). "
        "One seed runs on one device (`ppo.train`).",
        "Rejax 0.1.3 at the same settings, except what it cannot express: constant lr (no annealing); element-wise "
        "gradient clipping (`optax.clip(0.5)`, not the global norm) and separate Adam optimisers (ε 1e-8) for "
        "actor and critic; flax's default (lecun-normal) init, not orthogonal; gymnax 0.0.9's single `done`, so a "
        "time-limit truncation is not bootstrapped. Its in-training evaluation is swapped for a no-op "
        "(`algo.replace(eval_callback=...)`); seeds vmapped in one program (`jax.vmap(algo.train)`).",
        "sbx (JAX networks, SB3's Python loop and `DummyVecEnv` of gymnasium's Python CartPole): batch_size = "
        "envs × 128 / 4, lr annealed linearly (SB3's callable schedule, per iteration), `ortho_init=True` (sbx: "
        "actor's last layer only); no value clipping (sbx has none); separate actor and critic optimisers. "
        "SB3 (PyTorch, `torch.set_num_threads(1)`): the same, with value clipping 0.2 and one optimiser. "
        "Neither vmaps seeds: their 8-seed rows are 8 runs one after another (or the first "
        f"{sequential_runs} of them, `--sequential-runs {sequential_runs}`: runs in a row go at one run's rate, "
        "so 8 take 8/K of their time), and their 1-seed row is the median (min–max) of those runs' own rates "
        "(1024 envs: of 3 runs; quick: of the runs made).",
        "Timing. pgjax, Rejax: ahead-of-time compile of the whole training program, then the median (min–max) of "
        f"{REPEATS} calls; env-steps/s counts all seeds. sbx, SB3: the rate is timed from the end of the first "
        "iteration to the end of training (host timestamps from an SB3 callback), because sbx compiles inside "
        "each new model's first iteration; their compile s = first iteration minus the median iteration (SB3: —, "
        "PyTorch compiles nothing and `sb3_peer` warms up on an untimed model first), and their run time is the whole `learn` call (sum over runs "
        "for the 8-seed rows).",
        f"Final return: mean return of {EVAL_EPISODES} fresh episodes of each trained policy, actions sampled, "
        "each library's own evaluator (`ppo.evaluate`, `rejax.evaluate`, SB3's `evaluate_policy`), untimed; "
        "several seeds: mean (min–max) over seeds. 1-seed rows: seed 0.",
        "pgjax ÷ library: pgjax's env-steps/s over that library's, same row, this run only. A faster library "
        "that learns worse (lower final return) is not a win.",
    ]
    markdown = common.header("pgjax PPO vs peers (Rejax, sbx, Stable-Baselines3), CartPole-v1, classic settings",
                             ("torch", "stable-baselines3", "gymnasium"), notes)
    markdown += "\n" + common.table(
        ["library", "version", "installed"],
        [[LABELS[lib], versions[lib], installs[lib]] for lib in ("pgjax", *peers)],
    )
    markdown += "\n" + common.table(
        ["setting", "library", "env steps (all seeds)", "compile s", "run time", "env-steps/s", "final return",
         "pgjax ÷ library"],
        rows,
    )

    figure, ax = common.new_figure(width=7.0)
    names = list(settings)
    libraries = [lib for lib in ("pgjax", ONE_DEVICE, *peers) if lib in chart]
    width = 0.8 / max(len(libraries), 1)
    for i, library in enumerate(libraries):
        xs = [j + (i - (len(libraries) - 1) / 2) * width for j in range(len(names))]
        ax.bar(xs, [chart[library].get(name, 0.0) for name in names], width, label=f"{LABELS[library]} "
               f"{versions[library]}")
    ax.set_xticks(range(len(names)), [f"{n}" for n in names])
    ax.set_yscale("log")
    ax.set_ylabel("env-steps/s (all seeds)")
    ax.set_title("PPO CartPole-v1, classic settings" + (" (QUICK)" if quick else ""))
    ax.legend()
    markdown += "\n" + common.save_figure(figure, "peers")
    return common.write_section("peers", markdown)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50k steps per seed: a smoke run, not a measurement")
    parser.add_argument("--peers", default=",".join(PEERS), help=f"comma-separated subset of {','.join(PEERS)}")
    parser.add_argument("--sequential-runs", type=int, default=8, metavar="K",
                        help="runs made for the 8-seed row of the libraries that run seeds one after another "
                             "(sbx, SB3); fewer saves time, the rate of runs in a row being one run's")
    args = parser.parse_args(argv)
    args.peers = tuple(p.strip() for p in args.peers.split(",") if p.strip())
    if args.sequential_runs < 1:
        parser.error(f"--sequential-runs: must be a positive integer, got {args.sequential_runs}")
    unknown = [p for p in args.peers if p not in PEERS]
    if unknown:
        parser.error(f"--peers: unknown {unknown}; choose from {', '.join(PEERS)}")
    return args
