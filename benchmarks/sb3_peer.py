"""pgjax PPO beside Stable-Baselines3 PPO at SB3's default hyperparameters.

Both learn CartPole-v1 (gymnasium's for SB3, gymnax's for pgjax) with one
environment, n_steps 2048, minibatch 64 (32 per epoch), 10 epochs, lr 3e-4
constant, γ 0.99, GAE λ 0.95, clip 0.2, no value clipping, ent_coef 0,
vf_coef 0.5, max_grad_norm 0.5, separate 64-64 tanh actor and critic, Adam ε 1e-5.
SB3 runs on PyTorch's CPU backend with `torch.set_num_threads(1)`: at minibatch 64
intra-op threads cost more than they give (on this 2-core machine, under load,
2 threads ran SB3 about 7× slower than 1), so one thread is SB3's fast setting.

Per library, 3 runs (seeds 0, 1, 2): env-steps/s of the whole training run, wall
time until the mean return of the episodes finished in one iteration first
reaches 475 (timestamped on the host after that iteration's learning phase: a
`jax.debug.callback` for pgjax, an SB3 callback for SB3), and the final return.
pgjax's compile time and SB3's model construction are reported apart.

PureJaxRL and Rejax are not compared here: both call gymnax's `step` expecting the
pre-1.0 four-value API, and gymnax 1.0 returns five values
(obs, state, reward, terminated|truncated split, info), so neither runs against it.
`benchmarks/peers` times Rejax in its own venv with gymnax 0.0.9, beside sbx and
this file's SB3 run (`run_sb3` at other settings), at the classic CartPole settings.

Run: `python -m benchmarks.sb3_peer [--quick]` → `benchmarks/sb3_peer.md` + `.png`.
"""

from __future__ import annotations

import statistics
import time

import jax
import numpy as np

from benchmarks import common
from pgjax import ppo

THRESHOLD = 475.0
SEEDS = (0, 1, 2)
NOT_COMPARED = (
    "PureJaxRL and Rejax are not compared here: they no longer run on gymnax 1.0, whose `step` "
    "returns five values (terminated and truncated apart) where they unpack the old four-value API. "
    "`python -m benchmarks.peers` times Rejax in its own venv (gymnax 0.0.9), with sbx and SB3, "
    "at the classic CartPole settings (`benchmarks/peers.md`)."
)


def pgjax_config(total_timesteps: int) -> ppo.Config:
    return ppo.Config.for_env(
        "CartPole-v1", num_envs=1, num_steps=2048, update_epochs=10, num_minibatches=32,
        anneal_lr=False, learning_rate=3e-4, gamma=0.99, gae_lambda=0.95, clip_eps=0.2, clip_value=False,
        ent_coef=0.0, vf_coef=0.5, max_grad_norm=0.5, hidden_sizes=(64, 64), activation="tanh",
        normalize_advantages=True, total_timesteps=total_timesteps,
    )


def run_pgjax(total_timesteps: int) -> dict:
    """Compile once, then one timed run per seed, each recording a host timestamp per iteration."""
    config = pgjax_config(total_timesteps)
    records: list[tuple[float, float, float]] = []  # (env_steps, episode_return, seconds since start)
    start = [0.0]

    def record(metrics):
        records.append((float(metrics["env_steps"]), float(metrics["episode_return"]), time.perf_counter() - start[0]))

    executable, compile_s = common.compile_ahead(lambda c, k: ppo.train(c, k, callback=record), config,
                                                 jax.random.PRNGKey(0))
    runs = []
    for seed in SEEDS:
        records.clear()
        start[0] = time.perf_counter()
        common.block(executable(config, jax.random.PRNGKey(seed)))
        runs.append(_summarise(list(records), time.perf_counter() - start[0]))
    return {"setup_s": compile_s, "runs": runs, "steps": config.num_iterations * config.batch_size}


# SB3's default PPO hyperparameters, spelled out (the settings of this comparison).
SB3_DEFAULTS = dict(
    n_steps=2048, batch_size=64, n_epochs=10, learning_rate=3e-4, gamma=0.99, gae_lambda=0.95, clip_range=0.2,
    clip_range_vf=None, ent_coef=0.0, vf_coef=0.5, max_grad_norm=0.5,
)


def run_sb3(total_timesteps: int, n_envs: int = 1, seeds=SEEDS, eval_episodes: int = 0, **ppo_kwargs) -> dict:
    """One timed `model.learn` per seed; model construction is timed apart.

    `n_envs`, `seeds` and `ppo_kwargs` (over `SB3_DEFAULTS`) let `benchmarks.peers` run the
    same protocol at other settings; with `eval_episodes`, each run also gets `eval_return`:
    the mean return of that many fresh episodes of the trained policy (actions sampled, untimed).
    """
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(1)  # SB3's faster setting here; see the module docstring

    class Curve(BaseCallback):
        """Mean return of the episodes finished in each rollout, stamped after its learning phase."""

        def __init__(self):
            super().__init__()
            self.records, self.finished, self.pending, self.last = [], [], None, float("nan")

        def _on_training_start(self):
            self.start = time.perf_counter()

        def _on_step(self):
            for info in self.locals["infos"]:
                if "episode" in info:
                    self.finished.append(info["episode"]["r"])
            return True

        def _stamp(self):
            if self.pending is not None:
                self.records.append((*self.pending, time.perf_counter() - self.start))
                self.pending = None

        def _on_rollout_start(self):
            self._stamp()  # the previous iteration's learning phase has just finished

        def _on_rollout_end(self):
            if self.finished:
                self.last = float(np.mean(self.finished))
            self.pending, self.finished = (float(self.num_timesteps), self.last), []

        def _on_training_end(self):
            self._stamp()

    def build(seed):
        env = make_vec_env("CartPole-v1", n_envs=n_envs, seed=seed)
        return PPO(
            "MlpPolicy", env, **{**SB3_DEFAULTS, **ppo_kwargs},
            policy_kwargs=dict(net_arch=dict(pi=[64, 64], vf=[64, 64]), activation_fn=torch.nn.Tanh),
            seed=seed, device="cpu", verbose=0,
        )

    # One untimed iteration first: PyTorch's first calls pay one-off initialisation, the
    # counterpart of pgjax's compile, which is also kept out of the timed runs.
    build(0).learn(total_timesteps=2048)
    runs, setup = [], []
    for seed in seeds:
        start = time.perf_counter()
        model = build(seed)
        setup.append(time.perf_counter() - start)
        curve = Curve()
        start = time.perf_counter()
        model.learn(total_timesteps=total_timesteps, callback=curve)
        runs.append(_summarise(curve.records, time.perf_counter() - start))
        if eval_episodes:
            from stable_baselines3.common.evaluation import evaluate_policy

            eval_env = make_vec_env("CartPole-v1", n_envs=16, seed=10_000 + seed)
            runs[-1]["eval_return"] = float(evaluate_policy(model, eval_env, eval_episodes, deterministic=False)[0])
    return {"setup_s": statistics.median(setup), "runs": runs, "steps": runs[0]["steps"]}


def _summarise(records, wall_s: float) -> dict:
    steps, returns, stamps = (np.array(column) for column in zip(*records))
    hit = common.first_reaching(returns, THRESHOLD)
    return {
        "wall_s": wall_s,
        "steps": int(steps[-1]),
        "curve": (steps, returns, stamps),
        "solve_s": None if hit is None else float(stamps[hit]),
        "solve_steps": None if hit is None else int(steps[hit]),
        "final_return": float(np.nanmean(returns[-5:])),
    }


def _row(name: str, result: dict) -> list:
    runs = result["runs"]
    timing = common.Timing(tuple(run["wall_s"] for run in runs))
    solved = [run for run in runs if run["solve_s"] is not None]
    if solved:
        solve = common.Timing(tuple(run["solve_s"] for run in solved)).seconds(3)
        solve_steps = f"{statistics.median(run['solve_steps'] for run in solved):,.0f}"
    else:
        solve, solve_steps = "not reached", "—"
    finals = [run["final_return"] for run in runs]
    return [
        name, f"{result['setup_s']:.2f}", f"{result['steps']:,}", timing.seconds(3),
        timing.rate_str(result["steps"]), f"{len(solved)}/{len(runs)}", solve, solve_steps,
        f"{statistics.median(finals):.1f} ({min(finals):.0f}–{max(finals):.0f})",
    ]


def main(quick: bool = False, summary: dict | None = None) -> str:
    """Run both libraries, write `sb3_peer.md` + `.png`, return the markdown; key figures go into `summary`."""
    # 2 / 80 iterations of 2048 steps; SB3 runs ≈3e3 env-steps/s here, so the full run takes ≈3 min.
    total = 4096 if quick else 163_840
    common.log(f"sb3_peer: pgjax, {len(SEEDS)} × {total} steps")
    results = {"pgjax": run_pgjax(total)}
    notes = [
        *(["QUICK smoke run (2 iterations) — not a measurement."] if quick else []),
        "CartPole-v1, 1 env, SB3 default PPO hyperparameters: n_steps 2048, batch 64 (32 minibatches), "
        "10 epochs, lr 3e-4 constant, γ .99, λ .95, clip .2, no value clip, ent 0, vf .5, max_grad_norm .5, "
        "64-64 tanh actor and critic; SB3 with `torch.set_num_threads(1)` (2 threads were ≈7× slower "
        "at these minibatch sizes), device cpu.",
        f"3 runs per library (seeds {', '.join(map(str, SEEDS))}); 'to 475' = wall time from the start of "
        "training to the end of the first iteration whose finished episodes average ≥ 475 "
        "(median (min–max) over the runs that got there); final return = mean of the last 5 iterations.",
        "setup s: pgjax = ahead-of-time compile of the whole training run; SB3 = model construction "
        "(after one untimed warm-up iteration of SB3, so PyTorch's one-off initialisation is not counted).",
        NOT_COMPARED,
    ]
    try:
        import stable_baselines3  # noqa: F401
        import torch  # noqa: F401
    except ImportError as error:
        notes.append(f"**Stable-Baselines3 could not be imported ({error}); install the `bench` extra "
                     "(`pip install -e .[bench]`). Only pgjax was run.**")
        sb3_versions = ()
    else:
        common.log(f"sb3_peer: SB3, {len(SEEDS)} × {total} steps")
        results["SB3"] = run_sb3(total)
        sb3_versions = ("torch", "stable-baselines3", "gymnasium")

    markdown = common.header("pgjax PPO vs Stable-Baselines3 PPO, CartPole-v1", sb3_versions, notes)
    markdown += "\n" + common.table(
        ["library", "setup s", "env steps", "train wall time", "env-steps/s", "reached 475", "time to 475",
         "steps to 475", "final return"],
        [_row(name, result) for name, result in results.items()],
    )
    if len(results) == 2:
        speedup = (results["pgjax"]["steps"] / statistics.median(r["wall_s"] for r in results["pgjax"]["runs"])) / (
            results["SB3"]["steps"] / statistics.median(r["wall_s"] for r in results["SB3"]["runs"]))
        markdown += f"\npgjax / SB3 env-steps/s (medians): {speedup:.1f}×\n"
        if summary is not None:
            summary["sb3_speedup"] = speedup

    figure, (ax_time, ax_steps) = common.new_figure(ncols=2, width=4.8)
    for name, result in results.items():
        for i, run in enumerate(result["runs"]):
            steps, returns, stamps = run["curve"]
            color = "C0" if name == "pgjax" else "C1"
            ax_time.plot(stamps, returns, color=color, alpha=0.8, label=name if i == 0 else None)
            ax_steps.plot(steps, returns, color=color, alpha=0.8, label=name if i == 0 else None)
    for ax, xlabel in ((ax_time, "wall time (s), compile/setup excluded"), (ax_steps, "env steps")):
        ax.axhline(THRESHOLD, color="grey", ls=":", lw=1)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("mean return of episodes finished per iteration")
        ax.legend()
    ax_time.set_xscale("log")
    markdown += "\n" + common.save_figure(figure, "sb3_peer")
    return common.write_section("sb3_peer", markdown)


if __name__ == "__main__":
    print(main(common.parse_quick()))
