"""The `tinygrad-rnn` command: parse and check the options, then run the demo task and draw it.

    tinygrad-rnn                                     # the default picture: a vanishing gradient
    tinygrad-rnn render --cell lstm --steps 30 --level cell -o lstm.svg
    tinygrad-rnn plot --steps 30 --spectral-radius 0.5 1.0 3.0 -o flow.png
    tinygrad-rnn render --steps 8 -o graph.html        # a page that replays backward()

Everything that can be checked before the work is checked first, with argparse's
message and exit status 2: each option's range, the output path (its directory
exists, it is not a directory, it can be written), the memory the unroll would
keep, and whether the picture fits in --max-nodes. The task itself is in
`tinygrad_rnn.demo`, the terminal bars in `tinygrad_rnn.report`.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import tinygrad_rnn as tg
from tinygrad_rnn import demo, viz
from tinygrad_rnn.report import state_norm_bars
from tinygrad_rnn.viz.labels import norm
from tinygrad_rnn.viz.plot import MISSING as NO_MATPLOTLIB

OP_LEVEL_MAX_STEPS = 10      # beyond this the default level is "cell"
OUTPUTS = (*viz.FORMATS, "html")   # .html: the interactive page (viz.to_html)
MAX_STEPS = 10_000           # an LSTM unroll of 10,000 steps takes ~10 s here; longer ones take minutes
MAX_NODES = 5_000            # Graphviz takes minutes to lay out more
MAX_RADIUS = 1e30            # a margin: the float32 recurrent weights (max 3.4e38) stay finite below it
MEMORY_LIMIT = 2e9           # bytes of activations and gradients the unroll may keep
# Bytes the unroll keeps, T·(a·B·H + c·H²) for float32, measured with tracemalloc (within ±15%):
# a for the step's (B, H) activations and gradients, c for the H×H weight share recorded per step.
BYTES_PER_STEP = {"rnn": (56, 4), "lstm": (180, 17), "gru": (185, 14)}


# ---- argument types: each turns a bad value into a clear argparse error ----
def whole_number(text: str, low: int, high: int | None = None, why: str = "") -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
    if high is not None and value > high:
        raise argparse.ArgumentTypeError(f"must be at most {high:,}{why}, got {value:,}")
    return value


def positive_int(text: str) -> int:
    return whole_number(text, 1)


def steps(text: str) -> int:
    return whole_number(text, 1, MAX_STEPS, " (a longer unroll takes minutes)")


def seed(text: str) -> int:
    return whole_number(text, 0, 2**63 - 1)


def max_nodes(text: str) -> int:
    return whole_number(text, 1, MAX_NODES, " (Graphviz takes minutes to lay out more)")


def radius(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number such as 0.9, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    if value > MAX_RADIUS:
        raise argparse.ArgumentTypeError(
            f"must be at most {MAX_RADIUS:g} (a margin below float32's 3.4e38, where the recurrent "
            f"weights would overflow), got {text}")
    return value


def writable(path: Path) -> Path:
    """The output path, checked before any work: its directory exists, it is no directory,
    and it can be opened for writing (tried: permissions alone do not tell, e.g. as root
    or on a read-only file system)."""
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{str(path)!r} is a directory; name a file in it, "
                                         f"e.g. {str(path / 'graph.svg')!r}")
    folder = path.parent
    if not folder.is_dir():
        what = "is not a directory" if folder.exists() else "does not exist"
        raise argparse.ArgumentTypeError(f"the directory {str(folder)!r} {what}")
    existed = path.exists()
    try:
        with open(path, "ab"):
            pass
    except OSError as e:
        raise argparse.ArgumentTypeError(f"cannot write {str(path)!r}: {e.strerror}") from None
    if not existed:
        os.unlink(path)
    return path


def output_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lstrip(".").lower() not in OUTPUTS:
        raise argparse.ArgumentTypeError(
            f"cannot tell the image format of {text!r}: end it in " + ", ".join("." + f for f in OUTPUTS))
    return writable(path)


def plot_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise argparse.ArgumentTypeError(f"the plot is written as .png, .svg or .pdf, got {text!r}")
    return writable(path)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinygrad-rnn",
        description="Unroll a small recurrent net, backpropagate through time, and draw the graph "
                    "with ‖∂E/∂·‖ on every edge. With no command, runs `render` with its defaults.",
        epilog="examples:\n"
               "  tinygrad-rnn                                    # 6-step RNN, op level, graph.svg\n"
               "  tinygrad-rnn render --cell lstm --steps 30 --level cell -o lstm.png\n"
               "  tinygrad-rnn render --steps 100 --elide 3 -o long.svg\n"
               "  tinygrad-rnn render --steps 8 -o graph.html     # replay backward() in a browser\n"
               "  tinygrad-rnn plot --steps 30 -r 0.5 1.0 3.0 -o flow.png\n"
               "options of each command: tinygrad-rnn render --help, tinygrad-rnn plot --help",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {tg.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{render,plot}")

    task = argparse.ArgumentParser(add_help=False)
    task.add_argument("--cell", choices=sorted(demo.LAYERS), default="rnn",
                      help="recurrent layer (default: rnn)")
    task.add_argument("--steps", "-T", type=steps, default=6,
                      help=f"time steps T, at most {MAX_STEPS:,} (default: 6)")
    task.add_argument("--hidden", "-H", type=positive_int, default=8, help="hidden size H (default: 8)")
    task.add_argument("--loss", choices=("last", "all"), default="last",
                      help="cross-entropy on the last step only (shows vanishing best; default) "
                           "or on every step")
    task.add_argument("--batch", type=positive_int, default=2, help="batch size B (default: 2)")
    task.add_argument("--seed", type=seed, default=0, help="random seed, 0 or more (default: 0)")

    render = commands.add_parser("render", parents=[task], help="draw the graph (svg, png, pdf or dot)",
                                 description="Run the seeded task and draw its unrolled graph.")
    render.add_argument("--spectral-radius", "-r", type=radius, default=0.5, metavar="R",
                        help="spectral radius of the recurrent matrix; < 1 vanishes, > 1 can explode "
                             "(default: 0.5)")
    render.add_argument("--level", choices=("op", "cell"), default=None,
                        help=f"op: every primitive op; cell: one box per time step "
                             f"(default: op up to {OP_LEVEL_MAX_STEPS} steps, cell beyond)")
    render.add_argument("--elide", type=positive_int, default=None, metavar="K",
                        help="draw only the first and last K steps; the middle becomes one node")
    render.add_argument("--max-nodes", type=max_nodes, default=250, metavar="N",
                        help=f"refuse to draw more than N nodes, at most {MAX_NODES:,} (default: 250)")
    render.add_argument("--output", "-o", type=output_path, default="graph.svg", metavar="PATH",
                        help="output file; the format comes from the extension: "
                             + ", ".join("." + f for f in OUTPUTS) + " (default: graph.svg; .html is "
                             "a page that replays backward() over the picture)")

    plot = commands.add_parser("plot", parents=[task], help="plot ‖∂E/∂h_t‖ against t for several radii",
                               description="Gradient flow: ‖∂E/∂h_t‖ against t, log scale, one line "
                                           "per spectral radius (needs matplotlib).")
    plot.add_argument("--spectral-radius", "-r", type=radius, nargs="+", default=[0.5, 1.0, 1.5, 3.0],
                      metavar="R", help="one or more radii (default: 0.5 1.0 1.5 3.0)")
    plot.add_argument("--output", "-o", type=plot_path, default="gradient_flow.png", metavar="PATH",
                      help="output image: .png, .svg or .pdf (default: gradient_flow.png)")
    parser.commands = {"render": render, "plot": plot}          # for their error() after parsing
    return parser


# ---- checks of the options together, before any work ----
def memory_problem(args) -> str | None:
    """Why the unroll would keep too much memory, or None."""
    a, c = BYTES_PER_STEP[args.cell]
    need = args.steps * (a * args.batch * args.hidden + c * args.hidden ** 2)
    if need <= MEMORY_LIMIT:
        return None
    return (f"T = {args.steps:,}, B = {args.batch:,}, H = {args.hidden:,} would keep about "
            f"{need / 1e9:,.1f} GB of activations and gradients, more than this command's "
            f"{MEMORY_LIMIT / 1e9:g} GB: lower --steps, --batch or --hidden")


def drawn_nodes(args, level: str, elide: int | None, T: int | None = None) -> int:
    """How many nodes the picture has, counted as draw_graph counts them, on the same task with
    H = B = 1 (the node count depends on T, the cell, the loss, the level and elide only).
    Beyond 3 steps it grows by the same amount per step; elided to K steps at each end, it
    stays the same from T = 2K + 2 on (the middle is one node, whatever T)."""
    T = args.steps if T is None else T
    if elide:
        T = min(T, 2 * elide + 2)
    elif T > 3:
        n2, n3 = drawn_nodes(args, level, elide, 2), drawn_nodes(args, level, elide, 3)
        return n3 + (n3 - n2) * (T - 3)
    with tg.record_edge_grads(False):
        loss, _ = demo.run_task(args.cell, T, 1, None, args.loss, 0, 1)
    pic = viz.picture(loss, level, elide, max_nodes=sys.maxsize)
    if level == "op" and not elide:
        return max(len(pic.nodes), sum(1 for t in viz.walk(loss) if not viz.is_folded(t)))
    return len(pic.nodes)


def size_problem(args, level: str) -> str | None:
    """Why the picture cannot be drawn within --max-nodes, with the flags that would draw it."""
    n = drawn_nodes(args, level, args.elide)
    if n <= args.max_nodes:
        return None
    ways = []                                   # only the ways that fit this situation
    if level == "op" and (cell := drawn_nodes(args, "cell", args.elide)) <= args.max_nodes:
        ways.append(f"--level cell (one box per step: {cell} nodes)")
    if not args.elide and (few := drawn_nodes(args, level, 3)) <= args.max_nodes:
        ways.append(f"--elide 3 (the first and last 3 steps: {few} nodes)")
    if n <= MAX_NODES:
        ways.append(f"--max-nodes {n}")
    if not ways:
        ways.append("fewer --steps")
    elided = f", elided to {args.elide} steps at each end," if args.elide else ""
    return (f"the {level}-level graph of T = {args.steps:,} steps{elided} has {n:,} nodes, more than "
            f"--max-nodes {args.max_nodes}; draw it with " + ", or ".join(ways))


def check_matplotlib(name: str) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print(f"{name}: error: {NO_MATPLOTLIB}", file=sys.stderr)
        sys.exit(1)


# ---- the commands ----
def fail(name: str, message: str) -> int:
    print(f"{name}: error: {message}", file=sys.stderr)
    return 1


def finite_or_message(loss, layer, rho) -> str | None:
    """A picture of NaN is no picture: why this run cannot be drawn, or None."""
    norms = [norm(h.grad) for h in layer.states if h.grad is not None]
    if math.isfinite(loss.item()) and all(math.isfinite(n) for n in norms):
        return None
    return (f"the forward or backward pass overflowed (E = {loss.item()}, ‖∂E/∂h_t‖ not finite) at "
            f"spectral radius {rho}; nothing was written: use a smaller --spectral-radius")


def level_of(args) -> str:
    return args.level or ("op" if args.steps <= OP_LEVEL_MAX_STEPS else "cell")


def render(args) -> int:
    name = "tinygrad-rnn render"
    level = level_of(args)
    loss, layer = demo.run_task(args.cell, args.steps, args.hidden, args.spectral_radius, args.loss,
                                args.seed, args.batch)
    print(f"{args.cell.upper()}, T = {args.steps}, H = {args.hidden}, spectral radius "
          f"{args.spectral_radius}, loss on {'the last step' if args.loss == 'last' else 'every step'}: "
          f"E = {loss.item():.4f}")
    print(state_norm_bars(layer))
    if (problem := finite_or_message(loss, layer, args.spectral_radius)) is not None:
        return fail(name, problem)
    title = f"{args.cell.upper()}, T = {args.steps}, ρ = {args.spectral_radius}: ‖∂E/∂·‖ on every edge"
    try:
        if args.output.suffix.lower() == ".html":
            path = viz.to_html(loss, args.output, level, elide=args.elide, max_nodes=args.max_nodes,
                               title=title)
            print(f"wrote {path} ({level} level; open it in a browser, no server needed)")
            return 0
        graph = viz.draw_graph(loss, level=level, elide=args.elide, max_nodes=args.max_nodes, title=title)
        try:
            path = viz.write(graph, args.output)
        except viz.GraphvizNotFoundError as e:
            dot = viz.write(graph, args.output.with_suffix(".dot"))
            return fail(name, f"{e}\nWrote the DOT source to {dot} instead.")
    except viz.GraphTooLargeError as e:          # size_problem said it fits; the renderer disagrees
        return fail(name, f"{e}\n(on the command line: --level, --elide K or --max-nodes N)")
    except OSError as e:
        return fail(name, f"cannot write {e.filename or args.output}: {e.strerror or e}")
    print(f"wrote {path} ({level} level)")
    return 0


def plot(args) -> int:
    name = "tinygrad-rnn plot"
    runs = {}
    for rho in args.spectral_radius:
        loss, layer = demo.run_task(args.cell, args.steps, args.hidden, rho, args.loss, args.seed, args.batch)
        if (problem := finite_or_message(loss, layer, rho)) is not None:
            return fail(name, problem)
        runs[f"ρ = {rho}"] = [norm(h.grad) if h.grad is not None else 0.0 for h in layer.states]
    try:
        viz.plot_gradient_flow(runs, args.output, title=f"{args.cell.upper()}, T = {args.steps}: "
                                                        "‖∂E/∂h_t‖ back through time")
    except OSError as e:
        return fail(name, f"cannot write {e.filename or args.output}: {e.strerror or e}")
    print(f"wrote {args.output}")
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("render", "plot", "-h", "--help", "--version"):
        argv.insert(0, "render")                 # `tinygrad-rnn --steps 5` means render
    parser = build_parser()
    args = parser.parse_args(argv)
    command = parser.commands[args.command]
    if (problem := memory_problem(args)) is not None:
        command.error(problem)
    if args.command == "plot":
        check_matplotlib(command.prog)
        return plot(args)
    if (problem := size_problem(args, level_of(args))) is not None:
        command.error(problem)
    return render(args)
