"""Where the time of one PPO iteration goes, and what the listed optimisations buy.

Part 1 — each part of `ppo.update` (`studies/iteration_parts.py`) jitted on its own and
timed (median of many calls, each waited for with `block_until_ready`):
- rollout: `acting.collect` (env steps + the fused actor-critic forward + sampling,
  and one batched critic call on the true next observations);
- GAE: `learning.advantage_batch` (GAE, then flattening `[T, N] -> [T·N]`);
- learning: `learning.minibatch_epochs` over `learning.gradient_step` (epochs × minibatches
  of Adam steps on the PPO loss);
- the whole `ppo.update` in one program, to show what fusing them saves.

Part 2 — optimisations, each as a before/after ratio measured in the same run:
- rollout: one fused actor-critic call per step (`ActorCritic.__call__`, as
  `acting.collect` does) against separate policy and value calls; all keys drawn
  before the scan (as `pgjax.rollout` does) against splitting a carried key at
  every step (on `ceiling.env_loop`'s env + policy loop);
- minibatching: the shipped `minibatch_epochs` permutes the whole batch once per
  epoch (one gather, then free reshapes), against gathering each minibatch inside
  the scan by index;
- the learning batch: the shipped `learning.Batch` holds only the fields the loss
  reads (obs, action, log_prob, value, advantages, targets), against the batch
  pgjax had before this profile, which carried the whole flattened `Trajectory`
  (rewards, done flags, next values, episode statistics) through every shuffle
  (rebuilt here as `FatBatch`, since the library no longer has it);
- buffer donation: a Python loop of `update` calls with `jax.jit(update,
  donate_argnums=...)` on the state, against without (inside `train`'s `lax.scan`
  XLA already updates the carry in place, so this only matters for callers that
  drive `update` from Python).

Part 3 — kernels (`studies/kernel_profile.py`, run from here, tables in
`studies/kernel_profile.md`): at the classic settings, how many XLA kernels each part
executes per call (counted on the optimised HLO, loops by their trip counts), time per kernel,
and how much of the time arithmetic at the measured matmul peak and the dispatch floor of a
trivial kernel explain; this file gets its conclusion and a link.

Run: `python -m studies.profile_iteration [--quick]` → `studies/profile_iteration.md` + `.png`
(and `studies/kernel_profile.md`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from benchmarks import ceiling, common
from pgjax import Trajectory, rollout
from pgjax.algorithms import build, learning, ppo
from pgjax.networks import ActorCritic
from studies import STUDY_DIR, kernel_profile
from studies.iteration_parts import CONFIGS, PART_NAMES, make_config, part_functions, time_executable


def epochs_gather_per_minibatch(step_fn, carry, batch, key, num_epochs, num_minibatches):
    """Alternative to `learning.minibatch_epochs`: shuffle indices only, gather each minibatch
    inside the scan. Same minibatches, same order, so the same numbers."""
    batch_size = jax.tree.leaves(batch)[0].shape[0]

    def epoch(carry, epoch_key):
        order = jax.random.permutation(epoch_key, batch_size).reshape(num_minibatches, -1)
        return jax.lax.scan(lambda c, idx: step_fn(c, jax.tree.map(lambda x: x[idx], batch)), carry, order)

    carry, metrics = jax.lax.scan(epoch, carry, jax.random.split(key, num_epochs))
    return carry, jax.tree.map(jnp.mean, metrics)


@struct.dataclass
class FatBatch:
    """The learning batch as it was before this profile: the whole flattened `Trajectory`
    (rewards, done flags, next values, episode statistics) beside advantages and targets.
    The loss reads it as it reads `learning.Batch` (every attribute it asks for comes from
    `batch`); `minibatch_epochs` shuffles every leaf, so the fields of `transitions`, which
    the loss never reads, are gathered in every epoch all the same."""

    batch: learning.Batch
    transitions: Trajectory  # the trajectory's other fields (those in `batch` are None here)

    def __getattr__(self, name):
        if name in ("batch", "transitions"):  # not set yet (while the dataclass is built)
            raise AttributeError(name)
        return getattr(self.batch, name)


def fat_batch(config, trajectory: Trajectory) -> FatBatch:
    """`learning.advantage_batch`'s batch, with the rest of the trajectory beside it."""
    batch = learning.advantage_batch(config, build.build(config), trajectory)
    rest = trajectory.replace(obs=None, action=None, log_prob=None, value=None)  # already in `batch`
    flat = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), rest)  # [T, N] -> [T·N], as the batch
    return FatBatch(batch, flat)


def profile(config, calls: int, repeats: int):
    """Compile and time each part; returns `{part: (compile_s, Timing)}` plus the ratios."""
    state = ppo.init(config, jax.random.PRNGKey(0))
    functions = part_functions(config)
    collect, advantages, update = functions["rollout"], functions["gae"], functions["update"]

    def make_epochs(epochs_impl):
        return part_functions(config, epochs_impl)["epochs"]

    setup = build.build(config)
    env, env_params, module = setup.env, setup.env_params, setup.network.module

    def value_fn(params, carry, obs):
        return module.apply(params, obs, method=ActorCritic.value)

    def rollout_with(policy_fn):
        def run(state):
            return rollout(env, env_params, policy_fn, value_fn, state.params, state.env_state, state.obs,
                           state.key, config.num_steps)[4]
        return run

    def two_calls(params, carry, obs, reset):
        return carry, module.apply(params, obs, method=ActorCritic.policy), value_fn(params, carry, obs)

    def key_loop(split_keys_in_scan):
        fn, args = ceiling.env_loop(config.env, config.num_envs, config.num_steps, True, split_keys_in_scan)
        return timed(fn, *args)

    def timed(fn, *args):
        executable, compile_s = common.compile_ahead(fn, *args)
        return compile_s, time_executable(executable, args, calls, repeats)

    # Each part is timed before its output is computed for the next part, so that its
    # compile time is measured fresh rather than read back from JAX's compilation cache.
    rollout_part = timed(collect, state)
    new_state, trajectory = jax.jit(collect)(state)
    advantage_part = timed(advantages, trajectory)
    batch = jax.jit(advantages)(trajectory)
    before_batch = jax.jit(lambda t: fat_batch(config, t))(trajectory)
    parts = {
        PART_NAMES["rollout"]: rollout_part,
        PART_NAMES["gae"]: advantage_part,
        PART_NAMES["epochs"]: timed(make_epochs(learning.minibatch_epochs), new_state, batch),
        PART_NAMES["update"]: timed(update, state),
    }
    variants = {
        "rollout: one fused actor-critic call per step (instead of policy and value calls)":
            (timed(rollout_with(two_calls), state), timed(rollout_with(setup.network.apply), state)),
        "env + policy loop: keys drawn before the scan (instead of split at every step)":
            (key_loop(True), key_loop(False)),
        "epochs: gather per minibatch (instead of permute once per epoch)":
            (parts[PART_NAMES["epochs"]],
             timed(make_epochs(epochs_gather_per_minibatch), new_state, batch)),
        "epochs: `learning.Batch` holds only the fields the loss reads (instead of the whole Trajectory)":
            (timed(make_epochs(learning.minibatch_epochs), new_state, before_batch),
             parts[PART_NAMES["epochs"]]),
        f"{calls} Python-driven updates: donate_argnums=0 (instead of no donation)":
            donation(update, state, calls, repeats),
    }
    return parts, variants


def donation(update, state, calls: int, repeats: int):
    """`calls` jitted `update`s driven from Python, without and with donating the state."""
    results = []
    for donate in ((), (0,)):
        executable, compile_s = common.compile_ahead(update, state, donate_argnums=donate)

        def loop():
            current = jax.tree.map(jnp.copy, state)  # donation consumes its input: start from a copy
            for _ in range(calls):
                current, _ = executable(current)
            return current

        results.append((compile_s, common.time_calls(loop, repeats=repeats, warmup=1)))
    return results[0], results[1]


def kernel_section(kernels: dict) -> str:
    """The section that links `kernel_profile.md`, from `kernel_profile.main`'s `summary["kernels"]`."""
    return (
        "\n### Kernels per iteration, classic settings\n\n"
        + ("QUICK smoke run — not a measurement. " if kernels["quick"] else "")
        + f"Measured {kernels['when']} on {kernels['machine']}. " + kernels["conclusion"]
        + "\n\nThe tables (kernels executed per part by kind, the loops with their trip counts, per-kernel "
        "times from a `jax.profiler` trace, the PRNG implementations compared) are in "
        "[kernel_profile.md](kernel_profile.md), written by `python -m studies.kernel_profile [--quick]`, "
        "which this script runs.\n"
    )


def main(quick: bool = False, summary: dict | None = None) -> str:
    """Measure, write `profile_iteration.md` + `.png`, return the markdown; key figures go into `summary`."""
    calls, repeats = (5, 3) if quick else (30, 5)
    sections, shares = [], {}
    configs = dict(list(CONFIGS.items())[:1]) if quick else CONFIGS  # the smoke run: classic only
    for name, fields in configs.items():
        common.log(f"profile_iteration: {name}")
        config = make_config(fields)
        # Fewer back-to-back calls for big batches, whose single call is already long (≈0.1 s).
        config_calls = max(3, min(calls, calls * 512 // config.batch_size))
        parts, variants = profile(config, config_calls, repeats)
        part_total = sum(timing.median for key, (_, timing) in parts.items() if not key.startswith("whole"))
        rows = []
        for key, (compile_s, timing) in parts.items():
            share = "—" if key.startswith("whole") else f"{timing.median / part_total:.0%}"
            rows.append([key, f"{compile_s:.2f}", timing.seconds(3).replace(" s", " s"), share])
        shares[name] = {key: timing.median / part_total for key, (_, timing) in parts.items()
                        if not key.startswith("whole")}
        variant_rows = []
        for key, ((_, before), (_, after)) in variants.items():
            variant_rows.append([key, before.seconds(3), after.seconds(3), f"{after.median / before.median:.2f}"])
        if summary is not None:
            summary.setdefault("profile", {})[name] = dict(
                shares=shares[name],
                ratios={key: after.median / before.median for key, ((_, before), (_, after)) in variants.items()})
        sections.append(
            f"\n### {name}, 4 epochs × 4 minibatches, batch {config.batch_size} "
            f"({config_calls} calls per timed sample)\n\n"
            + common.table(["part (jitted alone)", "compile s", "time per call", "share of parts"], rows)
            + "\n" + common.table(["optimisation", "before", "after", "after / before (<1 = faster)"],
                                  variant_rows)
        )

    markdown = common.header(
        "Profile of one PPO iteration, CartPole-v1",
        notes=[
            *(["QUICK smoke run — not a measurement."] if quick else []),
            "each timed sample is n back-to-back calls of the jitted part, divided by n (n in each "
            f"heading); median (min–max) over {repeats} samples after one warm-up sample.",
            "shares are of the sum of the three parts; the whole `ppo.update` in one program also "
            "includes the episode metrics and lets XLA fuse across the parts.",
            "the two rollout rows measure choices already in the library (fused forward; keys drawn "
            "before the scan) against their alternatives.",
            "changed because of this profile: `learning.Batch` now carries only the fields the loss reads; "
            "an earlier profile, taken on a heavily loaded machine (load average 9.5), put the old "
            "whole-`Trajectory` batch at ≈2× the epoch time. The 'before' column of that row rebuilds the "
            "old batch, so the table re-measures the change in this run; read its ratio, not the old claim "
            "(XLA can drop the unused gathered fields, so ≈1 is possible).",
            "the other two rows are alternatives measured and not adopted unless clearly < 1: the minibatch "
            "gather stays one permutation per epoch; `train` scans `update` in one program, where XLA "
            "reuses the carry's buffers without donation (donation only helps Python-driven loops).",
        ],
    )
    markdown += "".join(sections)
    kernel_summary = summary if summary is not None else {}
    kernel_profile.main(quick, kernel_summary)
    markdown += kernel_section(kernel_summary["kernels"])

    figure, ax = common.new_figure()
    names = list(shares)
    bottoms = [0.0] * len(names)
    for part in next(iter(shares.values())):
        values = [shares[n][part] for n in names]
        ax.bar(names, values, bottom=bottoms, label=part.split(" (")[0])
        bottoms = [b + v for b, v in zip(bottoms, values)]
    ax.set_ylabel("share of one iteration")
    ax.set_title("PPO iteration profile, CartPole-v1")
    ax.legend()
    markdown += "\n" + common.save_figure(figure, "profile_iteration", STUDY_DIR)
    return common.write_section("profile_iteration", markdown, STUDY_DIR)


if __name__ == "__main__":
    print(main(common.parse_quick()))
