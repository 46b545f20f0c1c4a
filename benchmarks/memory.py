"""Peak memory of one training step (tracemalloc), hand-written numpy vs the engine.

`python -m benchmarks.memory [--size medium] [--sites 10]`

tracemalloc sees every numpy array (numpy reports its allocations to it), so
the peak is the most memory the step's new allocations held at once: the
unrolled graph, its saved activations and the gradients. Tracing starts after
the model and data exist and after one warm-up step, so only the step counts.
torch allocates outside Python's allocator and cannot be compared this way.
"""

from __future__ import annotations

import argparse
import gc
import tracemalloc

from benchmarks import impls

VARIANTS = (
    ("numpy_impl", "numpy (hand-written BPTT)"),
    ("engine", "tinygrad_rnn, edge grads recorded (default)"),
    ("engine_noedges", "tinygrad_rnn, record_edge_grads(False)"),
    ("engine_compiled", "tinygrad_rnn, tg.compile replay"),
)


def peak_bytes(step) -> int:
    """Peak traced bytes allocated during one call of `step`."""
    step(), step()  # warm-up (tg.compile captures the first two calls); drops the last graph
    gc.collect()
    tracemalloc.start()
    try:
        step()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def sites(step, top: int = 10) -> list[tuple[str, float, int]]:
    """Where an engine step's memory is when backward() has just finished (the graph, its
    values and every gradient still alive, next to the peak): (file:line, MB, blocks),
    largest first. Only for steps with a `forward` (the engine rows)."""
    kept = {}

    def forward_backward():
        loss = step.forward()
        loss.backward()
        if tracemalloc.is_tracing():         # not during the warm-up
            kept["snapshot"] = tracemalloc.take_snapshot()
        return loss

    step.forward_backward = forward_backward
    step()
    gc.collect()
    tracemalloc.start()
    try:
        step()
    finally:
        tracemalloc.stop()
        del step.forward_backward
    stats = kept["snapshot"].statistics("lineno")[:top]
    return [(f"{'/'.join(s.traceback[0].filename.split('/')[-2:])}:{s.traceback[0].lineno}",
             s.size / 2**20, s.count) for s in stats]


def measure(size="medium", dtypes=("float64",), models=impls.MODELS) -> list[dict]:
    rows = []
    for dtype in dtypes:
        for model in models:
            problem = impls.Problem(model, size, dtype)
            base = None
            for name, label in VARIANTS:
                module = impls.load(name)
                if isinstance(module, str):
                    continue
                peak = peak_bytes(module.build(model, problem))
                base = base or peak
                rows.append({"size": size, "dims": impls.SIZES[size], "dtype": dtype, "model": model,
                             "impl": name, "label": label, "peak_mb": peak / 2**20,
                             "ratio": peak / base})
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="medium", choices=list(impls.SIZES))
    ap.add_argument("--dtypes", default="float64")
    ap.add_argument("--sites", type=int, default=0, metavar="N",
                    help="also list the N lines holding most memory after backward() (engine rows)")
    args = ap.parse_args(argv)
    impls.single_threaded()
    for model in impls.MODELS if args.sites else ():
        for name in ("engine", "engine_noedges"):
            print(f"{model} {name}: where the memory is after backward()")
            problem = impls.Problem(model, args.size, args.dtypes.split(",")[0])
            for where, mb, blocks in sites(impls.load(name).build(model, problem), args.sites):
                print(f"  {mb:8.3f} MB {blocks:7d} blocks  {where}")
    for r in measure(args.size, args.dtypes.split(",")):
        print(f"{r['model']:5s} {r['dtype']:8s} {r['label']:45s} {r['peak_mb']:8.2f} MB  "
              f"{r['ratio']:.2f}x numpy")


if __name__ == "__main__":
    main()
