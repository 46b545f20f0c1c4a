"""A long unroll: time and peak memory of one training step for T = 1,000 .. 10,000
(python -m benchmarks.run: to 100,000).

`python -m benchmarks.long_unroll [--lengths 10000,100000] [--repeats 1]`

BPTT through T steps stores T steps of activations and does T steps of work, so
both time and memory must grow linearly in T: the per-step columns must stay
flat. (A recursive topological sort would fail long before T = 10,000; a
quadratic gradient accumulation would show as a growing per-step time.)
Sizes are tiny's (B = 1, D = K = H = 32) so the unroll, not the matmuls, dominates.
"""

from __future__ import annotations

import argparse
import statistics
import time

from benchmarks import impls
from benchmarks.memory import peak_bytes

LENGTHS = (1000, 3000, 10000)
LENGTHS_FULL = (1000, 10000, 100000)    # what python -m benchmarks.run measures (issue 17: to 100,000)
B, D, H = 1, 32, 32
VARIANTS = ("numpy_impl", "engine", "engine_noedges")


def time_ms(step, repeats: int) -> float:
    """Median CPU ms of one call (process time, as the harness: robust on a shared machine)."""
    samples = []
    for _ in range(repeats):
        t0 = time.process_time()
        step()
        samples.append((time.process_time() - t0) * 1e3)
    return statistics.median(samples)


def measure(lengths=LENGTHS, repeats=3, models=impls.MODELS, dtype="float64") -> list[dict]:
    rows = []
    for model in models:
        for T in lengths:
            problem = impls.Problem(model, (B, T, D, H), dtype)
            for name in VARIANTS:
                module = impls.load(name)
                if isinstance(module, str):
                    continue
                step = module.build(model, problem)
                ms = time_ms(step, repeats)
                peak = peak_bytes(step)
                rows.append({"model": model, "T": T, "impl": name, "label": module.LABEL,
                             "ms": ms, "us_per_step": ms * 1e3 / T, "peak_mb": peak / 2**20,
                             "kb_per_step": peak / 1024 / T})
    return rows


def linearity(rows) -> dict:
    """(model, impl) -> per-step time and memory at the longest T over the shortest."""
    out = {}
    for r in rows:
        out.setdefault((r["model"], r["impl"]), []).append(r)
    return {k: (v[-1]["us_per_step"] / v[0]["us_per_step"], v[-1]["kb_per_step"] / v[0]["kb_per_step"])
            for k, v in out.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lengths", default=",".join(map(str, LENGTHS)))
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    impls.single_threaded()
    rows = measure(tuple(int(t) for t in args.lengths.split(",")), args.repeats)
    for r in rows:
        print(f"{r['model']:5s} T={r['T']:6d} {r['label']:40s} {r['ms']:9.1f} ms "
              f"{r['us_per_step']:7.1f} us/step {r['peak_mb']:8.2f} MB {r['kb_per_step']:7.2f} KB/step")
    for (model, impl), (t, m) in linearity(rows).items():
        print(f"{model} {impl}: per-step time x{t:.2f}, per-step memory x{m:.2f} from shortest to longest T")


if __name__ == "__main__":
    main()
