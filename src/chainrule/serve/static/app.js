// The practice page. Everything the server returns is shown with textContent (never
// innerHTML): a learner's message, traceback or print can contain "<img onerror=...>" and must
// appear as those characters. The graph's SVG goes into an <img>, where SVG runs no script.
"use strict";

const $ = (id) => document.getElementById(id);
const STORE = "chainrule-serve-solution";
const LABELS = {
  pass: "PASS", fail: "FAIL", skip: "SKIP", timeout: "TIMEOUT", crash: "CRASH",
  not_run: "NOT RUN",
};
let graphUrl = null;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = String(text);
  return node;
}

// Failing required checks first, then failing optional ones, then the passes, then the
// optional checks that were skipped or not run (not implemented yet is not a failure).
function rank(check) {
  if (check.status === "pass") return 2;
  if (check.required) return 0;
  return check.status === "skip" || check.status === "not_run" ? 3 : 1;
}

function showReport(report) {
  $("result").hidden = false;
  const s = report.summary || {};
  const summary = $("summary");
  summary.className = report.passed ? "ok" : "bad";
  summary.textContent = report.passed
    ? `Every required check passes (${s.required_passed} of ${s.required}); optional: ` +
      `${s.optional_passed} of ${s.optional}.`
    : `${s.required_passed} of ${s.required} required checks pass. The failing ones come first.`;

  const list = $("checks");
  list.replaceChildren();
  const checks = (report.checks || []).map((c, i) => [rank(c), i, c]);
  checks.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (const [, , c] of checks) {
    const item = el("li", `check ${c.status}`);
    item.dataset.name = c.name;
    item.dataset.status = c.status;
    const head = el("div", "head");
    head.append(el("span", "label", LABELS[c.status] || String(c.status).toUpperCase()));
    head.append(el("span", "name", c.name));
    if (!c.required) head.append(el("span", "optional", "optional"));
    item.append(head);
    item.append(el("div", "message", c.message));
    if (c.details && c.status !== "pass") item.append(el("pre", "details", c.details));
    list.append(item);
  }

  const out = report.output || {};
  $("output").hidden = !out.bytes;
  const cut = out.truncated ? `\n... (cut: ${out.bytes} bytes in all)` : "";
  $("output-text").textContent = (out.text || "") + cut;

  const layers = (report.sandbox && report.sandbox.layers) || {};
  $("sandbox").textContent = "sandbox: " +
    Object.entries(layers).map(([k, v]) => `${k} ${v}`).join("; ");
  showGraph(report);
}

function showGraph(report) {
  if (graphUrl) URL.revokeObjectURL(graphUrl);
  graphUrl = null;
  const img = $("graph-img");
  const text = $("graph-text");
  img.hidden = text.hidden = true;
  $("graph").hidden = !(report.graph_svg || report.graph_text);
  if ($("graph").hidden) return;
  $("graph-caption").textContent = (report.graph && report.graph.example) || "";
  if (report.graph_svg) {
    graphUrl = URL.createObjectURL(new Blob([report.graph_svg], { type: "image/svg+xml" }));
    img.src = graphUrl;
    img.alt = report.graph_text || "the graph";
    img.hidden = false;
  } else {
    text.textContent = report.graph_text;
    text.hidden = false;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function check() {
  const button = $("check");
  const status = $("status");
  button.disabled = true;
  status.textContent = "Grading...";
  try {
    for (let attempt = 0; attempt < 30; attempt++) {
      let response;
      try {
        response = await fetch("/api/check", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ code: $("code").value }),
        });
      } catch (err) {
        status.textContent = "The server did not answer; is chainrule serve still running?";
        return;
      }
      if (response.status === 503) {
        const wait = Math.min(30, parseInt(response.headers.get("Retry-After") || "1", 10) || 1);
        status.textContent = `Every grader is busy; trying again in ${wait} s...`;
        await sleep(wait * 1000);
        continue;
      }
      let data = null;
      try {
        data = await response.json();
      } catch (err) {
        data = null;
      }
      if (!response.ok || !data) {
        status.textContent = (data && data.error) || `The server answered ${response.status}.`;
        return;
      }
      status.textContent = "";
      showReport(data);
      return;
    }
    status.textContent = "Every grader stayed busy; press Check again later.";
  } finally {
    button.disabled = false;
  }
}

function setup() {
  const editor = $("code");
  const saved = window.localStorage ? localStorage.getItem(STORE) : null;
  if (saved) editor.value = saved;
  editor.addEventListener("input", () => {
    if (window.localStorage) localStorage.setItem(STORE, editor.value);
  });
  editor.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      check();
    } else if (event.key === "Tab" && !event.shiftKey) {
      // Tab indents (four spaces, as Python wants) instead of leaving the editor.
      event.preventDefault();
      editor.setRangeText("    ", editor.selectionStart, editor.selectionEnd, "end");
      editor.dispatchEvent(new Event("input"));
    }
  });
  $("check").addEventListener("click", check);
  $("reset").addEventListener("click", () => {
    editor.value = editor.defaultValue;
    editor.dispatchEvent(new Event("input"));
  });
}

document.addEventListener("DOMContentLoaded", setup);
