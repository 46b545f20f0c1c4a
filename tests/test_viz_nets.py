"""Hand-written unrolled nets for the renderer tests: primitive ops inside tg.scope("rnn/t=…").

They produce exactly what the layers produce (scopes, names h_t / C_t, shared
parameters) without depending on tinygrad_rnn.nn, so the renderer is tested alone.
"""

import re

import numpy as np

import tinygrad_rnn as tg


def _param(rng, shape, name, scale=0.5):
    return tg.Tensor(rng.standard_normal(shape) * scale, requires_grad=True, name=name)


def rnn_loss(T=5, H=4, D=3, B=2, seed=0, rho=0.6, loss_at="last", detach_at=None):
    """h_t = tanh(x_t W + h_{t-1} U + b); loss = mean of (h_t V)² at the last (or every) step."""
    rng = np.random.default_rng(seed)
    W, b, V = _param(rng, (D, H), "W"), _param(rng, (H,), "b", 0.1), _param(rng, (H, 2), "V")
    U0 = rng.standard_normal((H, H))
    U = tg.Tensor(U0 * (rho / max(abs(np.linalg.eigvals(U0)))), requires_grad=True, name="U")
    h = tg.Tensor(np.zeros((B, H)), name="h_0")
    terms, states = [], []
    for t in range(1, T + 1):
        if detach_at == t:
            h = h.detach()
        with tg.scope(f"rnn/t={t}"):
            x_t = tg.Tensor(rng.standard_normal((B, D)), name="x_t")
            h = (x_t @ W + h @ U + b).tanh()
            h.name = "h_t"
        states.append(h)
        if loss_at == "all" or t == T:
            terms.append(((h @ V) ** 2).mean())
    E = terms[0]
    for term in terms[1:]:
        E = E + term
    return E, {"W": W, "U": U, "b": b, "V": V}, states


def lstm_loss(T=4, H=3, D=2, B=2, seed=0):
    """The course's LSTM on z_t = [h_{t-1}, x_t]; loss on the last h_T."""
    rng = np.random.default_rng(seed)
    Ws = {g: _param(rng, (H + D, H), f"W_{g}") for g in "fico"}
    bs = {g: _param(rng, (H,), f"b_{g}", 0.1) for g in "fico"}
    h = tg.Tensor(np.zeros((B, H)), name="h_0")
    C = tg.Tensor(np.zeros((B, H)), name="C_0")
    hs, Cs = [], []
    for t in range(1, T + 1):
        with tg.scope(f"lstm/t={t}"):
            x_t = tg.Tensor(rng.standard_normal((B, D)), name="x_t")
            z = tg.cat([h, x_t], axis=-1)
            f = (z @ Ws["f"] + bs["f"]).sigmoid()
            i = (z @ Ws["i"] + bs["i"]).sigmoid()
            c = (z @ Ws["c"] + bs["c"]).tanh()
            o = (z @ Ws["o"] + bs["o"]).sigmoid()
            C = f * C + i * c
            h = o * C.tanh()
            f.name, i.name, c.name, o.name, C.name, h.name = "f_t", "i_t", "C̃_t", "o_t", "C_t", "h_t"
        hs.append(h)
        Cs.append(C)
    E = (h ** 2).sum()
    return E, {**Ws, **bs}, hs, Cs


# ---- reading DOT source back, for assertions ----------------------------------
_ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|<(?:[^<>]|<[^<>]*>)*>|[^\s\]]+)')


def _attrs(text):
    found = {k: v[1:-1] if v.startswith('"') else v for k, v in _ATTR.findall(text)}
    if found.get("label", "").startswith("<") and "TABLE" not in found["label"]:
        found["label"] = plain(found["label"])
    return found


def plain(html_label):
    """An HTML-like label read back as plain text: <SUB>3</SUB> -> _3, <BR/> -> \\n, no tags."""
    text = html_label[1:-1].replace("<BR/>", "\\n")
    text = re.sub(r"<SUB>(.*?)</SUB>", lambda m: "_" + m.group(1), text)
    text = re.sub(r"<[^>]+>", "", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def parse_dot(source):
    """(nodes {id: attrs}, edges [(src, dst, attrs)], cluster labels in order) of DOT text."""
    nodes, edges, clusters = {}, [], []
    for line in source.splitlines():
        line = line.strip()
        if m := re.match(r"(\w+) -> (\w+)(?::\w+)?(?: \[(.*)\])?$", line):
            edges.append((m.group(1), m.group(2), _attrs(m.group(3) or "")))
        elif m := re.match(r"(\w+) \[(.*)\]$", line):
            if m.group(1) not in ("graph", "node", "edge"):
                nodes[m.group(1)] = _attrs(m.group(2))
        elif re.match(r"\w+=", line) and "label=" in line:
            clusters.append(_attrs(line)["label"])
    nodes = {i: a for i, a in nodes.items() if not i.startswith("xj_")}      # bus junctions
    edges = [e for e in edges if e[2].get("style") != "invis" and not e[2].get("id", "").startswith("xbus")]
    return nodes, edges, clusters


def node_by_label(nodes, first_line):
    """Ids of the nodes whose label starts with `first_line` (the tensor's name)."""
    heads = {i: a.get("label", "").split("\\n")[0] for i, a in nodes.items()}
    return [i for i, h in heads.items() if h == first_line or h.startswith(first_line + " (")]
