"""Where the engine's training step spends its time: cProfile of the benchmark step.

`python -m benchmarks.profile_engine [--size tiny] [--model rnn] [--steps 200] [--top 25]`

Prints the functions with the most own time (tottime) and the cost per recorded
op, so an optimisation can be aimed at the engine's Python overhead (apply,
backward), the VJPs in ops.py, or the layer code.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time

from benchmarks import impls


def count_nodes(step) -> int:
    """Number of tensors the step's graph records (ops that will run a VJP)."""
    from tinygrad_rnn.autograd import walk
    return len(walk(step.forward(), needs_grad=True))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="tiny", choices=list(impls.SIZES))
    ap.add_argument("--model", default="rnn", choices=impls.MODELS)
    ap.add_argument("--dtype", default="float64")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--sort", default="tottime")
    args = ap.parse_args(argv)
    impls.single_threaded()
    problem = impls.Problem(args.model, args.size, args.dtype)
    engine = impls.load("engine").build(args.model, problem)
    numpy = impls.load("numpy_impl").build(args.model, problem)
    for step in (engine, numpy):
        step()
    timings = {}
    for name, step in (("engine", engine), ("numpy", numpy)):
        t0 = time.process_time()
        for _ in range(args.steps):
            step()
        timings[name] = (time.process_time() - t0) / args.steps * 1e3
    nodes = count_nodes(engine)
    gap_us = (timings["engine"] - timings["numpy"]) * 1e3
    print(f"{args.model} {args.size} {args.dtype}: engine {timings['engine']:.3f} ms, numpy "
          f"{timings['numpy']:.3f} ms per step (CPU time); {nodes} graph nodes; "
          f"gap {gap_us / nodes:.1f} us per node")
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(args.steps):
        engine()
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats(args.sort).print_stats(args.top)
    print(out.getvalue())


if __name__ == "__main__":
    main()
