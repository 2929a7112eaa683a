"""Time sbx (Stable-Baselines-Jax) PPO on gymnasium's CartPole-v1; run by `benchmarks.peers`
in sbx's own venv.

    benchmarks/.peer_venvs/sbx/bin/python benchmarks/peers/sbx_runner.py \
        --num-envs 4 --seeds 8 --total-timesteps 499712

Prints one JSON object on the last line of stdout: the versions and, per seed, the
seconds of model construction, of the first iteration, of iterations 2…n and the
steps they made, the final return, and the curve of training returns (the mean return
of the episodes each iteration finished, with its host timestamp).

Settings: the classic CartPole ones as SB3's API spells them: `n_steps` 128 per env,
`batch_size` = n_envs × 128 / 4 (4 minibatches), 4 epochs, 64-64 tanh actor and
critic, lr 2.5e-4 annealed linearly to 0 (SB3's `learning_rate=callable(progress)`),
γ .99, λ .95, clip .2, ent .01, vf .5, max_grad_norm .5, advantages normalised,
`ortho_init=True` (sbx applies it to the actor's last layer). sbx has no value clipping
(`clip_range_vf` is not implemented). Environments: SB3's `make_vec_env` (a
`DummyVecEnv` stepping gymnasium's Python CartPole one after another).

sbx wraps each model's `apply` in a fresh `jax.jit`, so every new model compiles in
its first iteration; a warm-up model does not help the next one. The rate is
therefore timed from the end of the first iteration to the end of training (host
timestamps from an SB3 callback), and the compile estimate is the first iteration's
time minus the median of the others. Seeds run one after another: sbx has no
vmapped seeds. `torch.set_num_threads(1)`, as in `benchmarks/sb3_peer.py` (PyTorch
only serves SB3's buffers here).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from importlib import metadata

import flax.linen as nn
import jax
import torch
from sbx import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

PACKAGES = ("sbx-rl", "stable-baselines3", "gymnasium", "jax", "jaxlib", "flax", "optax", "tfp-nightly", "torch")


class IterationClock(BaseCallback):
    """Host time at the start of training and at the end of each iteration's learning phase,
    with the mean return of the episodes finished in that iteration's rollout (the last
    iteration's mean again when none finished, NaN before the first)."""

    def __init__(self):
        super().__init__()
        self.start, self.stamps, self.steps, self.returns = 0.0, [], [], []
        self.finished, self.last = [], float("nan")

    def _on_training_start(self):
        self.start = time.perf_counter()

    def _stamp(self):
        self.stamps.append(time.perf_counter())
        self.steps.append(self.num_timesteps)
        self.returns.append(self.last)

    def _on_rollout_start(self):
        if self.num_timesteps > 0:  # the previous iteration's learning phase has just finished
            self._stamp()

    def _on_step(self):
        self.finished += [info["episode"]["r"] for info in self.locals["infos"] if "episode" in info]
        return True

    def _on_rollout_end(self):
        if self.finished:
            self.last = float(sum(self.finished) / len(self.finished))
        self.finished = []

    def _on_training_end(self):
        self._stamp()


def build(num_envs: int, seed: int) -> PPO:
    env = make_vec_env("CartPole-v1", n_envs=num_envs, seed=seed)
    return PPO(
        "MlpPolicy", env, n_steps=128, batch_size=num_envs * 128 // 4, n_epochs=4,
        learning_rate=lambda progress_remaining: 2.5e-4 * progress_remaining,
        gamma=0.99, gae_lambda=0.95, clip_range=0.2, ent_coef=0.01, vf_coef=0.5, max_grad_norm=0.5,
        normalize_advantage=True,
        policy_kwargs=dict(net_arch=[64, 64], activation_fn=nn.tanh, ortho_init=True),
        seed=seed, verbose=0,
    )


def run(num_envs: int, seed: int, total_timesteps: int, eval_episodes: int) -> dict:
    start = time.perf_counter()
    model = build(num_envs, seed)
    setup_s = time.perf_counter() - start
    clock = IterationClock()
    start = time.perf_counter()
    model.learn(total_timesteps=total_timesteps, callback=clock)
    wall_s = time.perf_counter() - start
    iteration_s = [later - earlier for earlier, later in zip(clock.stamps, clock.stamps[1:])]
    first_s = clock.stamps[0] - clock.start
    eval_env = make_vec_env("CartPole-v1", n_envs=16, seed=10_000 + seed)
    mean_return, _ = evaluate_policy(model, eval_env, n_eval_episodes=eval_episodes, deterministic=False)
    return {
        "seed": seed,
        "setup_s": setup_s,
        "wall_s": wall_s,
        "first_iteration_s": first_s,
        "compile_s": first_s - statistics.median(iteration_s) if iteration_s else None,
        "timed_s": clock.stamps[-1] - clock.stamps[0],
        "timed_steps": clock.steps[-1] - clock.steps[0],
        "env_steps": clock.steps[-1],
        "final_return": float(mean_return),
        # per iteration: seconds since the start of `learn`, env steps, training return
        "curve": [[stamp - clock.start, steps, ret] for stamp, steps, ret in zip(clock.stamps, clock.steps, clock.returns)],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--num-envs", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=1, help="runs, one after another (seeds 0…n-1)")
    parser.add_argument("--total-timesteps", type=int, required=True, help="per run; ≥ 2 iterations")
    parser.add_argument("--eval-episodes", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(1)
    runs = [run(args.num_envs, seed, args.total_timesteps, args.eval_episodes) for seed in range(args.seeds)]
    print(json.dumps({
        "versions": {name: metadata.version(name) for name in PACKAGES},
        "devices": f"{jax.default_backend()}: {len(jax.devices())} × {jax.devices()[0].device_kind}",
        "runs": runs,
    }))


if __name__ == "__main__":
    main()
