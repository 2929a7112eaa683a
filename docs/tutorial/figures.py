"""The measurements of the tutorial "Policy gradients, from the derivation to PPO and GRPO".

    python -m docs.tutorial.figures [--quick] [--out DIR]      (from the repository root)
    python docs/tutorial/figures.py [--quick] [--out DIR]      (the same)

Writes into DIR (default: this folder, docs/tutorial):

- `gradient_variance.png`: how noisy each policy-gradient estimator is on CartPole-v1. The
  page's policy (REINFORCE, trained briefly) is frozen and the page's critic is fitted to it
  by regression, with the page's keys, so both are the page's own; a rough snapshot of the
  critic (fewer steps) is kept beside the fitted one. Every estimator is computed on the
  same independent batches of 16 episodes, and the figure reports, with 95 % bootstrap
  intervals over batches,
  (a) the noise-to-signal ratio tr Cov[g] / |E g|^2 of the batch gradient g, and
  (b, c) for GAE against lambda, that ratio and the mean cosine between one batch's
      gradient and a reference direction g*, the mean over separate batches of the
      unbiased estimator G_t - V(s_t) with the fitted critic;
- `family_curves.png`: every algorithm of `pgjax.ALGORITHMS` on CartPole-v1 from its
  preset (`Config.for_env`) at one env-step budget, several seeds in one `train_batch`
  program each: training return against env steps, median and interquartile range;
- `gradient_variance.txt`, `family_curves.txt`: the Markdown the page includes under each
  figure (provenance and the numbers);
- `figures.json`: the numbers behind both, the date, the machine, the versions and the
  command.

The functions under "the page's code" are the tutorial page's (its cells define them with
the environment and network as globals; here they are arguments). `--quick` shrinks every
budget to a smoke run (well under a minute of computing), for the test suite.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import sys
import time
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

import pgjax
from pgjax import losses
from pgjax.envs import make_vec_env
from pgjax.networks import ActorCritic, FeedForward

HERE = Path(__file__).resolve().parent

GAMMA = 0.99
NUM_ENVS = 16  # episodes per batch
WINDOW = 500  # CartPole-v1's time limit: every episode ends inside the window
GROUP_SIZE = 4  # RLOO's K: 4 groups of 4 episodes, each group from one initial state
LAMBDAS = (0.0, 0.5, 0.9, 0.95, 1.0)


@dataclasses.dataclass(frozen=True)
class Budget:
    policy_iterations: int  # REINFORCE iterations before the policy is frozen
    critic_steps: tuple[int, int]  # regression steps of the rough and the fitted critic
    batches: int  # measured batches (bootstrap unit)
    reference_batches: int  # separate batches for the reference direction g*
    bootstrap: int
    family_steps: int  # env steps per seed
    family_seeds: int
    algorithms: tuple[str, ...]


FULL = Budget(20, (30, 300), 200, 200, 2000, 300_000, 8, tuple(pgjax.ALGORITHMS))
QUICK = Budget(3, (2, 5), 6, 6, 100, 4_000, 2, ("reinforce",))


# ---------------------------------------------------------------- the page's code


@dataclasses.dataclass(frozen=True)
class Agent:
    """CartPole-v1 batched `NUM_ENVS` times and an actor-critic MLP (64-64, tanh)."""

    env: Any
    env_params: Any
    network: FeedForward


def make_agent() -> Agent:
    env, env_params = make_vec_env("CartPole-v1", num_envs=NUM_ENVS)
    return Agent(env, env_params, FeedForward(ActorCritic(action_dim=2, discrete=True)))


def collect(agent: Agent, params, key, group_size: int = 1):
    """One batch: every environment reset, each one's first episode kept (`alive`)."""
    _, _, episodes = pgjax.rollout_episodes(
        agent.env, agent.env_params, agent.network.apply, agent.network.value, params, key,
        num_steps=WINDOW, group_size=group_size,
    )
    return episodes


def reward_to_go(episodes):
    """G_t = sum_{k>=t} gamma^(k-t) r_k within each episode (pure Monte Carlo)."""
    return pgjax.discounted_returns(episodes.reward, episodes.terminated, episodes.truncated, GAMMA)


def policy_loss(agent: Agent, params, episodes, psi):
    """-mean over the live steps of log pi(a_t|s_t) * psi_t: its gradient is minus the estimate."""
    _, dist = agent.network.policy(params, (), episodes.obs, episodes.reset)
    return pgjax.policy_gradient_loss(dist.log_prob(episodes.action), psi, mask=episodes.alive)


def mean_return(episodes):
    return (episodes.episode_return * episodes.episode_done).sum() / episodes.episode_done.sum()


def train_policy(agent: Agent, params, key, num_iterations: int):
    """REINFORCE with reward-to-go standardised over the batch (pgjax.reinforce's recipe
    without a critic): one Adam step per batch of 16 episodes."""
    optimizer = optax.adam(3e-3)

    @jax.jit
    def reinforce_step(params, opt_state, key):
        episodes = collect(agent, params, key)
        psi = pgjax.masked_normalize(reward_to_go(episodes), episodes.alive)
        grads = jax.grad(lambda p: policy_loss(agent, p, episodes, psi))(params)
        updates, opt_state = optimizer.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state, mean_return(episodes)

    opt_state, returns = optimizer.init(params), []
    for step_key in jax.random.split(key, num_iterations):
        params, opt_state, ret = reinforce_step(params, opt_state, step_key)
        returns.append(float(ret))
    return params, returns


def critic_snapshots(agent: Agent, params, key, steps: tuple[int, ...]):
    """The critic regressed onto G_t of the frozen policy's episodes (Adam, one fresh batch
    per step, the keys split off `key`), its parameters taken after each count in `steps`."""
    optimizer = optax.adam(1e-2)

    @jax.jit
    def critic_step(params, opt_state, key):
        episodes = collect(agent, params, key)

        def loss(critic):
            values = agent.network.value(params._replace(critic=critic), (), episodes.obs)
            return pgjax.value_loss(values, reward_to_go(episodes), mask=episodes.alive)

        grads = jax.grad(loss)(params.critic)
        updates, opt_state = optimizer.update(grads, opt_state)
        return params._replace(critic=optax.apply_updates(params.critic, updates)), opt_state

    opt_state, snapshots = optimizer.init(params.critic), []
    for step, step_key in enumerate(jax.random.split(key, max(steps)), start=1):
        params, opt_state = critic_step(params, opt_state, step_key)
        if step in steps:
            snapshots.append(params)
    return snapshots


def estimators(episodes):
    """Every psi_t compared, `[T, N]` each: full return, reward-to-go (with and without the
    gamma^t of the exact discounted gradient), reward-to-go minus V, GAE at each lambda."""
    rtg = reward_to_go(episodes)
    t = jnp.arange(rtg.shape[0])[:, None]
    psi = {
        "G_0": jnp.broadcast_to(rtg[0], rtg.shape),
        "gamma^t G_t": GAMMA**t * rtg,
        "G_t": rtg,
        "G_t - V": rtg - episodes.value,
    }
    for lam in LAMBDAS:
        psi[f"GAE {lam:g}"] = pgjax.gae(
            episodes.reward, episodes.value, episodes.next_value, episodes.terminated, episodes.truncated,
            GAMMA, lam,
        )[0]
    return psi


def actor_gradient(agent: Agent, params, episodes, psi):
    """The policy-gradient estimate of one batch, flattened over the actor's parameters."""
    grads = jax.grad(lambda p: policy_loss(agent, p, episodes, psi))(params)
    return -ravel_pytree(grads.actor)[0]


def explained_variance(episodes):
    """1 - Var[G_t - V(s_t)] / Var[G_t] over the live steps."""
    rtg, alive = reward_to_go(episodes), episodes.alive
    mean = losses.masked_mean
    residual = rtg - episodes.value
    centred = rtg - mean(rtg, alive)
    return 1.0 - mean((residual - mean(residual, alive)) ** 2, alive) / mean(centred**2, alive)


# ---------------------------------------------------------------- the measurement


def make_batch_gradients(agent: Agent):
    """Two compiled functions of `(params, key)`: every estimator's gradient on one batch with
    the critic's explained variance and the mean episode length (`estimators` order,
    `[E, P]`), and the RLOO gradient `[P]` of one batch of groups."""

    @jax.jit
    def batch_gradients(params, key):
        episodes = collect(agent, params, key)
        psi = estimators(episodes)
        grads = jax.vmap(lambda p: actor_gradient(agent, params, episodes, p))(jnp.stack(list(psi.values())))
        return grads, explained_variance(episodes), episodes.alive.sum(0).mean()

    @jax.jit
    def rloo_gradient(params, key):
        episodes = collect(agent, params, key, group_size=GROUP_SIZE)
        returns = reward_to_go(episodes)[0].reshape(NUM_ENVS // GROUP_SIZE, GROUP_SIZE)
        advantages = (returns - pgjax.leave_one_out_baseline(returns)).reshape(-1)
        return actor_gradient(agent, params, episodes, jnp.broadcast_to(advantages, episodes.alive.shape))

    return batch_gradients, rloo_gradient


def gradient_samples(compiled, critics, keys, rloo: bool = True):
    """Gradients `{name: [B, P]}` of every estimator on the batches of `keys`, for each critic
    (the same episodes for all: the actor and the keys are shared, only V differs), and RLOO's.
    `compiled` is what `make_batch_gradients` returns."""
    batch_gradients, rloo_gradient = compiled
    names = list(estimators_names())
    samples: dict[str, list] = {}
    diagnostics = {"explained_variance": [[] for _ in critics], "episode_length": []}
    for key in keys:
        for c, (label, params) in enumerate(critics.items()):
            grads, ev, length = batch_gradients(params, key)
            diagnostics["explained_variance"][c].append(float(ev))
            for name, g in zip(names, np.asarray(grads)):
                if name in CRITIC_FREE and c > 0:
                    continue  # the same numbers as under the first critic
                samples.setdefault(name if name in CRITIC_FREE else f"{name} ({label})", []).append(g)
        diagnostics["episode_length"].append(float(length))
        if rloo:
            samples.setdefault("RLOO", []).append(np.asarray(rloo_gradient(params, key)))
    return {name: np.stack(g) for name, g in samples.items()}, diagnostics


CRITIC_FREE = ("G_0", "gamma^t G_t", "G_t")


def estimators_names():
    return ["G_0", "gamma^t G_t", "G_t", "G_t - V", *(f"GAE {lam:g}" for lam in LAMBDAS)]


def noise_to_signal(gram, weights):
    """tr Cov[g] / |E g|^2 and tr Cov[g] from the Gram matrix `gram [B, B]` of samples g_b, for
    each row of resampling counts `weights [R, B]` (each row sums to B; all ones: the samples
    as they are). |E g|^2 is estimated without the noise that inflates the squared norm of a
    sample mean (E|mean|^2 = |E g|^2 + tr Cov / B); where noise swamps it, the ratio is inf."""
    num = gram.shape[0]
    mean_sq = np.einsum("rb,bc,rc->r", weights, gram, weights) / num**2
    trace = (weights @ np.diag(gram) - num * mean_sq) / (num - 1)
    signal = mean_sq - trace / num
    with np.errstate(divide="ignore"):
        return np.where(signal > 0, trace / np.maximum(signal, 1e-300), np.inf), trace


def _interval(samples):
    """The 2.5 and 97.5 percentiles; an upper end that is infinite (noise swamping the
    signal in some resamples) is None."""
    big = np.finfo(np.float64).max
    low, high = np.percentile(np.minimum(samples, big), [2.5, 97.5])
    return [float(low), float(high) if high < big else None]


def statistics(samples, reference, num_bootstrap: int, rng):
    """Per estimator: noise-to-signal, mean one-batch cosine to `reference`, cosine of the
    mean gradient to it, each with a 95 % bootstrap interval over batches (paired: every
    estimator resampled with the same batch indices)."""
    unit_ref = reference / np.linalg.norm(reference)
    num = next(iter(samples.values())).shape[0]
    resamples = rng.integers(0, num, size=(num_bootstrap, num))
    weights = np.stack([np.bincount(idx, minlength=num) for idx in resamples]).astype(np.float64)
    out = {}
    for name, g in samples.items():
        g = g.astype(np.float64)
        gram = g @ g.T
        cosines = g @ unit_ref / np.linalg.norm(g, axis=1)
        (ratio,), (trace,) = noise_to_signal(gram, np.ones((1, num)))
        boot_ratio, _ = noise_to_signal(gram, weights)
        mean = g.mean(0)
        out[name] = {
            "noise_to_signal": float(ratio) if np.isfinite(ratio) else None,
            "noise_to_signal_95": _interval(boot_ratio),
            "total_variance": float(trace),
            "mean_gradient_norm": float(np.linalg.norm(mean)),
            "batch_cosine": float(cosines.mean()),
            "batch_cosine_95": _interval(cosines[resamples].mean(1)),
            "mean_cosine": float(mean @ unit_ref / np.linalg.norm(mean)),
        }
    return out


def measure_variance(budget: Budget):
    """The policy and critics of the page (the same keys: trained identically), then every
    estimator's gradient on `budget.batches` batches and the reference on further ones."""
    agent = make_agent()
    params = agent.network.init(jax.random.key(0), jnp.zeros((1, 4)))
    params, train_returns = train_policy(agent, params, jax.random.key(2), budget.policy_iterations)
    rough, fitted = critic_snapshots(agent, params, jax.random.key(3), budget.critic_steps)
    batch_key, ref_key = jax.random.key(5), jax.random.key(9)
    critics = {"rough V": rough, "fitted V": fitted}
    compiled = make_batch_gradients(agent)
    samples, diagnostics = gradient_samples(compiled, critics, jax.random.split(batch_key, budget.batches))
    # The reference direction g*: the unbiased G_t - V(s_t) with the fitted critic, averaged
    # over batches that are not among the measured ones.
    reference, _ = gradient_samples(
        compiled, {"fitted V": fitted}, jax.random.split(ref_key, budget.reference_batches), rloo=False
    )
    g_star = reference["G_t - V (fitted V)"].mean(0)
    stats = statistics(samples, g_star, budget.bootstrap, np.random.default_rng(0))
    return {
        "policy_training_returns": train_returns,
        "critic_steps": dict(zip(critics, budget.critic_steps)),
        "explained_variance": {label: float(np.mean(ev)) for label, ev in zip(critics, diagnostics["explained_variance"])},
        "mean_episode_length": float(np.mean(diagnostics["episode_length"])),
        "batches": budget.batches,
        "reference_batches": budget.reference_batches,
        "episodes_per_batch": NUM_ENVS,
        "actor_parameters": int(next(iter(samples.values())).shape[1]),
        "estimators": stats,
    }


def train_family(budget: Budget):
    """Every algorithm from its CartPole-v1 preset at `family_steps` env steps per seed."""
    results = {}
    for name in budget.algorithms:
        algo = pgjax.ALGORITHMS[name]
        config = algo.Config.for_env("CartPole-v1", total_timesteps=budget.family_steps)
        keys = jax.random.split(jax.random.key(0), budget.family_seeds)
        start = time.perf_counter()
        compiled = jax.jit(algo.train_batch).lower(config, keys).compile()
        compiled_at = time.perf_counter()
        _, metrics = jax.block_until_ready(compiled(config, keys))
        done = time.perf_counter()
        returns = np.asarray(metrics["episode_return"], dtype=np.float64)  # [iterations, seeds]
        last = returns[-max(1, len(returns) // 20):]  # the last 5 % of the iterations
        final = np.nanmean(last, axis=0)
        results[name] = {
            "env_steps": np.asarray(metrics["env_steps"])[:, 0].tolist(),
            "episode_return": returns.tolist(),
            "final_return_per_seed": final.tolist(),
            "final_return_median": float(np.median(final)),
            "final_return_iqr": [float(x) for x in np.percentile(final, [25, 75])],
            "compile_s": compiled_at - start,
            "run_s": done - compiled_at,
            "iterations": config.num_iterations,
            "batch_size": config.batch_size,
        }
        print(f"  {name}: final training return {np.median(final):.1f} (median of {len(final)} seeds), "
              f"compile {compiled_at - start:.1f} s, run {done - compiled_at:.1f} s", flush=True)
    return results


# ---------------------------------------------------------------- figures


def _figure(width, height, ncols):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots(1, ncols)


LABELS = {"G_0": "$G_0$ (full return)", "gamma^t G_t": r"$\gamma^t G_t$", "G_t": "$G_t$ (reward-to-go)",
          "RLOO": "RLOO, $K=4$", "G_t - V (rough V)": "$G_t - V$, rough $V$",
          "G_t - V (fitted V)": "$G_t - V$, fitted $V$"}


def _value_and_error(stat, key):
    """`(y, [y - low, high - y])` of one statistic; an open-ended interval runs off the axes."""
    y = stat[key] if stat[key] is not None else np.inf
    low, high = stat[f"{key}_95"]
    high = 1e12 * max(y, 1.0) if high is None else high
    return y, [max(y - low, 0.0), max(high - y, 0.0)]


def plot_variance(variance, path: Path, info: str):
    stats = variance["estimators"]
    ev = variance["explained_variance"]
    figure, (bars, dial, cosine) = _figure(14, 4.4, 3)
    names = list(LABELS)
    colors = ["0.55", "0.55", "0.55", "tab:purple", "tab:orange", "tab:blue"]
    values, errors = zip(*(_value_and_error(stats[n], "noise_to_signal") for n in names))
    bars.bar(range(len(names)), values, yerr=np.array(errors).T, color=colors, capsize=3)
    for i, value in enumerate(values):
        bars.annotate(f"{value:.2g}", (i, value), textcoords="offset points", xytext=(4, 3), fontsize=8)
    bars.set_xticks(range(len(names)), [LABELS[n] for n in names], rotation=30, ha="right")
    bars.set_yscale("log")
    bars.set_ylabel(r"noise-to-signal  tr Cov$[\hat g]$ / $|E\,\hat g|^2$")
    bars.set_title("(a) Monte-Carlo returns and baselines")
    positions = np.arange(len(LAMBDAS))
    steps = variance["critic_steps"]
    for label, color, shift in (("rough V", "tab:orange", -0.06), ("fitted V", "tab:blue", 0.06)):
        names = [f"GAE {lam:g} ({label})" for lam in LAMBDAS]
        text = f"{label}: {steps[label]} steps, explained variance {ev[label]:.2f}"
        for axes, key in ((dial, "noise_to_signal"), (cosine, "batch_cosine")):
            y, err = zip(*(_value_and_error(stats[n], key) for n in names))
            axes.errorbar(positions + shift, y, yerr=np.array(err).T, marker="o", capsize=3, color=color, label=text)
    dial.set_yscale("log")
    shown = [stats[f"GAE {lam:g} ({label})"]["noise_to_signal"] for lam in LAMBDAS for label in ("rough V", "fitted V")]
    shown = [y for y in shown if y is not None]
    dial.set_ylim(min(shown) / 2, max(shown) * 10)  # an open-ended interval runs off the top
    dial.set_ylabel(r"noise-to-signal  tr Cov$[\hat g]$ / $|E\,\hat g|^2$")
    dial.set_title(r"(b) GAE: noise against $\lambda$")
    cosine.set_ylabel(r"mean cos(one batch's $\hat g$, $g^*$)")
    cosine.set_title(r"(c) GAE: one batch's direction against $\lambda$")
    for axes in (dial, cosine):
        axes.set_xlabel(r"$\lambda$  ($\lambda = 1$: $G_t - V$)")
        axes.set_xticks(positions, [f"{lam:g}" for lam in LAMBDAS])
        axes.legend(fontsize=8)
    for axes in (bars, dial, cosine):
        axes.grid(alpha=0.3, axis="y")
    figure.suptitle(f"CartPole-v1, one frozen policy, {variance['batches']} batches of {NUM_ENVS} episodes each, "
                    f"95 % bootstrap intervals over batches\n{info}", fontsize=9)
    figure.savefig(path, dpi=110)


# (title, algorithms, where the legend goes)
FAMILY_PANELS = (("critic-free, whole episodes", ("reinforce", "rloo", "grpo"), "upper left"),
                 ("with a critic, GAE", ("a2c", "ppo", "ppo_kl", "trpo"), "lower right"))


def smoothed(returns, window: int):
    """Trailing mean over `window` iterations of each seed's curve `returns [iterations, seeds]`
    (NaN, before a seed's first finished episode, left out)."""
    padded = np.concatenate([np.full((window - 1, returns.shape[1]), np.nan), returns])
    windows = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows
        return np.nanmean(windows, axis=-1)


SMOOTHING = 0.02  # of the budget: each seed's curve is averaged over this share of the env steps


def plot_family(family, budget: Budget, path: Path, info: str):
    figure, panels = _figure(12, 4.2, 2)
    for axes, (title, names, legend) in zip(panels, FAMILY_PANELS):
        for name in names:
            if name not in family:
                continue
            steps = np.asarray(family[name]["env_steps"])
            window = max(1, round(SMOOTHING * budget.family_steps / family[name]["batch_size"]))
            returns = smoothed(np.asarray(family[name]["episode_return"]), window)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                q25, median, q75 = np.nanpercentile(returns, [25, 50, 75], axis=1)
            (line,) = axes.plot(steps, median, label=name)
            axes.fill_between(steps, q25, q75, color=line.get_color(), alpha=0.2, linewidth=0)
        axes.set_title(title)
        axes.set_xlabel("environment steps")
        axes.set_ylim(0, 520)
        axes.grid(alpha=0.3)
        if axes.lines:
            axes.legend(loc=legend, fontsize=9)
    panels[0].set_ylabel("training episode return")
    figure.suptitle(f"CartPole-v1, presets at {budget.family_steps:,} env steps; median and interquartile range of "
                    f"{budget.family_seeds} seeds, each averaged over {SMOOTHING:.0%} of the steps\n{info}", fontsize=9)
    figure.savefig(path, dpi=110)


# ---------------------------------------------------------------- the page's captions

ROWS = [("G_0", "$G_0$, the full return"), ("gamma^t G_t", r"$\gamma^t G_t$"), ("G_t", "$G_t$, reward-to-go"),
        ("RLOO", "RLOO, $K = 4$: $G_0$ minus the others' mean")]
for _label in ("rough", "fitted"):
    ROWS.append((f"G_t - V ({_label} V)", f"$G_t - V(s_t)$, {_label} $V$"))
    ROWS.extend((f"GAE {lam:g} ({_label} V)", f"GAE $\\lambda = {lam:g}$, {_label} $V$") for lam in LAMBDAS)


def _interval_text(low, high):
    return f"{low:.3g}–{high:.3g}" if high is not None else f"≥ {low:.3g}"


def provenance(record) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in record["versions"].items())
    return (f"Made by `{record['command']}` on {record['date']} ({record['machine']['cpu']}; {versions}); "
            f"every number is also in `figures.json`.")


def variance_summary(record) -> str:
    """The caption under gradient_variance.png: provenance, setup, and the numbers of the figure."""
    variance = record["gradient_variance"]
    stats, ev = variance["estimators"], variance["explained_variance"]
    steps = variance["critic_steps"]
    lines = [
        provenance(record),
        (f"The policy: {len(variance['policy_training_returns'])} REINFORCE iterations as in section 3 "
        f"(mean return of the last training batch {variance['policy_training_returns'][-1]:.1f}; "
        f"{variance['mean_episode_length']:.0f} steps per episode on average while measured), "
        f"{variance['actor_parameters']:,} actor parameters. "
        f"The critics: {steps['rough V']} and {steps['fitted V']} regression steps as in section 4, explained "
        f"variance {ev['rough V']:.2f} (rough) and {ev['fitted V']:.2f} (fitted) on the measured batches. "
        f"{variance['batches']} measured batches of {variance['episodes_per_batch']} episodes; $g^*$ from "
        f"{variance['reference_batches']} further batches; 95 % intervals from "
        f"{record['budget']['bootstrap']:,} bootstrap resamples of the measured batches."),
        "",
        ("| $\\psi_t$ | noise-to-signal (95 % interval) | mean cos(one batch, $g^*$) (95 % interval) "
        "| cos($\\mathbb{E}\\hat g$, $g^*$) |"),
        "| --- | ---: | ---: | ---: |",
    ]
    for key, text in ROWS:
        row = stats[key]
        ratio = "∞" if row["noise_to_signal"] is None else f"{row['noise_to_signal']:.3g}"
        lines.append(
            f"| {text} | {ratio} ({_interval_text(*row['noise_to_signal_95'])}) "
            f"| {row['batch_cosine']:.3f} ({_interval_text(*row['batch_cosine_95'])}) | {row['mean_cosine']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def family_summary(record) -> str:
    """The caption under family_curves.png."""
    budget = record["budget"]
    lines = [
        provenance(record),
        (f"{budget['family_steps']:,} env steps per seed, {budget['family_seeds']} seeds split off "
        "`jax.random.key(0)`, one `train_batch` program per algorithm. Training return: the mean "
        "undiscounted return of the episodes that ended in an iteration; final: its mean over the last "
        "5 % of the iterations, per seed. Compile and run seconds are for all seeds together."),
        "",
        "| algorithm | final training return, median (interquartile range) | iterations × batch | compile s | run s |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, row in record["family"].items():
        q25, q75 = row["final_return_iqr"]
        lines.append(
            f"| `{name}` | {row['final_return_median']:.1f} ({q25:.1f}–{q75:.1f}) | {row['iterations']:,} × "
            f"{row['batch_size']:,} | {row['compile_s']:.1f} | {row['run_s']:.1f} |"
        )
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- provenance


def cpu_description() -> str:
    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), model)
    except OSError:
        pass
    return f"{model or platform.machine()}, {os.cpu_count()} logical cores"


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for package in ("jax", "jaxlib", "flax", "optax", "gymnax"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    return {**out, "pgjax": pgjax.__version__}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny budgets: a smoke run of under a minute")
    parser.add_argument("--out", type=Path, default=HERE, help="folder for the figures and figures.json")
    args = parser.parse_args(argv)
    budget = QUICK if args.quick else FULL
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python -m docs.tutorial.figures" + (" --quick" if args.quick else "")
    start = time.perf_counter()
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    info = f"{date}, {cpu_description()}, `{command}`"

    print("gradient variance ...", flush=True)
    variance = measure_variance(budget)
    variance_s = time.perf_counter() - start
    plot_variance(variance, args.out / "gradient_variance.png", info)
    print(f"family ({budget.family_steps:,} env steps, {budget.family_seeds} seeds) ...", flush=True)
    family = train_family(budget)
    plot_family(family, budget, args.out / "family_curves.png", info)

    record = {
        "command": command,
        "date": date,
        "machine": {"cpu": cpu_description(), "platform": platform.platform(), "processor": platform.processor(),
                    "cpu_count": os.cpu_count(), "jax_devices": [str(d) for d in jax.devices()],
                    "load_average_at_end": os.getloadavg()[0] if hasattr(os, "getloadavg") else None},
        "versions": versions(),
        "budget": dataclasses.asdict(budget),
        "seconds": {"gradient_variance": variance_s, "total": time.perf_counter() - start},
        "gradient_variance": variance,
        "family": {name: {k: v for k, v in r.items() if k not in ("env_steps", "episode_return")}
                   for name, r in family.items()},
    }
    (args.out / "figures.json").write_text(json.dumps(record, indent=1) + "\n")
    # The captions the page includes under each figure, so that its text cannot drift from them.
    (args.out / "gradient_variance.txt").write_text(variance_summary(record))
    (args.out / "family_curves.txt").write_text(family_summary(record))
    print(f"wrote {args.out / 'gradient_variance.png'}, {args.out / 'family_curves.png'}, "
          f"{args.out / 'figures.json'} in {record['seconds']['total']:.0f} s")
    return record


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
