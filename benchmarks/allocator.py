"""What the memory allocator costs a step: page faults and kernel time, default vs tuned glibc.

`python -m benchmarks.allocator [--size medium]` (prints JSON; the harness runs it twice)

A graph engine allocates and frees many arrays per step. glibc's malloc serves
arrays above its mmap threshold with fresh mmap()ed pages, and returns the free
top of its heap to the OS past its trim threshold; either way the next step
touches new pages and pays a page fault per 4 KiB, in the kernel. The library
raises both thresholds itself at import (tinygrad_rnn/memory.py); the harness runs
this module once with glibc's defaults (TINYGRAD_RNN_MALLOC=default) and once as a
user gets it, so the difference is the allocator's share of a step.
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
DEFAULT = {"TINYGRAD_RNN_MALLOC": "default"}     # the library's own tuning switched off


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
    for label, extra in (("default", DEFAULT), ("tuned", {})):
        env = {k: v for k, v in os.environ.items()
               if k not in DEFAULT and not k.startswith("MALLOC_")} | extra
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
