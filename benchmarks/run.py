"""One command for every benchmark: `python -m benchmarks.run [--quick] [--sizes ...] [--dtypes ...]`.

Writes benchmarks/RESULTS.md, benchmarks/results.json and the plot benchmarks/results.png.

Method (issue 6): single-threaded BLAS and torch; every implementation is
checked against the hand-written numpy BPTT (loss and gradients) before it is
timed; warm-up, then `--repeats` samples (median reported), the implementations
timed round-robin in the same run, so a ratio compares numbers taken side by
side. A sample is the mean over enough consecutive steps to last `--sample-ms`
(a 0.4 ms step is too short to time alone).

The clock is the process's CPU time by default (`--clock cpu`): everything runs
on one thread, so on an idle machine it equals wall time, and on this shared
2-core machine it does not count the time other jobs hold the core. Wall time
is recorded too (results.json) and `--clock wall` reports it instead.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import impls  # sets the BLAS thread variables before numpy loads
from benchmarks.paired import paired_ratio

HERE = Path(__file__).resolve().parent
TABLES = {"fb": "forward + backward", "sgd": "forward + backward + SGD step"}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: tiny only, float64, forward+backward, 3 short samples, short extras")
    ap.add_argument("--sizes", default=None, help="comma list of " + ",".join(impls.SIZES))
    ap.add_argument("--dtypes", default=None, help="comma list, default float64,float32")
    ap.add_argument("--models", default="rnn,lstm")
    ap.add_argument("--impls", default=None, help="comma list of module names in benchmarks/impls")
    ap.add_argument("--repeats", type=int, default=None, help="timed samples per cell (default 7)")
    ap.add_argument("--sample-ms", type=float, default=None, help="minimum length of one sample")
    ap.add_argument("--tables", default=None, help="fb (forward+backward), sgd (+ SGD step)")
    ap.add_argument("--clock", default="cpu", choices=("cpu", "wall"),
                    help="process CPU time (default; robust on a shared machine) or wall time")
    ap.add_argument("--no-extras", action="store_true", help="skip memory, long unroll and render")
    ap.add_argument("--out", default=str(HERE), help="directory for RESULTS.md, results.json, results.png")
    ap.add_argument("--same-process", action="store_true",
                    help="run every cell in this process (default: a fresh process per cell)")
    ap.add_argument("--cell", default=None, help=argparse.SUPPRESS)  # internal: TABLE,SIZE,DTYPE,MODEL
    args = ap.parse_args(argv)
    args.sizes = (args.sizes or ("tiny" if args.quick else "toy,tiny,char,medium,large")).split(",")
    args.dtypes = (args.dtypes or ("float64" if args.quick else "float64,float32")).split(",")
    args.models = args.models.split(",")
    args.tables = (args.tables or ("fb" if args.quick else "fb,sgd")).split(",")
    args.repeats = args.repeats or (3 if args.quick else 7)
    args.sample_ms = args.sample_ms or (2.0 if args.quick else 50.0)
    unknown = [s for s in args.sizes if s not in impls.SIZES]
    if unknown:
        ap.error(f"unknown size(s) {unknown}; choose from {list(impls.SIZES)}")
    return args


# ---- checking ---------------------------------------------------------------
def max_rel_err(grads: dict, ref: dict) -> float:
    """max over parameters of max|g - g_ref| / max|g_ref|."""
    import numpy as np
    return max(float(np.abs(np.asarray(grads[k]) - ref[k]).max() / (np.abs(ref[k]).max() + 1e-30))
               for k in ref)


def check(step, ref_loss, ref_grads, dtype, with_grads) -> str:
    """Run one step and compare with numpy: 'ok', or what differs."""
    tol = 1e-9 if dtype == "float64" else 2e-3
    loss = step()
    if not math.isclose(loss, ref_loss, rel_tol=tol * 10, abs_tol=tol):
        return f"loss {loss:.6g} != numpy {ref_loss:.6g}"
    if with_grads:
        err = max_rel_err(step.grads(), ref_grads)
        if not err <= tol:
            return f"gradients differ from numpy (max rel err {err:.1e})"
    return "ok"


# ---- timing -----------------------------------------------------------------
def inner_count(step, sample_s: float) -> int:
    """How many consecutive steps make one sample at least `sample_s` long.

    Sized by the median of at least five timed calls after a warm-up (and as many more as
    fit in a fifth of a sample), not by one call: a single slow call (a capture, a page
    fault, another job taking the core) would otherwise size every sample of that
    implementation too small. A step with slow first calls (tg.compile's two captures)
    still makes them when it is built (impls/engine_compiled.py).
    """
    step()  # warm-up
    times = []
    while len(times) < 5 or sum(times) < sample_s / 5:
        t0 = time.process_time()
        step()
        times.append(time.process_time() - t0)
    return max(1, math.ceil(sample_s / max(statistics.median(times), 1e-6)))


def time_round_robin(steps: dict, repeats: int, sample_s: float, clock: str) -> dict:
    """Median (and quartiles) ms per step of each step function, sampled in turn.

    Each round times every implementation once, starting from a different one
    each round, so slow drifts of the shared machine hit all of them alike.
    """
    counts = {name: inner_count(s, sample_s) for name, s in steps.items()}
    cpu = {name: [] for name in steps}
    wall = {name: [] for name in steps}
    names = list(steps)
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            step, n = steps[name], counts[name]
            w0, c0 = time.perf_counter(), time.process_time()
            for _ in range(n):
                step()
            cpu[name].append((time.process_time() - c0) / n * 1e3)
            wall[name].append((time.perf_counter() - w0) / n * 1e3)
    out = {}
    for name in names:
        xs = cpu[name] if clock == "cpu" else wall[name]
        q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
        out[name] = {"ms": statistics.median(xs), "q1": q[0], "q3": q[2], "inner": counts[name],
                     "samples": xs, "cpu_ms": cpu[name], "wall_ms": wall[name]}
    return out


def run_cell(table, size, dtype, model, modules, args) -> list[dict]:
    """Check, then time every implementation that runs at this size and dtype."""
    problem = impls.Problem(model, size, dtype)
    lr = impls.LR if table == "sgd" else None
    ref = impls.load("numpy_impl").build(model, problem)
    ref_loss, ref_grads = ref(), ref.grads()
    steps, status = {}, {}
    for name, module in modules.items():
        if not impls.runs_at(module, size) or dtype not in getattr(module, "DTYPES", (dtype,)):
            continue
        try:
            status[name] = check(module.build(model, problem), ref_loss, ref_grads,
                                 problem.dtype, with_grads=True)
            steps[name] = module.build(model, problem, lr)
        except Exception as e:  # a broken implementation is reported, not fatal
            status[name] = f"failed: {type(e).__name__}: {e}"
    gc.collect()
    timed = time_round_robin(steps, args.repeats, args.sample_ms / 1e3, args.clock)
    rows = []
    for name in status:
        row = {"table": table, "size": size, "dims": impls.SIZES[size], "dtype": dtype, "model": model,
               "impl": name, "label": modules[name].LABEL, "check": status[name]}
        row.update(timed.get(name, {}))
        rows.append(row)
    base = timed.get("numpy_impl")
    for row in rows:
        row["ratio"] = paired_ratio(row, base) if base and "ms" in row else None
    return rows


def main(argv=None):
    args = parse_args(argv)
    args.load_start = os.getloadavg()[0]
    blas = impls.single_threaded()
    names = args.impls.split(",") if args.impls else list(impls.MODULES)
    if "numpy_impl" not in names:
        names.insert(0, "numpy_impl")  # every ratio is to numpy
    modules, skipped = {}, []
    for name in names:
        m = impls.load(name)
        if isinstance(m, str):
            skipped.append(m)
        else:
            modules[name] = m
    for note in skipped:
        print(note, file=sys.stderr)

    if args.cell:  # a child process: time one cell, print its rows as JSON
        print(json.dumps(run_cell(*args.cell.split(","), modules, args)))
        return

    rows, t_start = [], time.perf_counter()
    for table in args.tables:
        for size in args.sizes:
            for dtype in args.dtypes:
                for model in args.models:
                    t0 = time.perf_counter()
                    if args.same_process:
                        cell = run_cell(table, size, dtype, model, modules, args)
                    else:
                        cell = run_cell_in_child(table, size, dtype, model, list(modules), args)
                    rows += cell
                    summary = ", ".join(f"{r['impl']} {r.get('ms', float('nan')):.3g}" for r in cell)
                    print(f"[{table} {size} {dtype} {model}] {time.perf_counter() - t0:.0f}s: {summary} ms",
                          file=sys.stderr, flush=True)

    extras = {} if args.no_extras else run_extras(args)
    from benchmarks import report
    report.write(Path(args.out), rows, extras, skipped, blas, args,
                 total_s=time.perf_counter() - t_start)
    print(f"wrote {Path(args.out) / 'RESULTS.md'}", file=sys.stderr)


def run_cell_in_child(table, size, dtype, model, names, args) -> list[dict]:
    """`run_cell` in a fresh Python process.

    The allocator remembers: after a large cell, glibc's malloc has raised its
    thresholds and a medium step no longer pays page faults, so in one process
    the numbers would depend on the order of the cells. A fresh process per
    cell measures what a user's training script gets.
    """
    cmd = [sys.executable, "-m", "benchmarks.run", "--cell", f"{table},{size},{dtype},{model}",
           "--impls", ",".join(names), "--repeats", str(args.repeats), "--sample-ms", str(args.sample_ms),
           "--clock", args.clock]
    done = subprocess.run(cmd, cwd=HERE.parent, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"cell {table} {size} {dtype} {model} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_extras(args) -> dict:
    """Peak memory, the long unroll, the allocator's share and render times (each its own module)."""
    from benchmarks import long_unroll, memory
    extras = {}
    size = "tiny" if args.quick else "medium"
    print(f"[memory at {size}]", file=sys.stderr, flush=True)
    extras["memory"] = memory.measure(size=size, dtypes=args.dtypes[:1], models=args.models)
    lengths = (50, 100, 200) if args.quick else long_unroll.LENGTHS_FULL
    print(f"[long unroll T={lengths}]", file=sys.stderr, flush=True)
    extras["long_unroll"] = long_unroll.measure(lengths=lengths, repeats=1,
                                                models=args.models)
    if not args.quick:
        print("[allocator: default vs tuned glibc malloc, medium]", file=sys.stderr, flush=True)
        from benchmarks import allocator
        extras["allocator"] = allocator.compare("medium", args.dtypes[0])
        extras["render"] = render_times()
    return extras


def render_times() -> str:
    """Output of benchmarks/bench_render.py (owned by the renderer), if it exists."""
    if not (HERE / "bench_render.py").exists():
        return "benchmarks/bench_render.py is not present: render times not measured."
    print("[render times]", file=sys.stderr, flush=True)
    done = subprocess.run([sys.executable, "-m", "benchmarks.bench_render"], cwd=HERE.parent,
                          capture_output=True, text=True, timeout=900)
    text = done.stdout.strip() or "(no output)"
    if done.returncode:
        text += f"\n(exit {done.returncode}: {done.stderr.strip()[-500:]})"
    return text


if __name__ == "__main__":
    main()
