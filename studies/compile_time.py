"""Where does pgjax's classic CartPole PPO program spend its compile time, against Rejax's?

The program `benchmarks.peers` compiles for its one-seed row (`jax.jit(ppo.train)` at the
preset, which equals the classic settings), and variants of it that switch one piece off or
on: value clipping, learning-rate annealing, the observation normaliser (off in the preset),
Rejax's initialisation (lecun-normal) in place of the orthogonal one, a host callback every
iteration (the in-program reporting the commands no longer use), and the two programs
`pgjax train` compiles instead of one (`init`, and a block of iterations). Beside them, Rejax
0.1.3's program at the same settings, in its own venv (`benchmarks.peers.peer_python`).

Each variant compiles in a fresh process (no program cached in memory or on disk), in rounds
that alternate all of them, Rejax included, so that a slow spell of the machine falls on all.
For each: the seconds of tracing and lowering (`jax.jit(f).lower(...)`) and of XLA's compile
(`.compile()`), median (min–max) over the rounds, and the HLO's size before and after XLA's
optimisation (instructions, fusions, while loops, dots), which do not vary between runs. The
evaluator is never inside the training program, so it adds nothing here.

Run: `python -m studies.compile_time [--rounds 3]` → `studies/compile_time.md`.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import statistics
import subprocess
import sys

from benchmarks import common, peers
from studies import STUDY_DIR

REPO = STUDY_DIR.parent

# name -> (what it is, config overrides, how the child compiles it)
VARIANTS = {
    "preset": ("the preset, as `benchmarks.peers` times it", {}, "train"),
    "clip_value=False": ("no value clipping", {"clip_value": False}, "train"),
    "anneal_lr=False": ("constant learning rate", {"anneal_lr": False}, "train"),
    "normalize_observations=True": ("with the observation normaliser (off in the preset)",
                                    {"normalize_observations": True}, "train"),
    "lecun init": ("Rejax's lecun-normal init instead of the orthogonal one (changes the numbers)", {}, "lecun"),
    "callback": ("a host callback after every iteration (`train(..., callback=...)`)", {}, "callback"),
    "LLVM level 1": ("XLA's `xla_backend_optimization_level=1` (compile option; the default is higher)", {}, "level1"),
    "LLVM level 0": ("XLA's `xla_backend_optimization_level=0`", {}, "level0"),
    "command": ("what `pgjax train` compiles: `init`, then a block of 61 iterations (2 programs)", {}, "command"),
}

_PGJAX_CHILD = r"""
import hashlib, json, sys, time
from functools import partial
import jax
import numpy as np
from pgjax import ppo
from pgjax.algorithms import scan

how, overrides, steps = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
if how == "lecun":
    import flax.linen as nn
    from pgjax.networks import initializers
    initializers.orthogonal = lambda scale=1.0: nn.initializers.lecun_normal()
config = ppo.Config.for_env("CartPole-v1", total_timesteps=steps, **overrides)
key = jax.random.PRNGKey(0)
if how == "command":
    state_like = jax.eval_shape(ppo.init, config, key)
    programs = [(jax.jit(ppo.init), (config, key)),
                (jax.jit(partial(scan.continue_training, ppo.update, num_iterations=61)), (config, state_like))]
elif how == "callback":
    programs = [(jax.jit(lambda c, k: ppo.train(c, k, callback=lambda metrics: None)), (config, key))]
else:
    programs = [(jax.jit(ppo.train), (config, key))]
options = {"xla_backend_optimization_level": int(how[-1])} if how.startswith("level") else None
out = {"lower_s": 0.0, "compile_s": 0.0, "pre": "", "opt": "", "run_s": None, "digest": None}
for fn, args in programs:
    start = time.perf_counter()
    lowered = fn.lower(*args)
    lowered_at = time.perf_counter()
    compiled = lowered.compile(compiler_options=options) if options else lowered.compile()
    out["lower_s"] += lowered_at - start
    out["compile_s"] += time.perf_counter() - lowered_at
    out["pre"] += lowered.as_text(dialect="hlo")
    out["opt"] += compiled.as_text()
if how not in ("command", "callback"):  # one whole training run: its time, and its numbers' digest
    start = time.perf_counter()
    _, metrics = jax.block_until_ready(compiled(*args))
    out["run_s"] = time.perf_counter() - start
    out["digest"] = hashlib.sha256(b"".join(np.asarray(metrics[k]).tobytes() for k in sorted(metrics))).hexdigest()
print(json.dumps(out))
"""

_REJAX_CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[2])
import jax
from rejax_runner import make_algo

algo = make_algo(4, int(sys.argv[1]))
start = time.perf_counter()
lowered = jax.jit(algo.train).lower(jax.random.PRNGKey(0))
lowered_at = time.perf_counter()
compiled = lowered.compile()
lower_s, compile_s = lowered_at - start, time.perf_counter() - lowered_at
start = time.perf_counter()
jax.block_until_ready(compiled(jax.random.PRNGKey(0)))
print(json.dumps({"lower_s": lower_s, "compile_s": compile_s, "run_s": time.perf_counter() - start,
                  "pre": lowered.as_text(dialect="hlo"), "opt": compiled.as_text()}))
"""


def hlo_counts(text: str) -> dict[str, int]:
    """Instructions, and the count of a few opcodes, in HLO text."""
    opcodes = collections.Counter()
    instructions = 0
    for line in text.splitlines():
        if not re.match(r"^\s+(ROOT\s+)?%?[\w.\-]+ = ", line):
            continue
        instructions += 1
        found = re.search(r"= (?:\([^=]*?\)|[\w\[\]{},:\d\s/#*]+?) ([\w\-]+)\(", re.sub(r"/\*.*?\*/", "", line))
        if found:
            opcodes[found.group(1)] += 1
    return {"instructions": instructions, "fusions": opcodes["fusion"], "whiles": opcodes["while"],
            "dots": opcodes["dot"]}


def _run(command: list[str], env: dict) -> dict:
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"{command[:2]} failed:\n{done.stderr[-2000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return {"lower_s": out["lower_s"], "compile_s": out["compile_s"], "run_s": out.get("run_s"),
            "digest": out.get("digest"), "pre": hlo_counts(out["pre"]), "opt": hlo_counts(out["opt"])}


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    steps = peers.steps_per_seed(peers.CLASSIC["total_timesteps"], 4, 2)
    # One CPU device, no compilation cache: each child compiles everything it times.
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_COMPILATION_CACHE_DIR")}
    env.update(JAX_NUM_CPU_DEVICES="1", JAX_ENABLE_COMPILATION_CACHE="false")
    rejax_python, reason = peers.peer_python("rejax")
    rejax_env = {k: v for k, v in env.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    results: dict[str, list[dict]] = collections.defaultdict(list)
    for round_ in range(args.rounds):
        for name, (_, overrides, how) in VARIANTS.items():
            common.log(f"compile_time: round {round_ + 1}, pgjax {name}")
            results[name].append(_run([sys.executable, "-c", _PGJAX_CHILD, how, json.dumps(overrides), str(steps)],
                                      env))
        if rejax_python is not None:
            common.log(f"compile_time: round {round_ + 1}, Rejax")
            results["Rejax"].append(_run([str(rejax_python), "-c", _REJAX_CHILD, str(steps),
                                          str(REPO / "benchmarks" / "peers")], rejax_env))

    def seconds(values: list[float]) -> str:
        return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"

    preset_digest = results["preset"][0]["digest"]
    rows = []
    labels = {**{name: f"pgjax: {what}" for name, (what, _, _) in VARIANTS.items()},
              "Rejax": "Rejax 0.1.3, the same settings, its evaluator swapped for a no-op (as `benchmarks.peers`)"}
    for name, runs in results.items():
        total = [r["lower_s"] + r["compile_s"] for r in runs]
        first = runs[0]
        same = "—" if first["digest"] is None or name == "preset" else (
            "yes" if all(r["digest"] == preset_digest for r in runs) else "no")
        run_s = [r["run_s"] for r in runs if r["run_s"] is not None]
        rows.append([
            f"`{name}`" if name in VARIANTS else name, labels[name], seconds(total),
            seconds([r["lower_s"] for r in runs]), seconds([r["compile_s"] for r in runs]),
            seconds(run_s) if run_s else "—", same,
            f"{first['pre']['instructions']:,}", f"{first['opt']['instructions']:,}", first["opt"]["fusions"],
            first["opt"]["whiles"], first["opt"]["dots"],
        ])
    notes = [
        f"command: `python -m studies.compile_time --rounds {args.rounds}`; each cell a median (min–max) over the "
        "rounds, every variant in a fresh process per round, rounds alternating all variants and Rejax; one CPU "
        "device, no compilation cache.",
        f"PPO on CartPole-v1 at the classic settings, {steps:,} env steps (the trip count of the loop over "
        "iterations is a constant in the program: it does not change its size).",
        "HLO sizes: instructions of the lowered program (before XLA's optimisation) and of the compiled one "
        "(after: fusions, while loops and dots counted there). run s: one call of the compiled program (the whole "
        "training; not for the programs that are not a whole `train`); same numbers: the training metrics' "
        "bytes equal the preset's in every round.",
        *([] if rejax_python is not None else [f"Rejax not installed: {reason}"]),
    ]
    markdown = common.header("Compile time: pgjax's classic PPO program, piece by piece, and Rejax's", notes=notes)
    markdown += "\n" + common.table(
        ["variant", "what", "compile s (total)", "trace + lower s", "XLA compile s", "run s (one training)",
         "same numbers as the preset", "HLO instructions (lowered)",
         "HLO instructions (compiled)", "fusions", "while loops", "dots"], rows)
    return common.write_section("compile_time", markdown, folder=STUDY_DIR)


if __name__ == "__main__":
    print(main())
