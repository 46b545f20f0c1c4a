// The replay of backward() over the picture. No library, no network: everything it
// needs is the inline SVG (elements found by id: t<k> tensors, e<k>_<i> edges) and the
// JSON payload written by tinygrad_rnn/viz/html.py.
"use strict";
(function () {
  const P = JSON.parse(document.getElementById("payload").textContent);
  const svg = document.querySelector("#view > svg");
  const $ = (id) => document.getElementById(id);
  const fmt = (x) => (typeof x === "number" ? x.toExponential(2) : String(x));
  const N = P.order.length;

  // ---- where each tensor falls in the engine's visit order -------------------------
  const pos = {};
  P.order.forEach((tid, k) => { pos[tid] = k; });
  const childOf = (eid) => "t" + eid.slice(1).split("_")[0];     // e<k>_<i> feeds t<k>
  const els = {};                                                 // element id -> {g, info, ...}
  for (const [id, info] of Object.entries(P.elements)) {
    const g = document.getElementById(id);
    if (!g) continue;
    let at = Infinity;                     // the frame from which it is lit
    if (info.m) for (const m of info.m) if (m in pos) at = Math.min(at, pos[m] + 1);
    if (info.e) for (const e of info.e) {
      const rec = P.edges[e];
      if (rec && rec.grad && childOf(e) in pos) at = Math.min(at, pos[childOf(e)] + 1);
    }
    els[id] = { g, info, at, edge: !!info.e };
  }
  // Graphviz's own tooltips would cover ours: drop them.
  svg.querySelectorAll("title").forEach((t) => t.remove());
  svg.querySelectorAll("a").forEach((a) => a.removeAttributeNS("http://www.w3.org/1999/xlink", "title"));

  // ---- edge styles: the picture's (log scale) or linear in ‖g‖ -------------------------
  const original = new Map();
  for (const el of Object.values(els)) {
    if (!el.edge) continue;
    const shapes = [...el.g.querySelectorAll("path, polygon")];
    original.set(el, shapes.map((s) => [s, s.getAttribute("stroke"), s.getAttribute("fill"),
                                        s.getAttribute("stroke-width")]));
    const hit = shapes.find((s) => s.tagName === "path");          // a wide invisible twin: easy to hover
    if (hit) {
      const twin = hit.cloneNode(false);
      twin.setAttribute("stroke", "transparent");
      twin.setAttribute("stroke-width", "10");
      twin.removeAttribute("stroke-dasharray");
      twin.classList.add("hit");
      hit.parentNode.insertBefore(twin, hit);
    }
  }
  const maxNorm = Math.max(1e-300, ...Object.values(P.elements).map((i) => (typeof i.norm === "number" ? i.norm : 0)));
  function colour(u) {
    const pal = P.palette, x = u * (pal.length - 1), i = Math.min(Math.floor(x), pal.length - 2), f = x - i;
    const c = (h, k) => parseInt(h.slice(k, k + 2), 16);
    const mix = [1, 3, 5].map((k) => Math.round(c(pal[i], k) * (1 - f) + c(pal[i + 1], k) * f));
    return "#" + mix.map((v) => v.toString(16).padStart(2, "0")).join("");
  }
  let linear = false;
  function restyle() {
    for (const [el, shapes] of original) {
      const n = el.info.norm;
      for (const [s, stroke, fill, width] of shapes) {
        if (s.classList.contains("hit")) continue;
        if (!linear || typeof n !== "number" || n <= 0) {
          if (stroke !== null) s.setAttribute("stroke", stroke);
          if (fill !== null) s.setAttribute("fill", fill);
          if (width !== null) s.setAttribute("stroke-width", width); else s.removeAttribute("stroke-width");
          continue;
        }
        const u = n / maxNorm, col = colour(u);
        s.setAttribute("stroke", col);
        if (s.tagName === "polygon") s.setAttribute("fill", col);
        else s.setAttribute("stroke-width", (P.widths[0] + (P.widths[1] - P.widths[0]) * u).toFixed(2));
      }
    }
    $("scale").textContent = "colour: " + (linear ? "linear" : "log");
  }

  // ---- frames ---------------------------------------------------------------------
  let frame = 0, timer = null;
  const stateLabels = P.states.map((s) => {
    const el = els[s.el];
    if (!el) return null;
    const box = el.g.getBBox();
    const text = document.createElementNS("http://www.w3.org/2000/svg", "text");
    text.setAttribute("class", "state");
    text.setAttribute("x", box.x + box.width / 2);
    text.setAttribute("text-anchor", "middle");
    const below = P.states.filter((o) => o.el === s.el).indexOf(s);
    text.setAttribute("y", box.y + box.height + 11 + 11 * below);
    text.textContent = "‖∂E/∂" + s.name + "‖ = " + fmt(s.norm);
    text.style.display = "none";
    el.g.appendChild(text);
    return { s, text };
  }).filter(Boolean);
  const sumRows = Object.entries(P.sums).map(([tid, sum]) => {
    let onNode = null;                       // op level: the weight's box shows its running sum too
    if (els[tid]) {
      const box = els[tid].g.getBBox();
      onNode = document.createElementNS("http://www.w3.org/2000/svg", "text");
      onNode.setAttribute("class", "running-sum");
      onNode.setAttribute("x", box.x + box.width / 2);
      onNode.setAttribute("y", box.y + box.height + 11);
      onNode.setAttribute("text-anchor", "middle");
      els[tid].g.appendChild(onNode);
    }
    const row = document.createElement("div");
    row.className = "sum";
    row.id = "sum-" + tid;
    row.innerHTML = "<span>" + sum.name + "</span><span class='v'></span>";
    $("sums").appendChild(row);
    return { tid, sum, row, onNode };
  });
  if (!sumRows.length) $("sums").textContent = "(no weight is shared in this graph)";

  function show(k) {
    frame = Math.max(0, Math.min(N, k));
    for (const [id, el] of Object.entries(els)) {
      const lit = el.at <= frame;
      el.g.classList.toggle("lit", lit);
      el.g.classList.toggle("dim", !lit && el.at !== Infinity);
      el.g.classList.toggle("current", frame > 0 && !el.edge && el.info.m && el.info.m.includes(P.order[frame - 1]));
      el.g.dataset.id = id;
    }
    for (const { s, text } of stateLabels) text.style.display = pos[s.tid] < frame ? "" : "none";
    for (const { sum, row, onNode } of sumRows) {
      const arrived = sum.shares.filter(([k]) => k < frame);
      const v = arrived.length ? arrived[arrived.length - 1][1] : 0;
      if (onNode) onNode.textContent = "‖Σ so far‖ = " + fmt(v) + " (" + arrived.length + "/" + sum.shares.length + ")";
      row.dataset.value = v;
      row.dataset.count = arrived.length;
      row.querySelector(".v").textContent = fmt(v) + "  (" + arrived.length + "/" + sum.shares.length + " shares)";
    }
    drawBars();
    $("scrub").value = frame;
    $("frame").textContent = frame + " / " + N;
    document.body.dataset.frame = frame;
    $("now").textContent = frame === 0 ? "frame 0: backward() has not started"
      : "visit " + frame + ": " + P.visits[frame - 1] + (frame === N ? " (done: every tensor on a path "
        + "to the loss has its gradient)" : "");
  }

  function drawBars() {                       // ‖∂E/∂h_t‖ per step, log scale, as reached
    const bars = $("bars"), hs = P.states.filter((s) => s.name === "h_t");
    bars.innerHTML = "";
    if (!hs.length) return;
    const vals = hs.map((s) => s.norm).filter((v) => typeof v === "number" && v > 0);
    const lo = Math.log10(Math.min(...vals)), hi = Math.log10(Math.max(...vals));
    const w = 260 / hs.length;
    hs.forEach((s, i) => {
      if (!(pos[s.tid] < frame) || !(s.norm > 0)) return;
      const u = hi > lo ? (Math.log10(s.norm) - lo) / (hi - lo) : 1, h = 8 + 70 * u;
      const r = document.createElementNS("http://www.w3.org/2000/svg", "rect");
      r.setAttribute("x", i * w + 1); r.setAttribute("width", Math.max(1, w - 2));
      r.setAttribute("y", 80 - h); r.setAttribute("height", h); r.setAttribute("fill", colour(u));
      r.setAttribute("data-t", s.t);
      const tip = document.createElementNS("http://www.w3.org/2000/svg", "title");
      tip.textContent = s.step + ": " + fmt(s.norm);
      r.appendChild(tip);
      bars.appendChild(r);
    });
  }

  function play() {
    if (timer) return pause();
    if (frame >= N) show(0);
    const fps = Math.max(4, Math.min(60, N / 10));      // the whole replay in about ten seconds
    timer = setInterval(() => { if (frame >= N) pause(); else show(frame + 1); }, 1000 / fps);
    $("play").textContent = "❚❚ pause";
  }
  function pause() {
    clearInterval(timer);
    timer = null;
    $("play").textContent = "▶ play";
  }

  // ---- inspect ----------------------------------------------------------------------
  function heatmap(rows) {
    const r = rows.length, c = rows[0].length, cell = Math.max(2, Math.min(14, Math.floor(240 / Math.max(r, c))));
    const cv = document.createElement("canvas");
    cv.width = c * cell; cv.height = r * cell;
    const ctx = cv.getContext("2d");
    let m = 0;
    for (const row of rows) for (const v of row) if (typeof v === "number") m = Math.max(m, Math.abs(v));
    rows.forEach((row, i) => row.forEach((v, j) => {
      const u = typeof v === "number" && m > 0 ? v / m : 0;          // blue < 0 < red
      const a = Math.round(255 * (1 - Math.abs(u)));
      ctx.fillStyle = u >= 0 ? `rgb(255,${a},${a})` : `rgb(${a},${a},255)`;
      ctx.fillRect(j * cell, i * cell, cell, cell);
    }));
    cv.title = "blue < 0 < red, scaled by max |entry| = " + fmt(m);
    return cv;
  }
  function histogram(h) {
    const cv = document.createElement("canvas"), n = h.counts.length;
    cv.width = 240; cv.height = 50;
    const ctx = cv.getContext("2d"), top = Math.max(1, ...h.counts);
    ctx.fillStyle = "#e34a33";
    h.counts.forEach((c, i) => { const y = 48 * c / top; ctx.fillRect(i * 240 / n, 50 - y, 240 / n - 1, y); });
    cv.title = "histogram of the entries from " + fmt(h.lo) + " to " + fmt(h.hi);
    return cv;
  }
  function describe(title, lines, g) {
    const div = document.createElement("div");
    div.className = "rec";
    const b = document.createElement("b");
    b.textContent = title;
    div.appendChild(b);
    for (const [key, val] of lines) {
      const line = document.createElement("div");
      line.innerHTML = "<span class='k'></span> <span class='val'></span>";
      line.children[0].textContent = key;
      line.children[1].textContent = val;
      line.dataset.key = key;
      div.appendChild(line);
    }
    if (g) {
      for (const key of ["norm", "min", "max", "mean"]) if (key in g) {
        const line = document.createElement("div");
        line.dataset.key = key === "norm" ? "‖g‖" : key;
        line.dataset.value = g[key];
        line.innerHTML = "<span class='k'></span> <span class='val'></span>";
        line.children[0].textContent = key === "norm" ? "‖g‖" : key;
        line.children[1].textContent = fmt(g[key]);
        div.appendChild(line);
      }
      if (g.rows) div.appendChild(heatmap(g.rows));
      else if (g.hist) {
        div.appendChild(histogram(g.hist));
        div.appendChild(document.createTextNode("(more than " + P.max_embed + " entries: histogram only)"));
      }
    }
    return div;
  }
  function inspect(id) {
    const el = els[id], out = document.createElement("div");
    if (!el) return null;
    const shape = (s) => "(" + s.join(", ") + (s.length === 1 ? ",)" : ")");
    if (el.edge) {
      for (const e of el.info.e) {
        const r = P.edges[e];
        if (!r) continue;
        out.appendChild(describe(r.what, [["edge", "argument " + r.arg + " of " + r.op],
          ["scope", r.scope || "top level"], ["shape", r.grad ? shape(r.grad.shape) : "-"],
          ["gradient", r.grad ? "sent back along it" : "none (no gradient flows)"]], r.grad));
      }
    } else {
      for (const t of el.info.show) {
        const r = P.tensors[t];
        if (!r) continue;
        out.appendChild(describe(r.name, [["scope", r.scope || "top level"], ["shape", shape(r.shape)],
          ["op", r.op || "leaf (" + r.kind + ")"], ["gradient", r.grad ? "∂E/∂" + r.name : "none"]], r.grad));
      }
      if (P.sums[id]) {
        const s = P.sums[id], line = document.createElement("div");
        line.textContent = "= Σ of " + s.shares.length + " shares, ‖·‖ = " + fmt(s.total);
        out.appendChild(line);
      }
    }
    out.dataset.id = id;
    return out;
  }
  const tip = $("tip");
  function target(ev) {
    const g = ev.target.closest && ev.target.closest("g.node, g.edge");
    return g && els[g.id] ? g.id : null;
  }
  svg.addEventListener("mousemove", (ev) => {
    const id = target(ev);
    if (!id) { tip.style.display = "none"; tip.dataset.id = ""; return; }
    if (tip.dataset.id !== id) {
      tip.innerHTML = "";
      const body = inspect(id);
      if (body) tip.appendChild(body);
      tip.dataset.id = id;
    }
    tip.style.display = "block";
    const x = Math.min(ev.clientX + 14, window.innerWidth - tip.offsetWidth - 4);
    const y = Math.min(ev.clientY + 14, window.innerHeight - tip.offsetHeight - 4);
    tip.style.left = Math.max(0, x) + "px";
    tip.style.top = Math.max(0, y) + "px";
  });
  svg.addEventListener("mouseleave", () => { tip.style.display = "none"; tip.dataset.id = ""; });
  svg.addEventListener("click", (ev) => {
    const id = target(ev);
    if (!id || moved) return;
    $("pinned").innerHTML = "";
    $("pinned").appendChild(inspect(id));
  });

  // ---- pan and zoom: the viewBox ------------------------------------------------------
  const vb0 = svg.getAttribute("viewBox").split(/[\s,]+/).map(Number);
  let vb = vb0.slice();
  svg.removeAttribute("width");
  svg.removeAttribute("height");
  svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
  const setVB = (v) => { vb = v; svg.setAttribute("viewBox", v.join(" ")); };
  function toSvg(x, y) {
    const p = svg.createSVGPoint();
    p.x = x; p.y = y;
    return p.matrixTransform(svg.getScreenCTM().inverse());
  }
  function zoom(factor, cx, cy) {
    const p = toSvg(cx, cy);
    setVB([p.x - (p.x - vb[0]) * factor, p.y - (p.y - vb[1]) * factor, vb[2] * factor, vb[3] * factor]);
  }
  $("view").addEventListener("wheel", (ev) => {
    ev.preventDefault();
    zoom(Math.exp(ev.deltaY * 0.0015), ev.clientX, ev.clientY);
  }, { passive: false });
  let drag = null, moved = false;
  $("view").addEventListener("mousedown", (ev) => {
    drag = { x: ev.clientX, y: ev.clientY, vb: vb.slice() };
    moved = false;
  });
  window.addEventListener("mousemove", (ev) => {
    if (!drag) return;
    const a = toSvg(drag.x, drag.y), b = toSvg(ev.clientX, ev.clientY);
    if (Math.abs(ev.clientX - drag.x) + Math.abs(ev.clientY - drag.y) > 3) moved = true;
    if (!moved) return;
    $("view").classList.add("dragging");
    setVB([vb[0] - (b.x - a.x), vb[1] - (b.y - a.y), vb[2], vb[3]]);
    drag.x = ev.clientX; drag.y = ev.clientY;
  });
  window.addEventListener("mouseup", () => { drag = null; $("view").classList.remove("dragging"); });
  function zoomToStep(i) {
    $("tstep").value = i;
    if (i === 0) { setVB(vb0.slice()); $("tname").textContent = "all"; return; }
    const step = P.steps[i - 1];
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const el of Object.values(els)) {
      if (el.edge || el.info.step !== step) continue;      // edges from shared weights reach far
      const r = el.g.getBoundingClientRect(), a = toSvg(r.left, r.top), b = toSvg(r.right, r.bottom);
      x0 = Math.min(x0, a.x); y0 = Math.min(y0, a.y); x1 = Math.max(x1, b.x); y1 = Math.max(y1, b.y);
    }
    $("tname").textContent = step;
    if (x0 < x1) { const m = 20; setVB([x0 - m, y0 - m, x1 - x0 + 2 * m, y1 - y0 + 2 * m]); }
  }
  svg.addEventListener("dblclick", (ev) => {
    const id = target(ev), step = id && els[id].info.step;
    if (step) zoomToStep(P.steps.indexOf(step) + 1);
  });

  // ---- controls --------------------------------------------------------------------
  $("scrub").max = N;
  $("tstep").max = P.steps.length;
  $("scrub").addEventListener("input", () => { pause(); show(+$("scrub").value); });
  $("tstep").addEventListener("input", () => zoomToStep(+$("tstep").value));
  $("play").addEventListener("click", play);
  $("step").addEventListener("click", () => { pause(); show(frame + 1); });
  $("back").addEventListener("click", () => { pause(); show(frame - 1); });
  $("fit").addEventListener("click", () => zoomToStep(0));
  $("scale").addEventListener("click", () => { linear = !linear; restyle(); });
  // a clicked button gives the focus back, so space means "play" and never "click it again"
  document.querySelectorAll("button").forEach((b) => b.addEventListener("click", () => b.blur()));
  document.addEventListener("keydown", (ev) => {
    if (ev.target.tagName === "INPUT" && ev.key !== " ") return;   // a slider keeps its own arrows
    if (ev.key === " ") { ev.preventDefault(); play(); }
    else if (ev.key === "ArrowRight") { ev.preventDefault(); pause(); show(frame + 1); }
    else if (ev.key === "ArrowLeft") { ev.preventDefault(); pause(); show(frame - 1); }
    else if (ev.key === "Home") { pause(); show(0); }
    else if (ev.key === "End") { pause(); show(N); }
  });
  show(0);
  // A long unroll fitted into a small frame is a thin strip: start on the last step instead,
  // where backward() starts (fit shows the whole graph).
  const frameBox = $("view").getBoundingClientRect();
  if (P.steps.length && vb0[2] / vb0[3] > 2.5 * frameBox.width / Math.max(1, frameBox.height)) {
    zoomToStep(P.steps.length);
  }
  document.body.dataset.ready = "1";
  // the frame after next has been painted: how long the page took to open (the tests read it)
  requestAnimationFrame(() => requestAnimationFrame(() => { document.body.dataset.painted = performance.now(); }));
})();
