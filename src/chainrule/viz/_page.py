"""The explorer page: one HTML file with its CSS and JavaScript inline (no network needed).

The page reads two JSON blocks: the trace (``#chainrule-trace``, the documented schema) and
the layout (``#chainrule-layout``: node centres and titles). It replays the steps up to the
current one to know which values and gradients are visible, so Previous is exact.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

BOX_W = 168  # node box size in px; the layout reserves 2.3 x 1.0 inches (166 x 72 pt)
BOX_H = 62

_CSS = """
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #1f2937; background: #f8fafc; }
header { display: flex; align-items: center; gap: 12px; padding: 10px 16px;
  background: #fff; border-bottom: 1px solid #e5e7eb; flex-wrap: wrap; }
header h1 { font-size: 17px; margin: 0 12px 0 0; font-weight: 600; }
button { font: inherit; padding: 6px 14px; border: 1px solid #cbd5e1; border-radius: 6px;
  background: #fff; cursor: pointer; }
button:hover:not(:disabled) { background: #f1f5f9; }
button:disabled { opacity: 0.45; cursor: default; }
#step-counter { font-variant-numeric: tabular-nums; color: #475569; }
.hint { color: #64748b; font-size: 13px; margin-left: auto; }
main { display: flex; gap: 0; height: calc(100vh - 56px); }
#graph { flex: 1; overflow: auto; padding: 16px; }
#graph svg { max-width: 100%; height: auto; }
#panel { width: 350px; flex: none; background: #fff; border-left: 1px solid #e5e7eb;
  padding: 16px 18px; overflow: auto; }
#phase { display: inline-block; font-size: 12px; font-weight: 700; letter-spacing: .06em;
  text-transform: uppercase; padding: 2px 8px; border-radius: 4px; }
#phase.forward { background: #dcfce7; color: #166534; }
#phase.backward { background: #fee2e2; color: #991b1b; }
#step-text { font-size: 16px; margin: 10px 0 14px; }
table.details { border-collapse: collapse; width: 100%; font-size: 14px; }
table.details td { padding: 4px 6px; border-bottom: 1px solid #f1f5f9; vertical-align: top; }
table.details td:first-child { color: #64748b; width: 45%; }
#accumulate { margin-top: 12px; padding: 8px 10px; border-radius: 6px; background: #fef3c7;
  border: 1px solid #f59e0b; font-weight: 600; }
.legend { margin-top: 18px; font-size: 13px; color: #64748b; }
.legend span { display: inline-block; width: 12px; height: 12px; border-radius: 3px;
  vertical-align: -1px; margin-right: 4px; }
svg text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
.node rect { fill: #fff; stroke: #94a3b8; stroke-width: 1.2; }
.node.leaf rect { fill: #eff6ff; }
.node .title { font-size: 13px; font-weight: 600; fill: #0f172a; }
.node .val, .node .grad { font-size: 12.5px; fill: #334155; }
.node .unknown { fill: #cbd5e1; }
.node .grad { fill: #b91c1c; }
.node .grad.unknown { fill: #cbd5e1; }
.node.current rect { stroke: #ea580c; stroke-width: 3.5; fill: #fff7ed; }
.node.target rect { stroke: #2563eb; stroke-width: 3.5; fill: #eff6ff; }
.node.done rect { stroke: #64748b; }
.edge { fill: none; stroke: #94a3b8; stroke-width: 1.4; }
.edge.active { stroke: #ea580c; stroke-width: 3; }
@media (max-width: 900px) { main { flex-direction: column; height: auto; }
  #panel { width: auto; border-left: none; border-top: 1px solid #e5e7eb; } }
"""

_JS = r"""
(function () {
  const T = JSON.parse(document.getElementById('chainrule-trace').textContent);
  const L = JSON.parse(document.getElementById('chainrule-layout').textContent);
  const W = __BOX_W__, H = __BOX_H__, PAD = 24, NS = 'http://www.w3.org/2000/svg';
  const byId = {};
  T.nodes.forEach(n => { byId[n.id] = n; });
  const hasParent = {};
  T.edges.forEach(e => { hasParent[e[1]] = true; });

  function fmt(x) {
    if (x === null || x === undefined) return '?';
    if (typeof x === 'string') return x;
    if (typeof x === 'number') {
      if (Number.isInteger(x) && Math.abs(x) < 1e15) return String(x);
      return String(Number(x.toPrecision(6)));
    }
    if (typeof x === 'object' && x.shape) {
      const shape = '(' + x.shape.join(', ') + (x.shape.length === 1 ? ',' : '') + ')';
      if (x.min === undefined) return shape;
      const size = x.shape.reduce((a, b) => a * b, 1);
      const short = v => typeof v === 'number' ? String(Number(v.toPrecision(3))) : String(v);
      if (size === 1) return shape + ' ' + short(x.mean);
      return shape + ' ' + short(x.min) + '…' + short(x.max);
    }
    return String(x);
  }
  function el(name, attrs, parent) {
    const e = document.createElementNS(NS, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function clip(s, n) { return s.length > n ? s.slice(0, n - 1) + '…' : s; }

  // --- the picture --------------------------------------------------------------------------
  const P = {};
  let maxX = 0, maxY = 0;
  for (const k in L.nodes) {
    const p = L.nodes[k];
    P[k] = { x: p.x + W / 2 + PAD, y: p.y + H / 2 + PAD, title: p.title };
    maxX = Math.max(maxX, P[k].x + W / 2 + PAD);
    maxY = Math.max(maxY, P[k].y + H / 2 + PAD);
  }
  const svg = el('svg', { width: maxX, height: maxY, viewBox: '0 0 ' + maxX + ' ' + maxY,
                          role: 'img', 'aria-label': 'computational graph' });
  // Shrink to fit, but not below 85%: past that the text is too small, so scroll instead.
  svg.style.minWidth = Math.min(maxX, Math.round(0.85 * maxX)) + 'px';
  document.getElementById('graph').appendChild(svg);
  const defs = el('defs', {}, svg);
  const marker = el('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5,
    markerUnits: 'userSpaceOnUse', markerWidth: 9, markerHeight: 9, orient: 'auto' }, defs);
  el('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#64748b' }, marker);
  const seen = {};
  const edgeEls = T.edges.map((e, i) => {
    const a = P[e[0]], b = P[e[1]];
    const key = e[0] + '-' + e[1];
    const dup = seen[key] = (seen[key] || 0) + 1;  // a node used twice by one op: bend apart
    const bend = (dup - 1) * 16;
    const x1 = a.x + W / 2, y1 = a.y, x2 = b.x - W / 2, y2 = b.y + bend / 2;
    const mx = (x1 + x2) / 2;
    return el('path', { class: 'edge', id: 'edge-' + i, 'marker-end': 'url(#arrow)',
      d: `M${x1},${y1 + bend} C${mx},${y1 + bend} ${mx},${y2} ${x2},${y2}` }, svg);
  });
  const nodeEls = {};
  T.nodes.forEach(n => {
    const p = P[n.id];
    const g = el('g', { class: 'node' + (hasParent[n.id] ? '' : ' leaf'), id: 'node-' + n.id,
                        'data-id': n.id }, svg);
    el('rect', { x: p.x - W / 2, y: p.y - H / 2, width: W, height: H, rx: 8 }, g);
    const t = el('text', { class: 'title', x: p.x - W / 2 + 10, y: p.y - H / 2 + 19 }, g);
    t.textContent = clip(p.title, 22);
    el('title', {}, g).textContent = p.title;
    const v = el('text', { class: 'val', x: p.x - W / 2 + 10, y: p.y - H / 2 + 37 }, g);
    const gr = el('text', { class: 'grad', x: p.x - W / 2 + 10, y: p.y - H / 2 + 54 }, g);
    nodeEls[n.id] = { g: g, val: v, grad: gr };
  });

  // --- stepping -----------------------------------------------------------------------------
  let cur = 0;
  const last = T.steps.length - 1;
  function state(upto) {
    const values = {}, grads = {};
    for (let i = 0; i <= upto; i++) {
      const s = T.steps[i];
      if (s.phase === 'forward') values[s.node] = s.value;
      else grads[s.target] = (s.grad === null || s.grad === undefined) ? 'received' : s.grad;
    }
    return { values, grads };
  }
  function row(name, value) {
    return '<tr><td>' + name + '</td><td>' + value + '</td></tr>';
  }
  function esc(s) {
    return String(s).replace(/[&<>"]/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;',
      '"': '&quot;' })[c]);
  }
  function render() {
    const s = T.steps[cur];
    const st = state(cur);
    T.nodes.forEach(n => {
      const e = nodeEls[n.id];
      const hasV = n.id in st.values, hasG = n.id in st.grads;
      const value = hasV ? (st.values[n.id] === null ? 'not kept' : fmt(st.values[n.id])) : '?';
      e.val.textContent = clip('value ' + value, 25);
      e.val.setAttribute('class', 'val' + (hasV ? '' : ' unknown'));
      e.grad.textContent = clip('grad ' + (hasG ? fmt(st.grads[n.id]) : '?'), 25);
      e.grad.setAttribute('class', 'grad' + (hasG ? '' : ' unknown'));
      e.grad.setAttribute('data-grad', hasG ? JSON.stringify(st.grads[n.id]) : '');
      const cls = ['node'];
      if (!hasParent[n.id]) cls.push('leaf');
      if (n.id === s.node) cls.push('current');
      else if (s.phase === 'backward' && n.id === s.target) cls.push('target');
      e.g.setAttribute('class', cls.join(' '));
    });
    edgeEls.forEach((p, i) => {
      const e = T.edges[i];
      const active = s.phase === 'backward' && e[1] === s.node && e[0] === s.target;
      p.setAttribute('class', 'edge' + (active ? ' active' : ''));
    });
    const phase = document.getElementById('phase');
    phase.textContent = s.phase === 'forward' ? 'Forward pass' : 'Backward pass';
    phase.className = s.phase;
    document.getElementById('step-text').textContent = s.text;
    document.getElementById('step-counter').textContent =
      'Step ' + (cur + 1) + ' of ' + T.steps.length;
    let rows = '';
    const n = byId[s.node];
    rows += row('node', esc(n.label) + (n.op ? ' (' + esc(n.op) + ')' : ''));
    if (s.phase === 'forward') {
      rows += row('value', s.value === null ? 'not kept by the graph' : esc(fmt(s.value)));
    } else if (s.target !== s.node) {
      const t = byId[s.target];
      rows += row('sends gradient to', esc(t.label));
      const rootLabel = esc(T.nodes[T.nodes.length - 1].label);
      rows += row('upstream gradient ∂' + rootLabel + '/∂' + esc(n.label), s.upstream === null ?
        'not kept (call retain_grad() on ' + esc(n.label) + ' to see it)' : esc(fmt(s.upstream)));
      rows += row('local derivative ∂' + esc(n.label) + '/∂' + esc(t.label), esc(fmt(s.local)));
      if (s.product !== null && s.product !== undefined)
        rows += row('product (upstream × local)', esc(fmt(s.product)));
      if (s.grad_before !== null && s.grad_before !== undefined)
        rows += row(esc(t.label) + '.grad before → after',
                    esc(fmt(s.grad_before)) + ' → ' + esc(fmt(s.grad)));
      else if (s.grad !== null && s.grad !== undefined)
        rows += row(esc(t.label) + '.grad', esc(fmt(s.grad)));
    } else {
      rows += row('gradient', esc(fmt(s.grad)));
    }
    document.getElementById('details').innerHTML = rows;
    const acc = document.getElementById('accumulate');
    if (s.accumulate) {
      const t = byId[s.target];
      acc.textContent = '+= : ' + t.label + ' is used twice; this adds the second path\u2019s ' +
        'contribution to the first' + (s.product !== null && s.grad_before !== null ?
        ' (' + fmt(s.grad_before) + ' + ' + fmt(s.product) + ' = ' + fmt(s.grad) + ').' : '.');
      acc.hidden = false;
    } else {
      acc.hidden = true;
    }
    document.getElementById('btn-prev').disabled = cur === 0;
    document.getElementById('btn-next').disabled = cur === last;
    const cn = nodeEls[s.node].g;
    if (cn.scrollIntoView) cn.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  }
  function go(d) { cur = Math.max(0, Math.min(last, cur + d)); render(); }
  document.getElementById('btn-next').addEventListener('click', () => go(1));
  document.getElementById('btn-prev').addEventListener('click', () => go(-1));
  document.addEventListener('keydown', ev => {
    if (ev.key === 'ArrowRight') { go(1); ev.preventDefault(); }
    else if (ev.key === 'ArrowLeft') { go(-1); ev.preventDefault(); }
    else if (ev.key === 'Home') { cur = 0; render(); }
    else if (ev.key === 'End') { cur = last; render(); }
  });
  render();
})();
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>__CSS__</style>
</head>
<body>
<header>
  <h1>__TITLE__</h1>
  <button id="btn-prev" type="button">&larr; Previous</button>
  <button id="btn-next" type="button">Next &rarr;</button>
  <span id="step-counter"></span>
  <span class="hint">arrow keys step too</span>
</header>
<main>
  <div id="graph"></div>
  <aside id="panel">
    <span id="phase"></span>
    <p id="step-text"></p>
    <table class="details"><tbody id="details"></tbody></table>
    <div id="accumulate" hidden></div>
    <div class="legend">
      <span style="background:#fff7ed;border:2px solid #ea580c"></span>current node &nbsp;
      <span style="background:#eff6ff;border:2px solid #2563eb"></span>receives the gradient
      <br>Forward fills in values left to right; backward fills in grads right to left.
    </div>
  </aside>
</main>
<script type="application/json" id="chainrule-trace">__TRACE__</script>
<script type="application/json" id="chainrule-layout">__LAYOUT__</script>
<script>__JS__</script>
</body>
</html>
"""


def _embed(obj: Any) -> str:
    # '<' escaped as \\u003c: valid JSON, and '</script>' can never end the block early.
    return json.dumps(obj, ensure_ascii=False).replace("<", "\\u003c")


def render_page(trace: dict[str, Any], layout: dict[str, Any], title: str) -> str:
    """The whole page as one string."""
    js = _JS.replace("__BOX_W__", str(BOX_W)).replace("__BOX_H__", str(BOX_H))
    parts = {
        "__CSS__": _CSS,
        "__JS__": js,
        "__TRACE__": _embed(trace),
        "__LAYOUT__": _embed(layout),
        "__TITLE__": html.escape(title),
    }
    # One pass, so a placeholder-like string inside a label is never substituted again.
    return re.sub("|".join(parts), lambda m: parts[m.group(0)], _TEMPLATE)
