"""What the memory allocator costs a step: page faults and kernel time, default vs tuned glibc.

`python -m benchmarks.allocator [--size medium]` (prints JSON; the harness runs it twice)

A graph engine allocates and frees many arrays per step. glibc's malloc serves
arrays above its mmap threshold with fresh mmap()ed pages, and returns the free
top of its heap to the OS past its trim threshold; either way the next step
touches new pages and pays a page fault per 4 KiB, in the kernel. The harness
runs this module once as is and once with both thresholds raised
(MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_: environment variables glibc
reads at start-up), so the difference is the allocator's share of a step.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import impls

VARIANTS = ("numpy_impl", "engine", "engine_noedges")
TUNED = {"MALLOC_MMAP_THRESHOLD_": str(32 * 2**20), "MALLOC_TRIM_THRESHOLD_": str(2**30)}


def measure(size="medium", dtype="float64", steps=10) -> list[dict]:
    rows = []
    for model in impls.MODELS:
        problem = impls.Problem(model, size, dtype)
        for name in VARIANTS:
            module = impls.load(name)
            if isinstance(module, str):
                continue
            step = module.build(model, problem)
            for _ in range(3):
                step()
            r0, c0 = resource.getrusage(resource.RUSAGE_SELF), time.process_time()
            for _ in range(steps):
                step()
            r1, c1 = resource.getrusage(resource.RUSAGE_SELF), time.process_time()
            rows.append({"model": model, "size": size, "dtype": dtype, "impl": name,
                         "label": module.LABEL, "ms": (c1 - c0) / steps * 1e3,
                         "sys_ms": (r1.ru_stime - r0.ru_stime) / steps * 1e3,
                         "faults": (r1.ru_minflt - r0.ru_minflt) / steps})
    return rows


def compare(size="medium", dtype="float64") -> dict:
    """{"default": rows, "tuned": rows}, each measured in a fresh process."""
    out = {}
    for label, extra in (("default", {}), ("tuned", TUNED)):
        env = {k: v for k, v in os.environ.items() if k not in TUNED} | extra
        done = subprocess.run([sys.executable, "-m", "benchmarks.allocator", "--size", size,
                               "--dtype", dtype], cwd=Path(__file__).resolve().parents[1],
                              env=env, capture_output=True, text=True, timeout=1800)
        if done.returncode:
            raise RuntimeError(f"benchmarks.allocator failed: {done.stderr[-2000:]}")
        out[label] = json.loads(done.stdout)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="medium", choices=list(impls.SIZES))
    ap.add_argument("--dtype", default="float64")
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args(argv)
    impls.single_threaded()
    print(json.dumps(measure(args.size, args.dtype, args.steps)))


if __name__ == "__main__":
    main()
