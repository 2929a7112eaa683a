"""How many XLA kernels one PPO iteration runs, what each costs, and how much of it is overhead.

At the classic CartPole settings (`ppo.Config.for_env("CartPole-v1")`: 4 envs × 128 steps,
4 epochs × 4 minibatches, 64-64 tanh) every part of `ppo.update` is small: the matmuls are
[4, 64] × [64, 64] in the rollout and [128, 64] × [64, 64] in learning. This script asks
whether such an iteration is bound by arithmetic or by the fixed cost of running many small
kernels, for the same parts that `studies/profile_iteration.py` times (with the functions of
`studies/iteration_parts.py`): rollout, GAE + flatten, learning epochs, and the whole `ppo.update`.

1. Kernels, from the optimised HLO (`jax.jit(f).lower(...).compile().as_text()`). XLA's CPU
   runtime runs every top-level instruction of a computation as one "thunk" (a kernel):
   loop fusions, library calls (YNNPACK/oneDNN matmul fusions, custom-calls, plain `dot`s),
   other ops (copies, sorts, dynamic-update-slices, small loops that XLA hoisted into one
   compiled call), and `while` thunks that run their body. Kernels *executed* per call =
   Σ over computations (kernels in it × times it runs), following `while` bodies with their
   known trip counts (a while with a known trip count does not evaluate its condition).
2. Time: each part's executable timed as `profile_iteration` times it (n back-to-back calls
   per sample); time / kernels executed = mean time per kernel. A short `jax.profiler` trace
   (the CPU runtime records one event per thunk) gives per-kernel durations, cross-checks the
   count and splits the time into inside kernels and between them.
3. Overhead: arithmetic time = FLOPs / peak, with FLOPs counted on the HLO as XLA's cost
   analysis counts them (dot = 2·M·N·K, one per element of other arithmetic) but multiplied
   by trip counts (`compiled.cost_analysis()` counts every loop body once), and the peak
   measured with a 2048 × 2048 float32 matmul; dispatch cost per kernel from a compiled
   `lax.fori_loop` of 10⁴ trivial steps (add 1 to a [4, 64] array: two kernels per step);
   dispatch estimate = kernels executed × that cost.

Run: `python -m studies.kernel_profile [--quick]` → `studies/kernel_profile.md`
(`python -m studies.profile_iteration` also runs it and links it).
"""

from __future__ import annotations

import collections
import dataclasses
import glob
import math
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp

from benchmarks import common
from studies import STUDY_DIR, iteration_parts
from pgjax import ppo

CONFIG_NAME = "classic (4 envs × 128)"

# ---------------------------------------------------------------- parsing the optimised HLO

# Instructions that produce no thunk: they only name or alias buffers.
FREE = frozenset({"parameter", "constant", "get-tuple-element", "tuple", "bitcast", "after-all",
                  "add-dependency", "opt-barrier", "partition-id", "replica-id"})
CATEGORIES = ("fusion", "library", "other", "control")
CATEGORY_TEXT = {
    "fusion": "loop fusions",
    "library": "library calls (matmul)",
    "other": "other ops",
    "control": "while thunks",
}
TRANSCENDENTAL = frozenset({"exponential", "exponential-minus-one", "log", "log-plus-one", "tanh", "logistic",
                            "sqrt", "rsqrt", "cbrt", "power", "sine", "cosine", "tan", "atan2", "erf"})
ELEMENTWISE = frozenset({"add", "subtract", "multiply", "divide", "remainder", "maximum", "minimum", "negate",
                         "abs", "sign", "compare", "select", "clamp", "and", "or", "xor", "not", "shift-left",
                         "shift-right-logical", "shift-right-arithmetic", "convert", "floor", "ceil",
                         "round-nearest-afz", "round-nearest-even", "is-finite", "popcnt", "clz"})


@dataclasses.dataclass
class Instruction:
    name: str
    opcode: str
    shape: tuple[int, ...] | None  # array output dims; None for a tuple
    operands: list[str]
    attrs: str

    @property
    def elements(self) -> int:
        return math.prod(self.shape) if self.shape is not None else 0

    def called(self, attribute: str) -> str | None:
        match = re.search(rf"\b{attribute}=%([\w.\-]+)", self.attrs)
        return match.group(1) if match else None

    @property
    def trip_count(self) -> int | None:
        match = re.search(r'"known_trip_count":\{"n":"(\d+)"', self.attrs)
        return int(match.group(1)) if match else None

    @property
    def category(self) -> str | None:
        """Which kind of kernel this top-level instruction runs as (None: no kernel)."""
        if self.opcode in FREE:
            return None
        if self.opcode in ("while", "conditional") or (self.opcode == "call" and not self.small_call):
            return "control"
        if self.opcode == "fusion":
            return "library" if "kind=kCustom" in self.attrs else "fusion"
        if self.opcode in ("custom-call", "dot"):
            return "library"
        return "other"

    @property
    def small_call(self) -> bool:
        """XLA:CPU compiles a `call` marked `xla_cpu_small_call` (a small hoisted loop) as one kernel."""
        return self.opcode == "call" and 'xla_cpu_small_call="true"' in self.attrs


def _split_type(rest: str) -> tuple[str, str]:
    """`'f32[4]{0} add(%a, %b), ...'` → (type, remainder); tuple types nest parentheses."""
    if not rest.startswith("("):
        kind, _, remainder = rest.partition(" ")
        return kind, remainder
    depth = 0
    for i, char in enumerate(rest):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return rest[: i + 1], rest[i + 1:].lstrip()
    raise ValueError(f"unbalanced type in {rest[:80]!r}")


def _operands(text: str) -> tuple[list[str], str]:
    """`'(%a, %b), attrs'` → (['a', 'b'], 'attrs')."""
    depth = 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return re.findall(r"%([\w.\-]+)", text[: i + 1]), text[i + 1:]
    raise ValueError(f"unbalanced operands in {text[:80]!r}")


def parse_hlo(text: str) -> tuple[dict[str, list[Instruction]], str]:
    """`({computation: [instructions]}, entry name)` from `compiled.as_text()`."""
    computations: dict[str, list[Instruction]] = {}
    entry, current = None, None
    for line in text.splitlines():
        header = re.match(r"^(ENTRY )?%([\w.\-]+) \(.*\{$", line)
        if header:
            current = computations.setdefault(header.group(2), [])
            entry = header.group(2) if header.group(1) else entry
            continue
        if line.startswith("}"):
            current = None
            continue
        match = re.match(r"^\s*(?:ROOT )?%([\w.\-]+) = (.*)$", line)
        if current is None or not match:
            continue
        kind, remainder = _split_type(match.group(2))
        opcode, _, after = remainder.partition("(")
        operands, attrs = _operands("(" + after)
        dims = re.match(r"^\w+\[([\d,]*)\]", kind)
        shape = tuple(int(d) for d in dims.group(1).split(",") if d) if dims else None
        current.append(Instruction(match.group(1), opcode, shape, operands, attrs))
    if entry is None:
        raise ValueError("no ENTRY computation in the HLO text")
    return computations, entry


# ---------------------------------------------------------------- counting kernels and FLOPs


@dataclasses.dataclass
class Loop:
    path: str  # where it sits, e.g. "while.490 › while.489"
    trip_count: int
    runs: int  # how many times the loop starts per call of the program
    kernels: dict[str, int]  # kernels in one run of its body, by category


@dataclasses.dataclass
class Analysis:
    executed: dict[str, int]  # kernels executed per call, by category
    distinct: dict[str, int]  # kernels in the program text (each counted once), by category
    flops: float  # per call, loop bodies multiplied by their trip counts
    transcendentals: float
    flat_flops: float  # every computation counted once, as `cost_analysis()` does
    loops: list[Loop]
    categories: dict[str, str]  # instruction name → category, for the trace
    unknown_trips: int  # loops without a known trip count (counted as one trip)
    matmul_flops: float = 0.0  # the part of `flops` in dots, per call

    @property
    def total(self) -> int:
        return sum(self.executed.values())


def _own_cost(computations, instruction: Instruction, shapes: dict[str, tuple[int, ...] | None]):
    """(flops, transcendentals, matmul flops: the part of the flops in dots) of one instruction, recursing into
    fused computations."""
    op = instruction.opcode
    if op == "fusion" or instruction.small_call:
        called = instruction.called("calls") or instruction.called("to_apply")
        return _computation_cost(computations, called, own_only=False)
    if op == "while":  # only inside a hoisted small call: the loops `analyse` visits are counted there
        body = _computation_cost(computations, instruction.called("body"), own_only=False)
        return tuple(part * (instruction.trip_count or 1) for part in body)
    if op == "dot":
        lhs = shapes.get(instruction.operands[0]) or ()
        contracting = re.search(r"lhs_contracting_dims=\{([\d,]*)\}", instruction.attrs)
        k = math.prod(lhs[int(d)] for d in contracting.group(1).split(",") if d) if contracting else 1
        return 2.0 * instruction.elements * k, 0.0, 2.0 * instruction.elements * k
    if op in TRANSCENDENTAL:
        return 0.0, float(instruction.elements), 0.0
    if op in ELEMENTWISE:
        return float(instruction.elements), 0.0, 0.0
    if op in ("reduce", "reduce-window", "scatter", "select-and-scatter"):
        reducer = instruction.called("to_apply")
        per_element = _computation_cost(computations, reducer, own_only=False)[0] if reducer else 1.0
        if op == "reduce":
            inputs = instruction.operands[: max(1, len(instruction.operands) // 2)]  # then the init values
            elements = sum(math.prod(shapes.get(o) or ()) for o in inputs)
        elif op == "reduce-window":
            window = re.search(r"window=\{size=([\dx]+)", instruction.attrs)
            elements = instruction.elements * (math.prod(int(s) for s in window.group(1).split("x")) if window else 1)
        else:
            elements = math.prod(shapes.get(instruction.operands[-1]) or ())
        return per_element * elements, 0.0, 0.0
    if op == "sort":
        n = math.prod(shapes.get(instruction.operands[0]) or ())
        return n * max(1.0, math.log2(max(n, 2))), 0.0, 0.0
    return 0.0, 0.0, 0.0


def _computation_cost(computations, name: str, own_only: bool) -> tuple[float, float, float]:
    """(flops, transcendentals, matmul flops) of one run of computation `name`. With `own_only`, control-flow
    instructions (whose bodies are counted with their own run counts) add nothing."""
    shapes = {i.name: i.shape for i in computations[name]}
    total = (0.0, 0.0, 0.0)
    for instruction in computations[name]:
        if own_only and instruction.category == "control":
            continue
        total = tuple(a + b for a, b in zip(total, _own_cost(computations, instruction, shapes)))
    return total


def analyse(hlo_text: str) -> Analysis:
    """Kernels and FLOPs per call of a compiled program (see the module docstring)."""
    computations, entry = parse_hlo(hlo_text)
    runs: collections.Counter = collections.Counter()
    loops: list[Loop] = []
    unknown = 0

    def kernels_of(name):
        counts = collections.Counter(i.category for i in computations[name] if i.category)
        return {c: counts.get(c, 0) for c in CATEGORIES}

    def visit(name: str, times: int, path: str):
        nonlocal unknown
        runs[name] += times
        for instruction in computations[name]:
            if instruction.opcode == "while":
                trips = instruction.trip_count
                if trips is None:  # unknown: count one trip, and say so
                    unknown += 1
                    visit(instruction.called("condition"), times * 2, path)
                body = instruction.called("body")
                here = f"{path} › {instruction.name}" if path else instruction.name
                loops.append(Loop(here, trips or 1, times, kernels_of(body)))
                visit(body, times * (trips or 1), here)
            elif instruction.opcode == "conditional":  # every branch counted: an upper bound
                for branch in re.findall(r"%([\w.\-]+)", re.search(
                        r"(branch_computations=\{[^}]*\}|true_computation=%\S+ false_computation=%\S+)",
                        instruction.attrs).group(1)):
                    visit(branch, times, path)
            elif instruction.category == "control" and instruction.opcode == "call":
                visit(instruction.called("to_apply"), times, path)

    visit(entry, 1, "")
    executed = collections.Counter()
    distinct = collections.Counter()
    flops = transcendentals = flat = matmul = 0.0
    categories = {}
    for name, times in runs.items():
        for category, count in kernels_of(name).items():
            executed[category] += count * times
            distinct[category] += count
        f, t, mm = _computation_cost(computations, name, own_only=True)
        flops, transcendentals, flat = flops + f * times, transcendentals + t * times, flat + f
        matmul += mm * times
        categories.update({i.name: i.category for i in computations[name] if i.category})
    return Analysis({c: executed.get(c, 0) for c in CATEGORIES}, {c: distinct.get(c, 0) for c in CATEGORIES},
                    flops, transcendentals, flat, loops, categories, unknown, matmul)


# ---------------------------------------------------------------- measurements


def matmul_peak(size: int, repeats: int) -> float:
    """FLOP/s of one jitted `size × size` float32 matmul (median of `repeats` calls)."""
    a = jax.random.normal(jax.random.PRNGKey(0), (size, size), jnp.float32)
    executable, _ = common.compile_ahead(jnp.matmul, a, a)
    timing = common.time_calls(executable, a, a, repeats=repeats, warmup=1)
    return 2.0 * size**3 / timing.median


def one_core_peak(size: int) -> float | None:
    """`matmul_peak` in a child process pinned to one core (the PPO program's small kernels run
    one at a time, mostly on one thread); None where affinity cannot be set."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    core = min(os.sched_getaffinity(0))
    # Pinned in the child before JAX starts (a `preexec_fn` would fork this multithreaded process).
    code = (f"import os; os.sched_setaffinity(0, {{{core}}}); from studies import kernel_profile; "
            f"print(kernel_profile.matmul_peak({size}, repeats=3))")
    repo = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo, env=env,
                            check=False)
    try:
        return float(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        common.log(f"kernel_profile: one-core peak failed: {result.stderr[-500:]}")
        return None


def dispatch_cost(steps: int, repeats: int):
    """Seconds per kernel inside a compiled loop: a `fori_loop` of `steps` trivial steps (add 1
    to a [4, 64] array; a scalar carry would be hoisted into one kernel by XLA:CPU).
    Returns (seconds per kernel, Analysis, Timing of the whole loop, (executable, args))."""
    x = jnp.zeros((4, 64), jnp.float32)

    def loop(x):
        return jax.lax.fori_loop(0, steps, lambda i, y: y + 1.0, x)

    executable, _ = common.compile_ahead(loop, x)
    analysis = analyse(executable.as_text())
    timing = common.time_calls(executable, x, repeats=repeats, warmup=1)
    return timing.median / analysis.total, analysis, timing, (executable, (x,))


def launch_cost(calls: int, repeats: int) -> common.Timing:
    """Per-call time of a compiled one-kernel program (add 1 to a [4, 64] array) called from
    Python as the parts are: the fixed cost of launching an executable, in every time per call."""
    x = jnp.zeros((4, 64), jnp.float32)
    executable, _ = common.compile_ahead(lambda y: y + 1.0, x)
    return iteration_parts.time_executable(executable, (x,), calls, repeats)


def small_matmul_cost(rows: int, steps: int, repeats: int, per_kernel: float) -> tuple[float, float]:
    """One [rows, 64] × [64, 64] float32 matmul library call inside a compiled loop (the layer
    sizes of the classic PPO: rows = 4 in the rollout, 128 in a minibatch): its seconds,
    less the dispatch floor of the loop's other kernels, and its FLOP/s. The weight is the
    identity, so values neither grow nor become denormal."""
    x, w = jnp.ones((rows, 64), jnp.float32), jnp.eye(64, dtype=jnp.float32)

    def loop(x, w):
        return jax.lax.fori_loop(0, steps, lambda i, y: y @ w, x)

    executable, _ = common.compile_ahead(loop, x, w)
    analysis = analyse(executable.as_text())
    timing = common.time_calls(executable, x, w, repeats=repeats, warmup=1)
    matmuls = analysis.executed["library"]
    seconds = (timing.median - (analysis.total - matmuls) * per_kernel) / matmuls
    return seconds, 2.0 * rows * 64 * 64 / seconds


@dataclasses.dataclass
class Trace:
    kernels: int  # thunk events per call (while thunks excluded)
    busy_s: float  # Σ durations of those events per call
    wall_s: float  # first event start to last event end, per call
    by_category: dict[str, tuple[int, float]]  # category → (events, seconds) per call


def trace(executable, args, calls: int, analysis: Analysis) -> Trace | None:
    """Per-kernel durations from a `jax.profiler` trace of `calls` calls; None when the
    trace holds no per-thunk events (another backend, or a runtime that records none)."""
    common.block(executable(*args))
    with tempfile.TemporaryDirectory() as folder:
        jax.profiler.start_trace(folder)
        for _ in range(calls):
            common.block(executable(*args))
        jax.profiler.stop_trace()
        files = glob.glob(f"{folder}/**/*.xplane.pb", recursive=True)
        if not files:
            return None
        data = jax.profiler.ProfileData.from_file(files[-1])
    events = []
    for plane in data.planes:
        for line in plane.lines:
            for event in line.events:
                stats = dict(event.stats)
                if "hlo_op" not in stats:
                    continue
                events.append((stats["hlo_op"], stats.get("hlo_module"), event.start_ns, event.duration_ns))
    names = collections.Counter(m for _, m, _, _ in events)
    if not names:
        return None
    module = names.most_common(1)[0][0]
    events = [e for e in events if e[1] == module]
    by_category = collections.defaultdict(lambda: [0, 0.0])
    busy = 0.0
    for op, _, _, duration in events:
        category = analysis.categories.get(op, "other")
        if category == "control":  # a while thunk's span holds its body's events
            continue
        by_category[category][0] += 1
        by_category[category][1] += duration * 1e-9
        busy += duration * 1e-9
    wall = (max(s + d for _, _, s, d in events) - min(s for _, _, s, _ in events)) * 1e-9
    return Trace(round(sum(n for n, _ in by_category.values()) / calls), busy / calls, wall / calls,
                 {c: (round(n / calls), s / calls) for c, (n, s) in by_category.items()})


def rollout_step_kernels(analysis: Analysis, num_steps: int) -> int:
    """Kernels executed by one step of the rollout scan (its body plus the loops inside it)."""
    step = next(loop for loop in analysis.loops if loop.trip_count == num_steps and " › " not in loop.path)
    inner = sum(sum(loop.kernels.values()) * loop.trip_count for loop in analysis.loops
                if loop.path.startswith(step.path + " › "))
    return sum(step.kernels.values()) + inner


def update_with_prng(config, impl: str, calls: int, repeats: int) -> tuple[Analysis, common.Timing]:
    """`ppo.update` compiled with `jax_default_prng_impl = impl`: its kernels and time per call.
    JAX lowers threefry (the default) on CPU as a rolled 5-round loop, which XLA:CPU does not
    always hoist into one kernel; `rbg` draws random bits with XLA's RngBitGenerator but still
    splits keys with threefry; `unsafe_rbg` uses RngBitGenerator for both (other streams of
    numbers, so not a drop-in change for reproducibility)."""
    previous = jax.config.jax_default_prng_impl
    jax.config.update("jax_default_prng_impl", impl)
    try:
        update = iteration_parts.part_functions(config)["update"]
        state = ppo.init(config, jax.random.PRNGKey(0))
        executable, _ = common.compile_ahead(update, state)
    finally:
        jax.config.update("jax_default_prng_impl", previous)
    return analyse(executable.as_text()), iteration_parts.time_executable(executable, (state,), calls, repeats)


# ---------------------------------------------------------------- the report


def parts(config):
    """`{part name: (function, args)}` for the parts `profile_iteration` times, on the same inputs."""
    functions = iteration_parts.part_functions(config)
    state, trajectory, new_state, batch = iteration_parts.part_inputs(config, functions)
    args = {"rollout": (state,), "gae": (trajectory,), "epochs": (new_state, batch), "update": (state,)}
    return {iteration_parts.PART_NAMES[key]: (functions[key], args[key]) for key in iteration_parts.PART_NAMES}


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.3g} µs"


def _trace_row(name: str, tr: Trace, count: str, untraced_s: float, reference_s: float | None) -> list[str]:
    cells, beyond = [], []
    for category in ("library", "fusion", "other"):
        n, seconds = tr.by_category.get(category, (0, 0.0))
        cells.append(f"{n:,} × {_us(seconds / max(n, 1))} = {_us(seconds)}" if n else "—")
        if reference_s is not None:
            beyond.append(f"{(seconds / n - reference_s) * 1e6:+.2f}" if n else "—")
    return [name, count, f"{_us(tr.wall_s)} ({tr.wall_s / untraced_s:.0f}×)", *cells,
            f"{_us(tr.wall_s - tr.busy_s)} ({(tr.wall_s - tr.busy_s) / tr.wall_s:.0%})",
            " / ".join(beyond) + " µs" if beyond else "—"]


def _reference_s(m: dict) -> float | None:
    """Mean traced duration of the dispatch loop's trivial kernels (None without that trace)."""
    loop = m.get("loop_trace")
    return loop.busy_s / loop.kernels if loop is not None and loop.kernels else None


def _kernel_cells(counts: dict[str, int]) -> str:
    return " / ".join(f"{counts[c]:,}" for c in CATEGORIES)


def measure(quick: bool = False) -> dict:
    """Every measurement of this script, as plain values (see `report`)."""
    calls, repeats = (5, 3) if quick else (30, 5)
    peak_size, loop_steps = (1024, 1000) if quick else (2048, 10_000)
    config = iteration_parts.make_config(iteration_parts.CONFIGS[CONFIG_NAME])
    common.log("kernel_profile: peak and dispatch cost")
    header = common.header("Kernels per PPO iteration, CartPole-v1, classic settings")  # load at start
    peak = matmul_peak(peak_size, repeats=3)
    peak_one_core = one_core_peak(peak_size)
    per_kernel, loop_analysis, loop_timing, (loop_executable, loop_args) = dispatch_cost(loop_steps, repeats=3)
    loop_kernels = loop_analysis.total
    loop_trace = trace(loop_executable, loop_args, 3, loop_analysis)
    launch = launch_cost(calls, repeats)
    matmuls = {rows: small_matmul_cost(rows, loop_steps, 3, per_kernel)
               for rows in (config.num_envs, config.batch_size // config.num_minibatches)}
    results = {}
    for name, (fn, args) in parts(config).items():
        common.log(f"kernel_profile: {name}")
        executable, _ = common.compile_ahead(fn, *args)
        analysis = analyse(executable.as_text())
        reported = executable.cost_analysis()
        reported = reported[0] if isinstance(reported, (list, tuple)) else reported
        timing = iteration_parts.time_executable(executable, args, calls, repeats)
        results[name] = dict(analysis=analysis, timing=timing, reported_flops=float(reported.get("flops", 0.0)),
                             trace=trace(executable, args, 3, analysis))
    common.log("kernel_profile: PRNG implementations")
    prngs = {}
    for impl in ("threefry2x32", "rbg", "unsafe_rbg"):
        if impl == jax.config.jax_default_prng_impl:
            whole = results[iteration_parts.PART_NAMES["update"]]
            prngs[impl] = (whole["analysis"], whole["timing"])
        else:
            prngs[impl] = update_with_prng(config, impl, calls, repeats)
    return dict(
        header=header, quick=quick, calls=calls, repeats=repeats, config=config, peak_size=peak_size, peak=peak,
        peak_one_core=peak_one_core, loop_steps=loop_steps, per_kernel=per_kernel, loop_kernels=loop_kernels,
        loop_analysis=loop_analysis, loop_timing=loop_timing, loop_trace=loop_trace, launch=launch,
        matmuls=matmuls, results=results, prngs=prngs, default_prng=jax.config.jax_default_prng_impl,
    )


def report(m: dict, summary: dict | None = None) -> str:
    """The markdown of `measure`'s figures; key figures go into `summary["kernels"]`."""
    config, peak, per_kernel, results = m["config"], m["peak"], m["per_kernel"], m["results"]
    one = m.get("peak_one_core")
    gae_time = results[iteration_parts.PART_NAMES["gae"]]["timing"].median
    reference = _reference_s(m)
    flat_gap = max((abs(r["analysis"].flat_flops / r["reported_flops"] - 1) for r in results.values()
                    if r["reported_flops"] > 1e6), default=0.0)
    rows, loop_sections, trace_rows = [], [], []
    for name, r in results.items():
        a, t = r["analysis"], r["timing"].median
        arithmetic, dispatch = a.flops / peak, a.total * per_kernel
        overhead = t - arithmetic
        rows.append([
            name, _kernel_cells(a.executed), f"{a.total:,}", _kernel_cells(a.distinct), r["timing"].seconds(3),
            _us(t / a.total), f"{a.flops / 1e6:.3g} M ({r['reported_flops'] / 1e6:.3g} M)",
            f"{a.transcendentals / 1e3:.3g} k", f"{_us(arithmetic)} ({arithmetic / t:.1%})"
            + (f"; one core: {_us(a.flops / one)} ({a.flops / one / t:.1%})" if one else ""),
            f"{_us(overhead)} ({overhead / t:.0%}; {_us(overhead / a.total)} per kernel)",
            f"{_us(dispatch)} ({dispatch / t:.0%})",
        ])
        loop_rows = [[loop.path, loop.trip_count, loop.runs, _kernel_cells(loop.kernels),
                      f"{sum(loop.kernels.values()) * loop.trip_count * loop.runs:,}"] for loop in a.loops]
        if loop_rows:
            loop_sections.append(f"\n**{name}**: {a.total:,} kernels executed per call\n\n" + common.table(
                ["while loop (outer › inner)", "trip count", "starts per call",
                 "kernels in one run of its body (" + " / ".join(CATEGORIES) + ")",
                 "kernels it executes (body × trips × starts)"], loop_rows))
        if r["trace"] is not None:
            trace_rows.append(_trace_row(name, r["trace"], f"{r['trace'].kernels:,} "
                                         f"({a.total - a.executed['control']:,})", t, _reference_s(m)))
    if trace_rows and m.get("loop_trace") is not None:
        hlo_count = m["loop_kernels"] - m["loop_analysis"].executed["control"]
        trace_rows.append(_trace_row(f"reference: the dispatch loop ({m['loop_steps']:,} trivial steps)",
                                     m["loop_trace"], f"{m['loop_trace'].kernels:,} ({hlo_count:,})",
                                     m["loop_timing"].median, None))
    prng_rows = [[f"`{impl}`" + (" (default)" if impl == m["default_prng"] else ""), f"{a.total:,}",
                  f"{rollout_step_kernels(a, config.num_steps):,}", t.seconds(3)]
                 for impl, (a, t) in m["prngs"].items()]

    whole = results[iteration_parts.PART_NAMES["update"]]
    u, ut = whole["analysis"], whole["timing"].median
    if summary is not None:
        summary["kernels"] = dict(
            quick=m["quick"], conclusion=conclusion(m), when=m["header"].split("- date: ")[1].split("\n")[0],
            machine=common.cpu_description(), kernels=u.total, seconds=ut, per_kernel_s=per_kernel,
            peak_flops=peak, flops=u.flops,
            arithmetic_share=u.flops / peak / ut, dispatch_share=u.total * per_kernel / ut)

    notes = [
        *(["QUICK smoke run — not a measurement."] if m["quick"] else []),
        f"settings: `{CONFIG_NAME}` of `profile_iteration` (`ppo.Config.for_env(\"CartPole-v1\")`: 4 envs × 128 "
        "steps, 4 epochs × 4 minibatches of 128, 64-64 tanh); the parts are `profile_iteration`'s, jitted alone.",
        "kernels: top-level instructions of the optimised HLO that XLA:CPU runs as thunks, as "
        "fusion / library / other / control = loop fusions / matmul library calls (YNNPACK `kCustom` fusions, "
        "custom-calls, `dot`s) / other ops (mostly copies; also sort, gather, dynamic-update-slice, and small loops "
        "XLA hoisted into one compiled call) / `while` thunks; executed = Σ kernels × runs of their computation, "
        "with the trip counts of the HLO (a `while` with a known trip count never runs its condition).",
        f"time per call: n = {m['calls']} back-to-back calls per sample, median (min–max) over {m['repeats']} "
        "samples (as in `profile_iteration`); time per kernel = time per call / kernels executed.",
        "FLOPs: counted on the HLO with loop trip counts (dot = 2·M·N·K, one per element of other arithmetic, "
        "reduces by their reducer); in brackets what `compiled.cost_analysis()` reports, which counts every "
        f"loop body once (counted so, without trip counts, this count comes within {flat_gap:.1%} of it on the "
        "parts above 1 MFLOP). Transcendentals (tanh, exp, log, sqrt) are counted apart and left out of the "
        "arithmetic time.",
        f"peak: {peak / 1e9:.0f} GFLOP/s, a jitted {m['peak_size']}×{m['peak_size']} float32 matmul on all cores"
        + (f" ({one / 1e9:.0f} GFLOP/s in a process pinned to one core: the program runs its kernels one at a "
           "time, and a small matmul may or may not spread over the cores)" if one else "")
        + "; the issue quotes ≈157 GFLOP/s for this CPU class. Arithmetic time = FLOPs / peak, a lower bound.",
        f"dispatch: a compiled `fori_loop` of {m['loop_steps']:,} steps adding 1 to a [4, 64] array runs "
        f"{m['loop_kernels']:,} kernels in {m['loop_timing'].seconds(3)}, i.e. {_us(per_kernel)} per kernel "
        "(a scalar carry would be hoisted into one kernel): the floor of what any kernel costs. Overhead = time "
        "− arithmetic at peak (an upper bound on what is not arithmetic); kernels × floor is its lower bound, "
        "and the gap between them is what small kernels cost beyond dispatch (their memory traffic, library-call "
        "setup, small matmuls far from peak).",
        f"launch: calling a compiled one-kernel program from Python takes {m['launch'].seconds(3)} per call; "
        f"every time per call includes it once ({m['launch'].median / gae_time:.0%} of GAE's, whose "
        f"{config.num_steps}-step reverse scan XLA hoisted into one kernel, so its few kernels are not small ones).",
        "small matmuls: a compiled loop of " + f"{m['loop_steps']:,}" + " `y @ w` steps, y [rows, 64], w [64, 64] "
        "(the identity), less the floor of the loop's other kernels: " + "; ".join(
            f"[{rows}, 64]·[64, 64]: {_us(sec)} per call, {rate / 1e9:.0f} GFLOP/s"
            for rows, (sec, rate) in m["matmuls"].items()) + ".",
        "trace: a `jax.profiler` trace of 3 calls; XLA:CPU records one event per thunk, with its duration. "
        "Tracing adds its own cost to every event (compare the traced wall time with the untraced one), so "
        "read the durations against the reference row, the trivial kernels of the dispatch loop traced the "
        f"same way. The tracer's ≈{_us(reference or 0.0)} per event is ≈{(reference or 0.0) / per_kernel:.0f}× "
        "an untraced trivial kernel and varies from trace to trace (a mean below the reference's shows it), so "
        "only differences well above "
        "≈0.3 µs, such as the matmul library calls', mean anything; the trace's firm result is the count.",
    ]
    markdown = m["header"].rstrip("\n") + "\n" + "".join(f"- {note}\n" for note in notes)
    markdown += "\n" + common.table(
        ["part (jitted alone)", "kernels executed per call (fusion / library / other / control)", "total",
         "kernels in the program", "time per call", "time per kernel", "FLOPs (cost_analysis)",
         "transcendentals", "arithmetic at peak (share)", "overhead = time − arithmetic (share; per kernel)",
         "of which dispatch floor: kernels × floor (share)"], rows)
    markdown += "\n### Loops and their trip counts\n" + "".join(loop_sections)
    if trace_rows:
        markdown += "\n### Per-kernel times from a `jax.profiler` trace\n\n" + common.table(
            ["part", "kernel events per call (HLO count)", "traced wall per call (× untraced)",
             "library calls: n × mean = total",
             "loop fusions: n × mean = total", "other ops: n × mean = total", "between kernels (share)",
             "mean − reference mean: library / fusion / other"], trace_rows)
    else:
        markdown += "\n_The `jax.profiler` trace held no per-kernel events on this backend._\n"
    markdown += ("\n### The PRNG's share: the whole `ppo.update` with each `jax_default_prng_impl`\n\n"
                 + common.table(["PRNG implementation", "kernels executed per update", "kernels per rollout step",
                                 "time per update"], prng_rows))
    markdown += "\n### Conclusion\n\n" + conclusion(m) + "\n"
    return markdown


def conclusion(m: dict) -> str:
    """Two sentences from the figures: where the time goes, and what would move it."""
    config, peak, floor, results = m["config"], m["peak"], m["per_kernel"], m["results"]

    def part(key):
        r = results[iteration_parts.PART_NAMES[key]]
        return r["analysis"], r["timing"].median

    (u, ut), (r, rt), (e, et) = part("update"), part("rollout"), part("epochs")
    one = m.get("peak_one_core")
    one_core = f" ({u.flops / one / ut:.0%} at one core's {one / 1e9:.0f})" if one else ""
    e_arith = (f"{e.flops / one / et:.0%} arithmetic at one core's peak" if one
               else f"{e.flops / peak / et:.0%} arithmetic")
    minibatch = config.batch_size // config.num_minibatches
    _, mm_rate = m["matmuls"][minibatch]
    prngs = {impl: (a.total, timing.median) for impl, (a, timing) in m["prngs"].items()}
    default = m["default_prng"]
    fewest = min(prngs, key=lambda impl: prngs[impl][0])
    if prngs[fewest][1] < 0.9 * prngs[default][1]:
        prng_text = (f"and `jax_default_prng_impl = \"{fewest}\"` ({prngs[fewest][0]:,} kernels per update) measured "
                     f"{prngs[fewest][1] * 1e3:.2f} ms against {prngs[default][1] * 1e3:.2f} ms (other random "
                     "streams, so a user's choice)")
    else:
        prng_text = (f"while cutting the count alone does not: `jax_default_prng_impl = \"{fewest}\"` removes most "
                     f"threefry-loop kernels ({prngs[fewest][0]:,} per update instead of {prngs[default][0]:,}) "
                     f"but measured {prngs[fewest][1] * 1e3:.2f} ms against {prngs[default][1] * 1e3:.2f} ms")
    return (
        f"Arithmetic explains little of an iteration: {u.flops / peak / ut:.0%} of `ppo.update`'s "
        f"{ut * 1e3:.2f} ms at the {peak / 1e9:.0f} GFLOP/s all-core peak{one_core}, with the {_us(floor)} "
        f"dispatch floor × {u.total:,} kernels another ≈{u.total * floor / ut:.0%}; the rollout runs "
        f"{r.total / u.total:.0%} of those kernels ({rollout_step_kernels(r, config.num_steps)} per env step on "
        f"{config.num_envs}-row arrays, {_us(rt / r.total)} each, {r.flops / peak / rt:.0%} arithmetic), while the "
        f"learning epochs' {e.total:,} kernels cost {_us(et / e.total)} each and are {e_arith} (their "
        f"[{minibatch}, 64]·[64, 64] matmuls run at {mm_rate / 1e9:.0f} GFLOP/s). What would move the needle is "
        f"fewer, bigger kernels — more envs per rollout step, larger minibatches or vmapped seeds (the same "
        f"kernels with more work in each; the minibatch steps are sequential Adam steps and cannot be fused), "
        f"one matmul call where actor and critic now make two — {prng_text}."
    )


def main(quick: bool = False, summary: dict | None = None) -> str:
    """Measure, write `kernel_profile.md`, return the markdown; key figures go into `summary["kernels"]`."""
    return common.write_section("kernel_profile", report(measure(quick), summary), STUDY_DIR)


if __name__ == "__main__":
    print(main(common.parse_quick()))
