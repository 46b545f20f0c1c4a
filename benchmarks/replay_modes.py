"""Is the replay's speed a property of the process? `python -m benchmarks.replay_modes [--processes 30]`

Why this exists. A full run once gave the tiny RNN replay 1.94× numpy where the run
before gave 1.21× with the same generated code, and single processes timed 0.26-0.29
ms a step in most processes and 0.43-0.54 ms in some. Suspects: where the replay's
preallocated buffers land (4 KiB aliasing, 64-byte alignment), ASLR, the core, the
reference's own spread. Each fresh process here alternates the numpy step and the
replay (`--rounds` rounds of `--steps` steps each, CPU time) and prints, per process,
both medians, their paired ratio and where the replay's stack buffers and the
parameters lie modulo 4096. A process is "slow" when its replay takes 1.3× the
median replay of all processes; the summary says whether numpy was slow there too.

What it showed (tiny RNN, float64, 32 processes at load 1-4): the offsets modulo
4096 were the same in every process (the heap is laid out the same way each time;
ASLR moves whole pages), the ratio stayed 1.22-1.39 but for three outliers under
load (1.02, 1.44, 1.51), and every process with a slow replay had a slow numpy step
too (0.56 / 0.44 ms, 0.56 / 0.41 ms): the machine, not the layout. Shifting the
layout on purpose (an array of 1-4.6 KB held before the model is built, 16 offsets)
moved the ratio within the same band (1.18-1.51 at load 8). The 1.94× came from the
harness: see impls/engine_compiled.py.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import impls

SLOW = 1.3          # a replay this much above the median replay of all processes is "slow"


def child(model: str, size: str, dtype: str, steps: int, rounds: int) -> dict:
    """One process's numbers: numpy and replay ms per step (medians), their paired ratio,
    and the replay's buffer and parameter addresses modulo 4096."""
    impls.single_threaded()
    problem = impls.Problem(model, size, dtype)
    ref = impls.load("numpy_impl").build(model, problem)
    replay = impls.load("engine_compiled").build(model, problem)
    for _ in range(5):
        ref(), replay()
    samples = {"numpy": [], "replay": []}
    for _ in range(rounds):
        for name, step in (("numpy", ref), ("replay", replay)):
            t0 = time.process_time()
            for _ in range(steps):
                step()
            samples[name].append((time.process_time() - t0) / steps * 1e3)
    program = next(iter(replay.compiled.programs.values()))
    buffers = {k: v.ctypes.data % 4096 for k, v in program.replay_fn.__globals__.items()
               if k.startswith("buf")}
    return {"numpy": statistics.median(samples["numpy"]), "replay": statistics.median(samples["replay"]),
            "ratio": statistics.median(r / n for r, n in zip(samples["replay"], samples["numpy"])),
            "buffers": buffers, "params": [p._data.ctypes.data % 4096 for p in replay.params]}


def measure(processes=30, model="rnn", size="tiny", dtype="float64", steps=100, rounds=6) -> list[dict]:
    """`child` in `processes` fresh Python processes, one after the other."""
    cmd = [sys.executable, "-m", "benchmarks.replay_modes", "--child", "--model", model, "--size", size,
           "--dtype", dtype, "--steps", str(steps), "--rounds", str(rounds)]
    rows = []
    for _ in range(processes):
        done = subprocess.run(cmd, cwd=Path(__file__).resolve().parents[1], capture_output=True,
                              text=True, timeout=600)
        if done.returncode:
            raise RuntimeError(f"benchmarks.replay_modes child failed: {done.stderr[-2000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return rows


def summary(rows: list[dict]) -> str:
    """Which processes were slow, whether numpy was slow in them too, how many layouts."""
    replay = statistics.median(r["replay"] for r in rows)
    numpy_ = statistics.median(r["numpy"] for r in rows)
    slow = [r for r in rows if r["replay"] > SLOW * replay]
    both = [r for r in slow if r["numpy"] > SLOW * numpy_]
    layouts = {(tuple(sorted(r["buffers"].items())), tuple(r["params"])) for r in rows}
    ratios = sorted(r["ratio"] for r in rows)
    return (f"{len(rows)} processes: replay median {replay:.3f} ms, numpy {numpy_:.3f} ms; paired ratio "
            f"median {statistics.median(ratios):.2f} (range {ratios[0]:.2f}-{ratios[-1]:.2f}); "
            f"{len(slow)} with a slow replay (> {SLOW}x the median), {len(both)} of them with a slow "
            f"numpy step too; {len(layouts)} distinct layout(s) modulo 4096")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--processes", type=int, default=30)
    ap.add_argument("--model", default="rnn", choices=impls.MODELS)
    ap.add_argument("--size", default="tiny", choices=list(impls.SIZES))
    ap.add_argument("--dtype", default="float64")
    ap.add_argument("--steps", type=int, default=100, help="steps per sample")
    ap.add_argument("--rounds", type=int, default=6, help="samples of each, alternated")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.model, args.size, args.dtype, args.steps, args.rounds)))
        return
    rows = measure(args.processes, args.model, args.size, args.dtype, args.steps, args.rounds)
    for r in rows:
        print(f"numpy {r['numpy']:.3f} ms  replay {r['replay']:.3f} ms  ratio {r['ratio']:.2f}  "
              f"buffers mod 4096 {r['buffers']}  params {r['params']}")
    print(summary(rows))


if __name__ == "__main__":
    main()
