"""Turn the harness's measurements into RESULTS.md, results.json and results.png.

Every number in RESULTS.md comes from the `rows` of one run; the targets of
issue 6 are checked against them here, so the file says which are met.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import statistics
from pathlib import Path

from benchmarks.impls import SIZES
from benchmarks.long_unroll import linearity
from benchmarks.paired import paired_ratio

TABLES = {"fb": "Training step: forward + backward",
          "sgd": "Training step: forward + backward + SGD step (lr 0.1)"}
CLOCKS = {"cpu": "process CPU time (one thread: wall time on an idle machine, without the time "
                 "other jobs held the core)", "wall": "wall-clock time"}
VERSIONS = ("numpy", "torch", "autograd", "mygrad", "micrograd", "threadpoolctl")


def write(out: Path, rows, extras, skipped, blas, args, total_s):
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"rows": rows, "extras": _jsonable(extras)}, indent=1))
    lines = header(args, blas, skipped, total_s)
    lines += targets(rows, extras)
    lines += targets_17(rows, extras)
    for table, title in TABLES.items():
        if any(r["table"] == table for r in rows):
            lines += timing_tables(rows, table, title, args)
    lines += edge_cost(rows)
    lines += checks(rows)
    if extras:
        lines += memory_table(extras.get("memory", []))
        lines += unroll_table(extras.get("long_unroll", []))
        lines += allocator_table(extras.get("allocator"))
        if "render" in extras:
            lines += ["## Render times", "", "Output of `python -m benchmarks.bench_render`:", "",
                      "```", extras["render"], "```", ""]
    plotted = plot(rows, out / "results.png")
    if plotted:
        lines += ["## Plot", "", f"![ms per training step]({plotted.name})", ""]
    (out / "RESULTS.md").write_text("\n".join(lines))


# ---- header ---------------------------------------------------------------
def _version(pkg):
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def header(args, blas, skipped, total_s):
    env = ", ".join(f"{k}={os.environ.get(k, 'unset')}" for k in
                    ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                     "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"))
    flags = " ".join(f"--{k} {','.join(v) if isinstance(v, list) else v}" for k, v in
                     (("sizes", args.sizes), ("dtypes", args.dtypes), ("models", args.models),
                      ("repeats", args.repeats))) + (" --quick" if args.quick else "")
    lines = [
        "# Benchmark results", "",
        f"Written by `python -m benchmarks.run {flags}` on "
        f"{datetime.date.today().isoformat()} in {total_s / 60:.1f} min. "
        "How to run and what is measured: [README.md](README.md).", "",
        "## Machine", "",
        f"- CPU: {_cpu()}, {os.cpu_count()} cores (shared); {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}; " +
        ", ".join(f"{p} {_version(p)}" for p in VERSIONS),
        f"- BLAS (threadpoolctl): {blas}",
        f"- Environment: {env}; torch.set_num_threads(1)",
        f"- Load average (1 min) at start and end of the run: {args.load_start:.1f}, "
        f"{os.getloadavg()[0]:.1f} (other jobs share this machine)",
        "",
        "## Method", "",
        "Sizes (B, T, D = K, H): " + ", ".join(f"{s} {SIZES[s]}" for s in args.sizes) + ". "
        "One step: the recurrent layer over T steps, logits_t = h_t V + c on every step, mean "
        "cross-entropy over B·T, backward to every parameter. Before timing, each implementation's "
        "loss and gradients are checked against the hand-written numpy BPTT. Then a warm-up, and "
        f"{args.repeats} samples per cell, implementations timed round-robin in the same run (each "
        f"sample the mean of enough consecutive steps to last >= {args.sample_ms:g} ms). Cells: "
        f"median ms per step of {CLOCKS[args.clock]}, (ratio to numpy: the median over rounds "
        "of the ratio of the two samples taken in that round). "
        + ("All cells ran in this one process. " if getattr(args, "same_process", True) else
           "Each cell (table, size, dtype, model) ran in a fresh process: glibc's malloc adapts its "
           "thresholds to the arrays it has seen, so in one process a cell's speed would depend on "
           "the cells before it. ") +
        "Garbage collection stays on, as "
        "for a user. HIPS autograd and mygrad run at toy, tiny and medium; micrograd at toy and "
        "float64 only.", "",
    ]
    if skipped:
        lines += ["Skipped (package not installed; `pip install -e '.[bench]'`):", ""]
        lines += [f"- {s}" for s in skipped] + [""]
    return lines


# ---- tables ----------------------------------------------------------------
def _cell(r):
    if "ms" not in r:
        return "failed"
    ratio = f" ({r['ratio']:.2f}×)" if r.get("ratio") else ""
    flag = "" if r["check"] == "ok" else " ⚠"
    return f"{r['ms']:.3g}{ratio}{flag}"


def timing_tables(rows, table, title, args):
    lines = [f"## {title}", "", "ms per step, median; (ratio to hand-written numpy: median over "
             "rounds of the two samples' ratio, same run). ⚠: gradients did not match numpy "
             "(see Checks).", ""]
    sel = [r for r in rows if r["table"] == table]
    impls = list(dict.fromkeys(r["impl"] for r in sel))
    labels = {r["impl"]: r["label"] for r in sel}
    for dtype in args.dtypes:
        lines += [f"**{dtype}**", "",
                  "| size | model | " + " | ".join(labels[i] for i in impls) + " |",
                  "|---|---|" + "---:|" * len(impls)]
        for size in args.sizes:
            for model in args.models:
                cells = {r["impl"]: r for r in sel
                         if (r["size"], r["dtype"], r["model"]) == (size, dtype, model)}
                if cells:
                    lines.append(f"| {size} | {model} | " +
                                 " | ".join(_cell(cells[i]) if i in cells else "–" for i in impls) + " |")
        lines.append("")
    spread = sorted((((r["q3"] - r["q1"]) / r["ms"], r) for r in sel if "ms" in r), key=lambda sr: sr[0])
    if spread:
        typical = statistics.median(s for s, _ in spread)
        worst = ", ".join(f"{r['impl']} {r['size']} {r['model']} {r['dtype']} {s:.0%}"
                          for s, r in spread[-3:])
        lines += [f"Noise (interquartile range of a cell's samples over its median): median {typical:.0%} "
                  f"over cells, {sum(s > 0.1 for s, _ in spread)} of {len(spread)} cells above 10%; "
                  f"widest: {worst}.", ""]
    return lines


def _find(rows, **kw):
    for r in rows:
        if all(r.get(k) == v for k, v in kw.items()) and "ms" in r:
            return r
    return None


def _ratio(a, b) -> float:
    """a / b as the median of per-round sample ratios (see paired.paired_ratio)."""
    return paired_ratio(a, b) if "samples" in a and "samples" in b else a["ms"] / b["ms"]


def _verdict(ok):
    return "met" if ok else "**not met**"


def targets(rows, extras):
    """The targets of issue 6, each with the measured value from this run."""
    lines = ["## Targets (issue 6)", "",
             "| target | size | model | dtype | measured | |", "|---|---|---|---|---:|---|"]
    fb = [r for r in rows if r["table"] == "fb"]
    dtypes = list(dict.fromkeys(r["dtype"] for r in fb))
    for dtype in dtypes:
        for size, limit in (("tiny", 3.0), ("medium", 1.3), ("large", 1.3)):
            for model in ("rnn", "lstm"):
                e = _find(fb, size=size, model=model, dtype=dtype, impl="engine")
                if e and e.get("ratio"):
                    lines.append(f"| step <= {limit}× numpy | {size} | {model} | {dtype} | "
                                 f"{e['ratio']:.2f}× | {_verdict(e['ratio'] <= limit)} |")
        for size in ("tiny", "medium"):
            for model in ("rnn", "lstm"):
                e = _find(fb, size=size, model=model, dtype=dtype, impl="engine")
                t = _find(fb, size=size, model=model, dtype=dtype, impl="torch_composed")
                if e and t:
                    r = _ratio(e, t)
                    lines.append(f"| faster than torch composed | {size} | {model} | {dtype} | "
                                 f"{r:.2f}× torch's time | {_verdict(r < 1)} |")
        for other in ("hips_autograd", "mygrad_impl"):
            for model in ("rnn", "lstm"):
                e = _find(fb, size="tiny", model=model, dtype=dtype, impl="engine")
                o = _find(fb, size="tiny", model=model, dtype=dtype, impl=other)
                if e and o:
                    r = _ratio(o, e)
                    lines.append(f"| >= 10× faster than {o['label']} | tiny | {model} | {dtype} | "
                                 f"{r:.1f}× faster | {_verdict(r >= 10)} |")
        for size in ("tiny", "medium", "large"):
            for model in ("rnn", "lstm"):
                e = _find(fb, size=size, model=model, dtype=dtype, impl="engine")
                n = _find(fb, size=size, model=model, dtype=dtype, impl="engine_noedges")
                if e and n:
                    cost = 1 - 1 / _ratio(e, n)
                    lines.append(f"| edge recording <= 5% of a step | {size} | {model} | {dtype} | "
                                 f"{cost:+.1%} | {_verdict(cost <= 0.05)} |")
    for r in extras.get("memory", []) if extras else []:
        if r["impl"] != "numpy_impl":
            lines.append(f"| peak memory <= 1.5× numpy ({r['impl']}) | {r['size']} | {r['model']} | "
                         f"{r['dtype']} | {r['ratio']:.2f}× | {_verdict(r['ratio'] <= 1.5)} |")
    for (model, impl), (t, m) in (linearity(extras["long_unroll"]).items()
                                  if extras and extras.get("long_unroll") else []):
        if impl != "numpy_impl":
            ok = t < 1.5 and m < 1.5
            lines.append(f"| linear in T (per-step cost, longest / shortest T) ({impl}) | B=1, D=H=32 | "
                         f"{model} | float64 | time {t:.2f}×, memory {m:.2f}× | {_verdict(ok)} |")
    return lines + [""]


REPLAY_TARGETS = {"tiny": 1.5, "medium": 1.1, "large": 1.1}                    # × numpy
EAGER_TARGETS = {"rnn": {"tiny": 4.0, "char": 3.2, "medium": 1.2},             # edges recorded
                 "lstm": {"tiny": 3.0, "char": 3.2, "medium": 1.2}}


def targets_17(rows, extras):
    """The targets of issue 17 (tg.compile's replay, the eager path, memory), measured in this run."""
    lines = ["## Targets (issue 17: replay and eager path)", "",
             "| target | size | model | dtype | measured | |", "|---|---|---|---|---:|---|"]
    fb = [r for r in rows if r["table"] == "fb"]

    def row(target, size, model, dtype, value, text, ok):
        lines.append(f"| {target} | {size} | {model} | {dtype} | {text.format(value)} | {_verdict(ok)} |")

    for dtype in dict.fromkeys(r["dtype"] for r in fb):
        for model in ("rnn", "lstm"):
            for size, limit in REPLAY_TARGETS.items():
                c = _find(fb, size=size, model=model, dtype=dtype, impl="engine_compiled")
                if c and c.get("ratio"):
                    row(f"replay <= {limit}× numpy", size, model, dtype, c["ratio"], "{:.2f}×",
                        c["ratio"] <= limit)
            c = _find(fb, size="tiny", model=model, dtype=dtype, impl="engine_compiled")
            for other in ("torch_composed", "torch_fused"):
                o = _find(fb, size="tiny", model=model, dtype=dtype, impl=other)
                if c and o and dtype == "float64":
                    r = _ratio(c, o)
                    row(f"replay faster than {o['label']}", "tiny", model, dtype, r,
                        "{:.2f}× its time", r < 1)
            for size, limit in EAGER_TARGETS[model].items():
                e = _find(fb, size=size, model=model, dtype=dtype, impl="engine")
                if e and e.get("ratio"):
                    row(f"eager (edges recorded) <= {limit}× numpy", size, model, dtype, e["ratio"],
                        "{:.2f}×", e["ratio"] <= limit)
    limits = {"engine": 2.0, "engine_noedges": 1.5, "engine_compiled": 1.5}
    for r in extras.get("memory", []) if extras else []:
        if r["impl"] in limits:
            lim = limits[r["impl"]]
            row(f"peak memory <= {lim}× numpy ({r['impl']})", r["size"], r["model"], r["dtype"],
                r["ratio"], "{:.2f}×", r["ratio"] <= lim)
    return lines + [""]


def edge_cost(rows):
    pairs = []
    for e in rows:
        if e["impl"] == "engine" and "ms" in e:
            n = _find(rows, table=e["table"], size=e["size"], model=e["model"], dtype=e["dtype"],
                      impl="engine_noedges")
            if n:
                pairs.append(f"| {e['table']} | {e['size']} | {e['model']} | {e['dtype']} | {e['ms']:.3g} | "
                             f"{n['ms']:.3g} | {1 - 1 / _ratio(e, n):+.1%} |")
    if not pairs:
        return []
    return ["## Cost of recording per-edge gradients", "",
            "The engine by default keeps, for the renderer, the gradient that flowed along every "
            "edge; `tg.record_edge_grads(False)` turns it off. Same run as the tables above; the "
            "share is 1 - off/recorded, from the median of the per-round ratios. A negative share means "
            "the step without records was the slower one (benchmarks/README.md says why at B = 1).", "",
            "| table | size | model | dtype | recorded (ms) | off (ms) | share of a step |",
            "|---|---|---|---|---:|---:|---:|", *pairs, ""]


def checks(rows):
    bad = [f"- {r['label']} at {r['size']} {r['model']} {r['dtype']} ({r['table']}): {r['check']}"
           for r in rows if r["check"] != "ok"]
    n = len(rows)
    return ["## Checks", "", f"{n - len(bad)} of {n} timed cells matched the numpy oracle "
            "(loss, and every parameter gradient to 1e-9 relative in float64, 2e-3 in float32) "
            "before they were timed." + ("" if bad else ""), "", *bad, ""]


def memory_table(mem):
    if not mem:
        return []
    lines = ["## Peak memory of one training step (tracemalloc)", "",
             "New allocations held at once during one forward + backward, after a warm-up step "
             "(numpy reports its arrays to tracemalloc; torch cannot be measured this way).", "",
             "| size | model | dtype | implementation | peak MB | × numpy |", "|---|---|---|---|---:|---:|"]
    lines += [f"| {r['size']} {r['dims']} | {r['model']} | {r['dtype']} | {r['label']} | "
              f"{r['peak_mb']:.2f} | {r['ratio']:.2f} |" for r in mem]
    return lines + [""]


def unroll_table(rows):
    if not rows:
        return []
    lines = ["## Long unroll (B = 1, D = K = H = 32, float64)", "",
             "One forward + backward through T steps; time is the median of the repeats, memory the "
             "tracemalloc peak. Linear in T means flat per-step columns.", "",
             "| model | T | implementation | ms | µs / step | peak MB | KB / step |",
             "|---|---:|---|---:|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['T']} | {r['label']} | {r['ms']:.1f} | {r['us_per_step']:.1f} | "
              f"{r['peak_mb']:.2f} | {r['kb_per_step']:.2f} |" for r in rows]
    return lines + [""]


def allocator_table(alloc):
    if not alloc:
        return []
    lines = ["## The allocator's share of a step (medium)", "",
             "CPU ms per step (of which kernel time), minor page faults per step, and the ratio to "
             "numpy in the same process; *default* is glibc malloc as it comes "
             "(`TINYGRAD_RNN_MALLOC=default`), *tuned* is what the library sets at import "
             "(tinygrad_rnn/memory.py: mmap threshold 32 MiB, trim threshold 512 MiB) so freed "
             "memory is reused instead of being returned to the OS and faulted in again. "
             "10 steps each, after 3 warm-up steps.", "",
             "| model | implementation | default: ms (sys) | faults | × numpy | tuned: ms (sys) | faults "
             "| × numpy |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    base = {(k, r["model"]): r["ms"] for k, rows in alloc.items() for r in rows if r["impl"] == "numpy_impl"}
    tuned = {(r["model"], r["impl"]): r for r in alloc.get("tuned", [])}
    for r in alloc.get("default", []):
        t = tuned.get((r["model"], r["impl"]))
        if t is None:
            continue
        d_ratio, t_ratio = r["ms"] / base[("default", r["model"])], t["ms"] / base[("tuned", r["model"])]
        lines.append(f"| {r['model']} | {r['label']} | {r['ms']:.1f} ({r['sys_ms']:.1f}) | "
                     f"{r['faults']:.0f} | {d_ratio:.2f} | {t['ms']:.1f} ({t['sys_ms']:.1f}) | "
                     f"{t['faults']:.0f} | {t_ratio:.2f} |")
    return lines + [""]


# ---- plot ------------------------------------------------------------------
def plot(rows, path: Path):
    """Forward + backward, float64, one column per model: ms per step (top) and the
    ratio to numpy (bottom, with issue 17's targets as dashes in the colour of the bar
    they bound)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    sel = [r for r in rows if r["table"] == "fb" and "ms" in r]
    dtype = "float64" if any(r["dtype"] == "float64" for r in sel) else (sel[0]["dtype"] if sel else None)
    sel = [r for r in sel if r["dtype"] == dtype]
    if not sel:
        return None
    models = list(dict.fromkeys(r["model"] for r in sel))
    sizes = list(dict.fromkeys(r["size"] for r in sel))
    impls = list(dict.fromkeys(r["impl"] for r in sel))
    labels = {r["impl"]: r["label"] for r in sel}
    colors = {impl: f"C{k}" for k, impl in enumerate(impls)}
    fig, axes = plt.subplots(2, len(models), figsize=(6.5 * len(models), 8.5), squeeze=False)
    width = 0.8 / len(impls)
    for col, model in enumerate(models):
        top, bottom = axes[0][col], axes[1][col]
        for k, impl in enumerate(impls):
            xs, ms, ratios = [], [], []
            for j, size in enumerate(sizes):
                r = _find(sel, model=model, size=size, impl=impl)
                if r:
                    xs.append(j + (k - (len(impls) - 1) / 2) * width)
                    ms.append(r["ms"])
                    ratios.append(r.get("ratio") or float("nan"))
            top.bar(xs, ms, width, color=colors[impl], label=labels[impl])
            bottom.bar(xs, ratios, width, color=colors[impl])
        for j, size in enumerate(sizes):                   # issue 17's targets, in each bar's colour
            for impl, limit in (("engine", EAGER_TARGETS[model].get(size)),
                                ("engine_compiled", REPLAY_TARGETS.get(size))):
                if limit and impl in colors:
                    bottom.hlines(limit, j - 0.45, j + 0.45, colors=colors[impl], linestyles="--",
                                  linewidth=1.5)
        top.set_yscale("log")
        bottom.set_yscale("log")
        top.set_title(f"{model.upper()}, forward + backward, {dtype}, 1 thread")
        top.set_ylabel("ms per training step (median)")
        bottom.set_ylabel("× hand-written numpy (dashes: targets)")
        bottom.set_title("dashes: the targets of the eager engine and of the replay, "
                         "in their bars' colours", fontsize=9)
        for ax in (top, bottom):
            ax.set_xticks(range(len(sizes)), [_size_label(s) for s in sizes], fontsize=8)
            ax.grid(axis="y", which="both", alpha=0.3)
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _size_label(size):
    """'medium' over 'B=32, T=50' over 'D=64, H=128': one tuple on one line overlapped
    its neighbour's at the large sizes."""
    B, T, D, H = SIZES[size]
    return f"{size}\nB={B}, T={T}\nD={D}, H={H}"


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj
