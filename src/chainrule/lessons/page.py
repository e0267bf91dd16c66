"""The tour's page: one self-contained ``index.html`` with every lesson's claims, measured
numbers and figures (plus the digits training results and, when ``cr.viz`` wrote them,
links to the graph explorer pages). Everything shown is escaped: the page never trusts text
from results as HTML."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from chainrule.lessons._cli import format_value

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #1d1d1f; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 2.2em; border-bottom: 1px solid #ddd; }
.summary { color: #555; margin-top: 0; }
table { border-collapse: collapse; width: 100%; margin: 0.6em 0; }
td, th { border: 1px solid #e2e2e2; padding: 0.35em 0.6em; vertical-align: top; text-align: left; }
th { background: #f6f6f6; }
.ok { color: #1a7f37; font-weight: bold; } .fail { color: #cf222e; font-weight: bold; }
.num { font-family: ui-monospace, monospace; font-size: 0.85em; color: #333; }
.num div { margin: 0.1em 0; white-space: pre-wrap; overflow-wrap: anywhere; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
nav a { margin-right: 0.8em; white-space: nowrap; }
.badge { display: inline-block; padding: 0.1em 0.5em; border-radius: 0.8em; font-size: 0.8em; }
.badge.ok { background: #dafbe1; } .badge.fail { background: #ffebe9; }
"""


def _measured_html(measured: dict[str, Any]) -> str:
    rows = []
    for key, value in measured.items():
        text = format_value(value, text_limit=0)  # error messages in full
        rows.append(f"<div><b>{html.escape(str(key))}</b>: {html.escape(text)}</div>")
    return "".join(rows)


def write_index(
    out_dir: Path,
    results: list[Any],
    summaries: dict[str, str],
    training: list[str],
    seconds: float,
) -> Path:
    """Write ``out_dir/index.html`` linking every lesson's figures; return its path."""
    e = html.escape
    total = sum(len(r.claims) for r in results)
    held = sum(c.holds for r in results for c in r.claims)
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>chainrule tour</title><style>{_STYLE}</style></head><body>",
        "<h1>chainrule tour</h1>",
        f"<p class='summary'>The lesson's experiments, run with chainrule: {held} of {total} "
        f"claims hold, measured on this machine in {seconds:.0f} s. Each figure and number "
        "below was computed by this run.</p>",
        "<nav>"
        + "".join(
            f"<a href='#{e(r.lesson)}'>{e(r.lesson)}{'' if r.ok else ' ✗'}</a>" for r in results
        )
        + "</nav>",
    ]
    if training:
        parts.append("<h2 id='training'>Training and transforms</h2><ul>")
        parts += [f"<li>{e(line)}</li>" for line in training]
        parts.append("</ul>")
    for r in results:
        status = "ok" if r.ok else "fail"
        label = "all claims hold" if r.ok else "a claim does not hold"
        parts.append(
            f"<h2 id='{e(r.lesson)}'>{e(r.lesson)} "
            f"<span class='badge {status}'>{label}</span></h2>"
            f"<p class='summary'>{e(summaries.get(r.lesson, ''))} "
            f"(<code>chainrule lesson {e(r.lesson)}</code>; "
            f"<a href='{e(r.lesson)}/result.json'>result.json</a>)</p>"
        )
        parts.append("<table><tr><th></th><th>claim</th><th>measured</th></tr>")
        for c in r.claims:
            mark = "<span class='ok'>✓</span>" if c.holds else "<span class='fail'>✗</span>"
            parts.append(
                f"<tr><td>{mark}</td><td>{e(c.claim)}</td>"
                f"<td class='num'>{_measured_html(c.measured)}</td></tr>"
            )
        parts.append("</table>")
        for page in sorted((out_dir / r.lesson).glob("*.html")):  # cr.viz explorer pages
            href = f"{e(r.lesson)}/{e(page.name)}"
            parts.append(
                f"<p>▶ Step through this graph, forward values then backward gradients: "
                f"<a href='{href}'>{e(page.name)}</a></p>"
            )
        for name in r.figures:
            src = f"{e(r.lesson)}/{e(name)}"
            parts.append(f"<a href='{src}'><img src='{src}' alt='{e(r.lesson)}: {e(name)}'></a>")
    parts.append("</body></html>\n")
    path = out_dir / "index.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
