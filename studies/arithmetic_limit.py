"""How far pgjax and Rejax are from this CPU's arithmetic limit, per peer setting.

For each setting of `benchmarks/peers` (classic CartPole PPO: 1 seed; 8 seeds vmapped;
1024 envs), both libraries' whole compiled training programs are timed in this run, as
`peers` times them, and their arithmetic is counted on the optimised HLO with
`kernel_profile.analyse` (dot = 2·M·N·K, one FLOP per element of other arithmetic, loop
bodies × their trip counts; transcendentals left out). Then

    FLOPs per env step = the program's FLOPs / the env steps it simulates
    arithmetic limit   = peak FLOP/s / FLOPs per env step   (env-steps/s)
    share              = measured env-steps/s / arithmetic limit

with the peak a jitted 2048 × 2048 float32 matmul measured in the same run. The limit is a
bound no program reaches (its kernels are small, and on this CPU most of an iteration's
time is per-kernel cost: `kernel_profile.md`); the share says how much room is left. A
second table times, alone, the matmuls of one minibatch step at 1024 envs, where kernels
are large: which of them run near the peak and which do not.

Run: `python -m studies.arithmetic_limit [--quick]` → `studies/arithmetic_limit.md`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import jax.numpy as jnp

from benchmarks import common, peers
from studies import STUDY_DIR, kernel_profile

PEAK_SIZE, PEAK_REPEATS = 2048, 5
# The matmuls of one minibatch step at 1024 envs (minibatches of 32,768 transitions, 64-64
# tanh, CartPole's 4 observations and 2 actions): (what, [M, K], [K, N]).
ROWS = 1024 * peers.NUM_STEPS // 4
MINIBATCH_MATMULS = (
    ("first layer, forward", (ROWS, 4), (4, 64)),
    ("hidden layer, forward", (ROWS, 64), (64, 64)),
    ("actor head, forward", (ROWS, 64), (64, 2)),
    ("critic head, forward", (ROWS, 64), (64, 1)),
    ("hidden layer, weight gradient", (64, ROWS), (ROWS, 64)),
    ("hidden layer, input gradient", (ROWS, 64), (64, 64)),
)


def matmul_rates(repeats: int) -> list[tuple[str, tuple, tuple, float, float]]:
    """`(what, lhs, rhs, seconds per call, FLOP/s)` of one jitted matmul of each shape."""
    out = []
    for what, lhs, rhs in MINIBATCH_MATMULS:
        a, b = jnp.full(lhs, 0.01, jnp.float32), jnp.full(rhs, 0.01, jnp.float32)
        executable, _ = common.compile_ahead(jnp.matmul, a, b)
        seconds = common.time_calls(executable, a, b, repeats=repeats, warmup=2).median
        out.append((what, lhs, rhs, seconds, 2.0 * lhs[0] * lhs[1] * rhs[1] / seconds))
    return out


def measure(quick: bool = False) -> dict:
    total = 50_000 if quick else peers.CLASSIC["total_timesteps"]
    settings = {name: (envs, seeds, peers.steps_per_seed(total, envs, 2)) for name, envs, seeds in peers.SETTINGS}
    peak = kernel_profile.matmul_peak(PEAK_SIZE, PEAK_REPEATS)
    python, reason = peers.peer_python("rejax")
    rows = {}
    for name, (envs, seeds, steps) in settings.items():
        common.log(f"arithmetic_limit: {name}: {envs} envs × {seeds} seed(s) × {steps:,} steps")
        out = peers.run_pgjax(envs, seeds, steps, with_hlo=True)
        analysis = kernel_profile.analyse(out.pop("hlo"))
        rows[(name, "pgjax")] = {**out, "flops": analysis.flops, "matmul_flops": analysis.matmul_flops}
        if python is None:
            rows[(name, "Rejax")] = reason
            continue
        with tempfile.TemporaryDirectory() as tmp:
            hlo_path = Path(tmp) / "rejax.hlo"
            try:
                out = peers.run_rejax(python, envs, seeds, steps, hlo_path)
            except RuntimeError as error:
                rows[(name, "Rejax")] = str(error)
                continue
            analysis = kernel_profile.analyse(hlo_path.read_text())
            rows[(name, "Rejax")] = {**out, "flops": analysis.flops, "matmul_flops": analysis.matmul_flops}
    return {"peak": peak, "settings": settings, "rows": rows, "rejax_reason": reason,
            "matmuls": matmul_rates(5 if quick else 20)}


def report(m: dict, quick: bool) -> str:
    peak = m["peak"]
    notes = [
        f"peak: {peak / 1e9:.0f} GFLOP/s, a jitted {PEAK_SIZE}×{PEAK_SIZE} float32 matmul on all cores, this run.",
        "FLOPs counted on each timed program's optimised HLO (`kernel_profile.analyse`: dot = 2·M·N·K, one per "
        "element of other arithmetic, loop bodies × trip counts, transcendentals apart), over the whole training "
        "program (init included) divided by its env steps; limit = peak ÷ FLOPs per env step; share = measured ÷ limit.",
        "programs and timing as in `benchmarks/peers.md` (same settings, each library's own choices listed there); "
        "env-steps/s: median (min–max) of 3 calls.",
    ]
    if quick:
        notes.insert(0, "QUICK smoke run (50k steps per seed) — not a measurement.")
    lines = [common.header("Distance from the arithmetic limit: pgjax and Rejax, classic CartPole PPO",
                           notes=notes)]
    table_rows = []
    for name in m["settings"]:
        pgjax_rate = None
        for library in ("pgjax", "Rejax"):
            row = m["rows"][(name, library)]
            if isinstance(row, str):
                table_rows.append([name, library, "not run: " + row, "", "", "", "", ""])
                continue
            rate = row["env_steps"] / row["timing"].median
            per_step = row["flops"] / row["env_steps"]
            limit = peak / per_step
            if library == "pgjax":
                pgjax_rate = rate
            table_rows.append([
                name, library, f"{per_step / 1e3:.0f} k", f"{100 * row['matmul_flops'] / row['flops']:.0f}%",
                row["timing"].rate_str(row["env_steps"]),
                f"{limit:.3g}", f"{100 * rate / limit:.1f}%",
                "1" if library == "pgjax" else f"{pgjax_rate / rate:.2f}×",
            ])
    lines.append(common.table(
        ["setting", "library", "FLOPs per env step", "of them in matmuls", "env-steps/s", "arithmetic limit (env-steps/s)",
         "share of the limit", "pgjax ÷ library"], table_rows))
    lines.append(f"### The matmuls of one minibatch step at 1024 envs ({ROWS:,} rows), each jitted alone\n")
    lines.append("Median of the calls (one call each, launch included); a matmul at the peak would run at "
                 f"{peak / 1e9:.0f} GFLOP/s. The {PEAK_SIZE}² matmul is not the CPU's ceiling (a share above 100 % "
                 "says so), so the limits above are somewhat low and the shares somewhat high.\n")
    lines.append(common.table(
        ["matmul", "shape", "time per call", "GFLOP/s", "share of the peak"],
        [[what, f"[{lhs[0]:,}, {lhs[1]:,}] × [{rhs[0]:,}, {rhs[1]:,}]", f"{seconds * 1e6:.0f} µs", f"{rate / 1e9:.0f}",
          f"{100 * rate / peak:.0f}%"] for what, lhs, rhs, seconds, rate in m["matmuls"]]))
    return "\n".join(lines)


def main(quick: bool = False) -> str:
    return common.write_section("arithmetic_limit", report(measure(quick), quick), STUDY_DIR)


if __name__ == "__main__":
    print(main(common.parse_quick()))
