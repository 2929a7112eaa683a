"""Time Rejax PPO on gymnax CartPole-v1; run by `benchmarks.peers` in Rejax's own venv.

    benchmarks/.peer_venvs/rejax/bin/python benchmarks/peers/rejax_runner.py \
        --num-envs 4 --num-seeds 8 --total-timesteps 499712

Prints one JSON object on the last line of stdout: the versions, compile seconds,
the seconds of each timed call, the env steps of one call (all seeds together)
and the final return.

Settings: the classic CartPole ones as Rejax's `PPO.create` spells them (128 steps
per env, 4 epochs × 4 minibatches, 64-64 tanh actor and critic, lr 2.5e-4, γ .99,
λ .95, clip .2, ent .01, vf .5, max_grad_norm .5). Rejax 0.1.3 has no learning-rate
annealing, so the rate stays at 2.5e-4.

Rejax evaluates 128 episodes every `eval_freq` steps inside its training program.
Here `eval_callback` is replaced by a no-op (Rejax's documented way of swapping the
callback, `algo.replace(eval_callback=...)`) so the timed program only trains;
the final policy is then evaluated, untimed, with Rejax's own `rejax.evaluate`.
With `--curve-every N` (used by `benchmarks.time_to_result`), Rejax's evaluator runs
`--curve-episodes` episodes every N steps inside the timed program instead, as a Rejax
user follows a run, and the JSON gets each seed's curve of mean returns.
One seed is `jax.jit(algo.train)`, several are `jax.jit(jax.vmap(algo.train))`,
both compiled ahead of time (`.lower(...).compile()`), so no tracing or compilation
falls inside a timed call.
"""

from __future__ import annotations

import argparse
import json
import time
from importlib import metadata

import jax
import jax.numpy as jnp
import numpy as np
import rejax
from rejax.evaluate import evaluate

PACKAGES = ("rejax", "gymnax", "jax", "jaxlib", "flax", "optax", "chex", "distrax", "tfp-nightly")


def make_algo(num_envs: int, total_timesteps: int, eval_freq: int = 0, eval_episodes: int = 0):
    """Without `eval_freq`, the training program only trains; with it, Rejax's own evaluator
    runs `eval_episodes` episodes every `eval_freq` steps inside the program (its usual way
    of following a run), and `train` returns their mean return per evaluation."""
    algo = rejax.PPO.create(
        env="CartPole-v1",
        num_envs=num_envs, num_steps=128, num_epochs=4, num_minibatches=4,
        learning_rate=2.5e-4, max_grad_norm=0.5, gamma=0.99, gae_lambda=0.95, clip_eps=0.2,
        vf_coef=0.5, ent_coef=0.01, normalize_observations=False,
        agent_kwargs=dict(activation="tanh", hidden_layer_sizes=(64, 64)),
        total_timesteps=total_timesteps, eval_freq=eval_freq or total_timesteps, skip_initial_evaluation=True,
    )
    if not eval_freq:
        return algo.replace(eval_callback=lambda algo, train_state, key: ())
    return algo.replace(eval_callback=lambda algo, train_state, key: mean_return(algo, train_state, key, eval_episodes))


def mean_return(algo, train_state, key, num_episodes: int):
    """Rejax's evaluator: the mean return of `num_episodes` fresh episodes (actions sampled)."""
    max_steps = int(algo.env_params.max_steps_in_episode)
    return evaluate(algo.make_act(train_state), key, algo.env, algo.env_params, num_episodes, max_steps)[1].mean()


def final_returns(algo, train_states, keys, num_episodes: int, batched: bool) -> np.ndarray:
    """Rejax's evaluator on the trained policies: `[seeds]` mean returns (actions sampled)."""

    def one(train_state, key):
        return mean_return(algo, train_state, key, num_episodes)

    if batched:
        return np.asarray(jax.jit(jax.vmap(one))(train_states, keys))
    return np.asarray([jax.jit(one)(train_states, keys)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--num-envs", type=int, default=4)
    parser.add_argument("--num-seeds", type=int, default=1)
    parser.add_argument("--total-timesteps", type=int, required=True, help="per seed; a multiple of num_envs × 128")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--eval-episodes", type=int, default=64)
    parser.add_argument("--curve-every", type=int, default=0,
                        help="evaluate every this many steps inside training (Rejax's eval_callback)")
    parser.add_argument("--curve-episodes", type=int, default=16, help="episodes per evaluation during training")
    parser.add_argument("--hlo-out", default=None, help="write the compiled training program's optimised HLO here")
    args = parser.parse_args()

    algo = make_algo(args.num_envs, args.total_timesteps, args.curve_every, args.curve_episodes)
    batched = args.num_seeds > 1
    key = jax.random.PRNGKey(0)
    keys = jax.random.split(key, args.num_seeds) if batched else key
    train = jax.vmap(algo.train) if batched else algo.train

    start = time.perf_counter()
    executable = jax.jit(train).lower(keys).compile()
    compile_s = time.perf_counter() - start
    if args.hlo_out:
        with open(args.hlo_out, "w") as hlo_file:
            hlo_file.write(executable.as_text())

    run_s, output = [], None
    for _ in range(args.repeats):
        start = time.perf_counter()
        output = jax.block_until_ready(executable(keys))
        run_s.append(time.perf_counter() - start)
    train_states, curve = output

    eval_keys = jax.random.split(jax.random.PRNGKey(1), args.num_seeds) if batched else jax.random.PRNGKey(1)
    returns = final_returns(algo, train_states, eval_keys, args.eval_episodes, batched)
    print(json.dumps({
        "versions": {name: metadata.version(name) for name in PACKAGES},
        "devices": f"{jax.default_backend()}: {len(jax.devices())} × {jax.devices()[0].device_kind}",
        "compile_s": compile_s,
        "run_s": run_s,
        "env_steps": int(jnp.sum(train_states.global_step)),
        "final_return": float(returns.mean()),
        "final_return_per_seed": returns.tolist(),
        # [seeds, evaluations]: the mean return of each evaluation during training (--curve-every)
        **({"curve": np.asarray(curve).reshape(args.num_seeds, -1).tolist(),
            "curve_steps": args.curve_every} if args.curve_every else {}),
    }))


if __name__ == "__main__":
    main()
