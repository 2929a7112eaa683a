"""A bitwise fingerprint of pgjax's training numbers, to show that a refactor changed none of them.

Run it on the code before a refactor and again after, then compare the two files:

    python -m studies.fingerprint --out before.npz      # on the old tree
    python -m studies.fingerprint --out after.npz       # on the new tree
    python -m studies.fingerprint --compare before.npz after.npz

`--out` trains tiny configurations of every algorithm and saves what they produce as one flat
`np.savez` file, name -> array. Compiling is nearly all of the time (about 18 CPU-minutes in
all, 5 to 40 seconds a case); the cases run in `--jobs` worker processes (default 2), so two
idle cores take about 10 minutes, more cores less. `--only REGEX` runs only the cases whose
name (`algo/env`) matches, for a quick look. The cases:

- every algorithm on `CartPole-v1` and `Pendulum-v1`, from `Config.for_env` (so the presets'
  switches stay on: observation normalisation and reward scaling where a preset sets them),
  with the sizes shrunk to three iterations of a 16-unit network;
- every algorithm but TRPO (which takes no recurrent network) with the GRU on the memory task
  `RepeatPrevious-v0` (12-step episodes, so episodes end, and the carry is reset, inside the
  rollouts), and with the causal transformer on the token task `Reverse2-tokens-v0`.

For each case, `<algo>/<env>/train/...`: `train`'s per-iteration metrics (`metrics/<name>`),
the final parameters (`params/<path>`, the path of each leaf in `state.params`), and the
returns of `evaluate(config, state, key, 4)` (`evaluate/returns`). For CartPole, the memory
task and the token task also `train_batch/...` (two seeds in one program: metrics
`[iterations, 2]` and parameters) and `checkpoint/...`: `train_with_checkpoints` with a
checkpoint after every iteration, stopped by its callback after the first, then resumed to the
end (metrics, parameters, and `iterations_before_resume`, which should be 1).

Every key comes from `jax.random.key(0)`: the same training, evaluation and batch keys serve
every case. `train`, `train_batch` and `evaluate` run under `jax.jit`, as the test suite
calls them, so the numbers do not depend on where the library itself places `jit`.

`--compare BEFORE AFTER` sorts every array of BEFORE into: bitwise equal; equal within a
relative 1e-6 (`np.allclose(a, b, rtol=1e-6, atol=0)`, NaN equal to NaN); different; missing
from AFTER. A parameter that a refactor moved (say under a new top-level `actor` or `critic`
module) is looked up by the last three components of its path when its full name is missing,
if exactly one unclaimed array of AFTER in the same case ends that way. Lists every array that
is not bitwise equal, with its largest relative difference; exits with status 1 if any array
differs beyond 1e-6 or is missing.

The script uses only public entry points and finds them where either layout keeps them
(`pgjax.ALGORITHMS`; `train_with_checkpoints` from `pgjax`, `pgjax.runs.checkpoint` or
`pgjax.checkpoint`), so the same file runs on the tree before and after the refactor.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import gc
import importlib
import multiprocessing
import os
import re
import sys
import tempfile
import time

import jax
import numpy as np

ROOT_SEED = 0
EVAL_EPISODES = 4
NUM_ITERATIONS = 3
BATCH_SEEDS = 2
RTOL = 1e-6

CLASSIC_ENVS = ("CartPole-v1", "Pendulum-v1")
MEMORY_ENV = "RepeatPrevious-v0"
TOKEN_ENV = "Reverse2-tokens-v0"
# Environments whose cases also run `train_batch` and checkpointed training.
EXTENDED_ENVS = ("CartPole-v1", MEMORY_ENV, TOKEN_ENV)
# TRPO rejects recurrent networks (the GRU, the transformer).
NO_RECURRENT = ("trpo",)

# Per algorithm: batch and update sizes small enough to compile and run in seconds. The
# episodic methods (reinforce, rloo, grpo) take `num_steps` as the window of one episode;
# the group methods need num_envs = num_groups * group_size.
SIZES = {
    "ppo": dict(num_envs=4, num_steps=8, update_epochs=2, num_minibatches=2),
    "ppo_kl": dict(num_envs=4, num_steps=8, update_epochs=2, num_minibatches=2),
    "a2c": dict(num_envs=4, num_steps=8),
    "trpo": dict(num_envs=4, num_steps=8, update_epochs=2, num_minibatches=2),
    "reinforce": dict(num_envs=4, num_steps=16),
    "rloo": dict(num_envs=4, num_groups=2, group_size=2, num_steps=16),
    "grpo": dict(num_envs=4, num_groups=2, group_size=2, num_steps=16, update_epochs=2, num_minibatches=2),
}
MLP = dict(hidden_sizes=(16, 16))
# Pendulum's episodes end only at the time limit, 200 steps by default: 10-step episodes are
# cut inside the rollouts, so that the bootstrapping at a truncation and the episode metrics
# are exercised too.
SHORT_EPISODES = {"Pendulum-v1": dict(env_params=(("max_steps_in_episode", 10),))}
# 12-step episodes (the default is 50), so that episodes end inside the rollouts.
GRU = dict(network="gru", gru_size=16, hidden_sizes=(16,), env_params=(("max_steps_in_episode", 12),))
# Reverse2's sequences are 5 tokens (3 of prompt, 2 of answer): a window of 2 steps is one answer.
TRANSFORMER = dict(network="transformer", d_model=16, num_layers=1, num_heads=2, max_len=8, num_steps=2)


@dataclasses.dataclass(frozen=True)
class Case:
    algorithm: str
    env: str
    overrides: dict

    @property
    def name(self) -> str:
        return f"{self.algorithm}/{self.env}"

    @property
    def extended(self) -> bool:
        return self.env in EXTENDED_ENVS


def cases() -> list[Case]:
    """Every case, in a fixed order."""
    found = []
    for env, network in [*((env, MLP) for env in CLASSIC_ENVS), (MEMORY_ENV, GRU), (TOKEN_ENV, TRANSFORMER)]:
        for name, sizes in SIZES.items():
            if network is not MLP and name in NO_RECURRENT:
                continue
            overrides = {**sizes, **network, **SHORT_EPISODES.get(env, {})}
            overrides["total_timesteps"] = NUM_ITERATIONS * overrides["num_envs"] * overrides["num_steps"]
            found.append(Case(name, env, overrides))
    return found


# ---------------------------------------------------------------- the library's entry points


def algorithms() -> dict:
    import pgjax

    return pgjax.ALGORITHMS


def train_with_checkpoints_fn():
    """`train_with_checkpoints`, from wherever this tree keeps it (newest layout first)."""
    errors = []
    try:
        from pgjax import train_with_checkpoints

        return train_with_checkpoints
    except ImportError as error:
        errors.append(f"pgjax: {error}")
    try:
        # The layout before pgjax 0.2.0 kept it in a module of its own.
        checkpoint = importlib.import_module("pgjax.checkpoint")
        return checkpoint.train_with_checkpoints
    except ImportError as error:
        errors.append(f"pgjax.checkpoint: {error}")
    raise ImportError("train_with_checkpoints not found; tried " + "; ".join(errors))


# ---------------------------------------------------------------- recording


def path_name(path) -> str:
    """`params/actor_torso/Dense_0/kernel` from a `tree_flatten_with_path` key path."""
    parts = []
    for entry in path:
        for attribute in ("key", "name", "idx"):
            if hasattr(entry, attribute):
                parts.append(str(getattr(entry, attribute)))
                break
        else:
            parts.append(str(entry))
    return "/".join(parts)


def record_params(out: dict, prefix: str, params) -> None:
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        out[f"{prefix}/params/{path_name(path)}"] = np.asarray(leaf)


def record_metrics(out: dict, prefix: str, metrics: dict) -> None:
    for name, value in metrics.items():
        out[f"{prefix}/metrics/{name}"] = np.asarray(value)


def run_case(case: Case, algo, keys: dict, out: dict) -> None:
    config = algo.Config.for_env(case.env, **case.overrides)

    state, metrics = jax.jit(algo.train)(config, keys["train"])
    prefix = f"{case.name}/train"
    record_metrics(out, prefix, metrics)
    record_params(out, prefix, state.params)
    evaluate = jax.jit(lambda config, state, key: algo.evaluate(config, state, key, EVAL_EPISODES))
    out[f"{prefix}/evaluate/returns"] = np.asarray(evaluate(config, state, keys["eval"]))

    if not case.extended:
        return

    states, metrics = jax.jit(algo.train_batch)(config, keys["batch"])
    prefix = f"{case.name}/train_batch"
    record_metrics(out, prefix, metrics)
    record_params(out, prefix, states.params)

    train_with_checkpoints = train_with_checkpoints_fn()
    with tempfile.TemporaryDirectory(prefix="pgjax-fingerprint-") as run_dir:
        # The callback asks to stop at its first call: one iteration, then a checkpoint.
        _, first = train_with_checkpoints(algo, config, keys["train"], run_dir, every_iterations=1,
                                          callback=lambda metrics: True)
        state, metrics = train_with_checkpoints(algo, config, keys["train"], run_dir, every_iterations=1,
                                                resume=True)
    prefix = f"{case.name}/checkpoint"
    out[f"{prefix}/iterations_before_resume"] = np.asarray(len(next(iter(first.values()))))
    record_metrics(out, prefix, metrics)
    record_params(out, prefix, state.params)


def fingerprint(only: str | None = None, jobs: int = 2) -> dict:
    """`{name: array}` of every case (those whose name matches the regular expression `only`).

    The cases run in `jobs` worker processes (compiling is most of the time, and one process
    compiles on one core); the numbers do not depend on `jobs`. A worker drops its compiled
    programs after each case: each holds thousands of memory mappings, and a process that kept
    every case's would pass Linux's default limit (vm.max_map_count = 65530), where XLA's
    compiler fails ("LLVM compilation error: Cannot allocate memory") and the process crashes.
    """
    selected = [case.name for case in cases() if only is None or re.search(only, case.name)]
    with tempfile.TemporaryDirectory(prefix="pgjax-fingerprint-cache-") as cache_dir:
        context = multiprocessing.get_context("spawn")  # fresh interpreters: no JAX state is inherited
        with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker,
                                                    initargs=(cache_dir,)) as pool:
            # The slowest cases (the transformer's, the GRU's) first, so that no worker is left
            # with a long one at the end; the arrays are stored in the fixed order.
            futures = {name: pool.submit(_run_named_case, name) for name in reversed(selected)}
            parts = [futures[name].result() for name in selected]
    return {name: array for part in parts for name, array in part.items()}


def _start_worker(cache_dir: str) -> None:
    # A compilation cache of this run only: a resumed checkpointed run loads the programs that
    # its first part compiled (the same programs, to the bit) instead of compiling them again,
    # and no program comes from an earlier run (or another JAX). One directory per worker, so
    # that no two processes write one file.
    jax.config.update("jax_compilation_cache_dir", os.path.join(cache_dir, str(os.getpid())))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def _run_named_case(name: str) -> dict:
    """The arrays of the case called `name`, computed in this (worker) process."""
    case = next(case for case in cases() if case.name == name)
    train_key, eval_key, batch_key = jax.random.split(jax.random.key(ROOT_SEED), 3)
    keys = {"train": train_key, "eval": eval_key, "batch": jax.random.split(batch_key, BATCH_SEEDS)}
    start = time.perf_counter()
    out: dict[str, np.ndarray] = {}
    run_case(case, algorithms()[case.algorithm], keys, out)
    jax.clear_caches()
    gc.collect()
    print(f"{case.name:40s} {time.perf_counter() - start:6.1f} s", file=sys.stderr, flush=True)
    return out


# ---------------------------------------------------------------- comparing

BITWISE, CLOSE, DIFFERENT, MISSING = "bitwise equal", f"equal within {RTOL:g}", "different", "missing in AFTER"
# When a parameter's full name is missing from AFTER, it is matched by this many trailing path
# components (e.g. `actor_torso/Dense_0/kernel`), so that leading ones (`params`, a new
# `actor` or `critic` level) may change.
SUFFIX = 3


def classify(a: np.ndarray, b: np.ndarray) -> tuple[str, float]:
    """`(category, largest relative difference)` of two arrays."""
    if a.shape != b.shape:
        return DIFFERENT, float("inf")
    if a.dtype == b.dtype and a.tobytes() == b.tobytes():
        return BITWISE, 0.0
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool) or not (
            np.issubdtype(b.dtype, np.number) or b.dtype == bool):
        return (BITWISE, 0.0) if np.array_equal(a, b) else (DIFFERENT, float("inf"))
    x, y = a.astype(np.float64), b.astype(np.float64)
    nan_x, nan_y = np.isnan(x), np.isnan(y)
    if np.any(nan_x != nan_y):
        relative = float("inf")
    else:
        both = ~nan_x
        difference = np.abs(x[both] - y[both])
        scale = np.maximum(np.abs(x[both]), np.abs(y[both]))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = np.where(difference == 0, 0.0, difference / scale)
        relative = float(ratios.max()) if ratios.size else 0.0
    close = np.allclose(x, y, rtol=RTOL, atol=0, equal_nan=True)
    return (CLOSE if close else DIFFERENT), relative


def suffix_key(name: str) -> tuple[str, tuple[str, ...]] | None:
    """`(case/mode, last SUFFIX path components)` of a parameter's name, None for other arrays."""
    head, marker, path = name.partition("/params/")
    return (head, tuple(path.split("/")[-SUFFIX:])) if marker else None


def suffix_matches(missing: list[str], unclaimed: list[str]) -> dict[str, str]:
    """BEFORE name -> AFTER name, for the missing parameters whose `suffix_key` is that of
    exactly one missing parameter and exactly one unclaimed array of AFTER."""
    groups: dict[tuple, tuple[list[str], list[str]]] = {}
    for side, names in enumerate((missing, unclaimed)):
        for name in names:
            key = suffix_key(name)
            if key is not None:
                groups.setdefault(key, ([], []))[side].append(name)
    return {old[0]: new[0] for old, new in groups.values() if len(old) == 1 and len(new) == 1}


def compare(before_path: str, after_path: str) -> int:
    with np.load(before_path) as file:
        before = {name: file[name] for name in file.files}
    with np.load(after_path) as file:
        after = {name: file[name] for name in file.files}

    missing = [name for name in before if name not in after]
    unclaimed = [name for name in after if name not in before]
    renamed = suffix_matches(missing, unclaimed)

    counts = {BITWISE: 0, CLOSE: 0, DIFFERENT: 0, MISSING: 0}
    report = []
    for name, a in before.items():
        other = name if name in after else renamed.get(name)
        if other is None:
            counts[MISSING] += 1
            report.append((name, MISSING, None, f"{a.shape} {a.dtype}"))
            continue
        b = after[other]
        category, relative = classify(a, b)
        counts[category] += 1
        if category != BITWISE:
            shape = f"{a.shape} {a.dtype}"
            if (b.shape, b.dtype) != (a.shape, a.dtype):
                shape += f" -> {b.shape} {b.dtype}"
            report.append((name if other == name else f"{name} -> {other}", category, relative, shape))

    print(f"BEFORE {before_path}: {len(before)} arrays; AFTER {after_path}: {len(after)} arrays")
    for category, count in counts.items():
        print(f"  {category:20s} {count}")
    print(f"  (parameters matched by the last {SUFFIX} components of their path: {len(renamed)})")
    extra = sorted(set(unclaimed) - set(renamed.values()))
    if extra:
        print(f"  (arrays only in AFTER: {len(extra)})")
        for name in extra:
            print(f"    {name}")
    if report:
        print("Not bitwise equal:")
        for name, category, relative, shape in report:
            detail = "" if relative is None else f"  max relative difference {relative:.3g}"
            print(f"  [{category}] {name} {shape}{detail}")
    return 1 if counts[DIFFERENT] or counts[MISSING] else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studies.fingerprint", description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--out", metavar="FILE.npz", help="train every case and save the fingerprint here")
    mode.add_argument("--compare", nargs=2, metavar=("BEFORE.npz", "AFTER.npz"), help="compare two fingerprints")
    parser.add_argument("--only", metavar="REGEX", help="with --out: only the cases whose name (algo/env) matches")
    parser.add_argument("--jobs", type=int, default=2, help="with --out: worker processes (default 2)")
    args = parser.parse_args(argv)
    if args.compare:
        return compare(*args.compare)
    start = time.perf_counter()
    arrays = fingerprint(args.only, args.jobs)
    np.savez(args.out, **arrays)
    import pgjax  # starts no backend

    print(f"{len(arrays)} arrays in {time.perf_counter() - start:.0f} s -> {args.out} "
          f"(pgjax from {os.path.dirname(pgjax.__file__)}, jax {jax.__version__})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
