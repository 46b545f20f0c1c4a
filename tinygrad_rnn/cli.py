"""The `tinygrad-rnn` command: run a small seeded task, backpropagate, draw the gradients.

    tinygrad-rnn                                     # the default picture: a vanishing gradient
    tinygrad-rnn render --cell lstm --steps 30 --level cell -o lstm.svg
    tinygrad-rnn plot --steps 30 --spectral-radius 0.5 1.0 3.0 -o flow.png
    tinygrad-rnn render --steps 8 -o graph.html        # a page that replays backward()

The task: random inputs x (B, T, D), a recurrent layer, a linear readout and a
cross-entropy loss on the LAST step only (by default). Then E depends on h_t only
through h_{t+1}, …, h_T, so ‖∂E/∂h_t‖ = ‖∂E/∂h_T · Π ∂h_i/∂h_{i-1}‖ shows the
product of Jacobians shrinking (ρ(U) < 1) or growing (ρ(U) > 1) backwards in time.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import nn, viz
from tinygrad_rnn.viz.labels import norm

LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
OP_LEVEL_MAX_STEPS = 10      # beyond this the default level is "cell"
OUTPUTS = (*viz.FORMATS, "html")   # .html: the interactive page (viz.to_html)


def run_task(cell="rnn", steps=6, hidden=8, rho=0.5, loss_at="last", seed=0, batch=2,
             input_size=3, classes=4):
    """Build, run and backpropagate the seeded task; returns (loss, layer)."""
    tg.manual_seed(seed)
    rng = np.random.default_rng(seed)
    layer = LAYERS[cell](input_size, hidden)
    readout = nn.Linear(hidden, classes)
    readout.weight.name, readout.bias.name = "V", "c"           # y_t = softmax(h_t V + c)
    if rho is not None:
        set_recurrent_radius(layer, rho)
    x = rng.standard_normal((batch, steps, input_size))          # (B, T, D)
    outputs, state = layer(x)
    h_T = state[0] if cell == "lstm" else state                  # (B, H)
    if loss_at == "last":
        loss = nn.functional.cross_entropy(readout(h_T), rng.integers(0, classes, batch))
    else:
        targets = rng.integers(0, classes, (batch, steps))
        loss = nn.functional.cross_entropy(readout(outputs), targets)
    loss.backward()
    return loss, layer


def set_recurrent_radius(layer, rho: float) -> None:
    """Give every matrix acting on h_{t-1} the spectral radius rho.

    RNN: U. GRU: U_r, U_z, U_n. LSTM: the first H rows of W_f, W_i, W_c, W_o
    (the block that multiplies h_{t-1} in z_t = [h_{t-1}, x_t]).
    """
    cell = layer.cells[0]
    for name in ("U", "U_r", "U_z", "U_n"):
        if hasattr(cell, name):
            nn.init.spectral_radius_(getattr(cell, name), rho)
    for name in ("W_f", "W_i", "W_c", "W_o"):
        if hasattr(cell, name):
            W = getattr(cell, name)
            block = tg.Tensor(W.data[cell.hidden_rows].astype(np.float64))     # (H, H)
            nn.init.spectral_radius_(block, rho)
            W.data = np.concatenate([block.data.astype(W.dtype), W.data[cell.input_rows]])


# ---- argument types: each turns a bad value into a clear argparse error ----
def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def radius(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number such as 0.9, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def output_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lstrip(".").lower() not in OUTPUTS:
        raise argparse.ArgumentTypeError(
            f"cannot tell the image format of {text!r}: end it in " + ", ".join("." + f for f in OUTPUTS))
    return path


def plot_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise argparse.ArgumentTypeError(f"the plot is written as .png, .svg or .pdf, got {text!r}")
    return path


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
    task.add_argument("--cell", choices=sorted(LAYERS), default="rnn", help="recurrent layer (default: rnn)")
    task.add_argument("--steps", "-T", type=positive_int, default=6, help="time steps T (default: 6)")
    task.add_argument("--hidden", "-H", type=positive_int, default=8, help="hidden size H (default: 8)")
    task.add_argument("--loss", choices=("last", "all"), default="last",
                      help="cross-entropy on the last step only (shows vanishing best; default) "
                           "or on every step")
    task.add_argument("--batch", type=positive_int, default=2, help="batch size B (default: 2)")
    task.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")

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
    render.add_argument("--output", "-o", type=output_path, default=Path("graph.svg"), metavar="PATH",
                        help="output file; the format comes from the extension: "
                             + ", ".join("." + f for f in OUTPUTS) + " (default: graph.svg; .html is "
                             "a page that replays backward() over the picture)")

    plot = commands.add_parser("plot", parents=[task], help="plot ‖∂E/∂h_t‖ against t for several radii",
                               description="Gradient flow: ‖∂E/∂h_t‖ against t, log scale, one line "
                                           "per spectral radius (needs matplotlib).")
    plot.add_argument("--spectral-radius", "-r", type=radius, nargs="+", default=[0.5, 1.0, 1.5, 3.0],
                      metavar="R", help="one or more radii (default: 0.5 1.0 1.5 3.0)")
    plot.add_argument("--output", "-o", type=plot_path, default=Path("gradient_flow.png"), metavar="PATH",
                      help="output image: .png, .svg or .pdf (default: gradient_flow.png)")
    return parser


def print_norms(layer, cell: str, show: int = 30) -> None:
    """‖∂E/∂h_t‖ per step (and ‖∂E/∂C_t‖ for the LSTM), with a log-scale bar: 5 blocks a decade."""
    rows = [("h", [h.grad for h in layer.states])]
    if cell == "lstm":
        rows.append(("C", [C.grad for C in layer.cell_states]))
    for sym, grads in rows:
        norms = [norm(g) if g is not None else 0.0 for g in grads]
        print(f"‖∂E/∂{sym}_t‖ for t = 1 … {len(norms)}:")
        top = max(norms) or 1.0
        for t, n in enumerate(norms, start=1):
            if len(norms) > show and show // 2 < t <= len(norms) - show // 2:
                if t == show // 2 + 1:
                    print(f"  … {len(norms) - 2 * (show // 2)} steps …")
                continue
            bar = "█" * max(1, round(30 + 5 * math.log10(n / top))) if n > 0 else ""
            print(f"  t = {t:>3}  {viz.fmt_norm(n)}  {bar}")


def render(args) -> int:
    level = args.level or ("op" if args.steps <= OP_LEVEL_MAX_STEPS else "cell")
    loss, layer = run_task(args.cell, args.steps, args.hidden, args.spectral_radius, args.loss,
                           args.seed, args.batch)
    print(f"{args.cell.upper()}, T = {args.steps}, H = {args.hidden}, spectral radius "
          f"{args.spectral_radius}, loss on {'the last step' if args.loss == 'last' else 'every step'}: "
          f"E = {loss.item():.4f}")
    print_norms(layer, args.cell)
    title = f"{args.cell.upper()}, T = {args.steps}, ρ = {args.spectral_radius}: ‖∂E/∂·‖ on every edge"
    try:
        if args.output.suffix.lower() == ".html":
            path = viz.to_html(loss, args.output, level, elide=args.elide, title=title)
            print(f"wrote {path} ({level} level; open it in a browser, no server needed)")
            return 0
        graph = viz.draw_graph(loss, level=level, elide=args.elide, title=title)
    except viz.GraphTooLargeError as e:
        print(f"tinygrad-rnn render: error: {e}\n(on the command line: --level cell or --elide K)",
              file=sys.stderr)
        return 2
    try:
        path = viz.write(graph, args.output)
    except viz.GraphvizNotFoundError as e:
        dot = viz.write(graph, args.output.with_suffix(".dot"))
        print(f"tinygrad-rnn render: error: {e}\nWrote the DOT source to {dot} instead.", file=sys.stderr)
        return 1
    print(f"wrote {path} ({level} level)")
    return 0


def plot(args) -> int:
    runs = {}
    for rho in args.spectral_radius:
        _, layer = run_task(args.cell, args.steps, args.hidden, rho, args.loss, args.seed, args.batch)
        runs[f"ρ = {rho}"] = [norm(h.grad) if h.grad is not None else 0.0 for h in layer.states]
    try:
        viz.plot_gradient_flow(runs, args.output, title=f"{args.cell.upper()}, T = {args.steps}: "
                                                        "‖∂E/∂h_t‖ back through time")
    except ImportError as e:
        print(f"tinygrad-rnn plot: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}")
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("render", "plot", "-h", "--help", "--version"):
        argv.insert(0, "render")                 # `tinygrad-rnn --steps 5` means render
    args = build_parser().parse_args(argv)
    return render(args) if args.command == "render" else plot(args)
