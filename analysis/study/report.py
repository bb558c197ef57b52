"""A study's report from the catalog alone: ``report.md`` (figures beside it as PNGs) and a
self-contained ``report.html`` (figures embedded as base64 PNG, no external resources).

Every table is the result of the SQL printed under it (:mod:`analysis.study.queries`), so
each number can be recomputed with ``zoo sql``.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.study import figures
from analysis.study.queries import run_query
from store import Catalog

__all__ = ["render_report"]

Block = tuple[Any, ...]
_PAPER = ("Yeom & Lee (2025), *On the Internal Representations of Graph Metanetworks*")
_CLAIMS = {
    1: "GMNs from different seeds are much less similar (CKA) than MLPs/CNNs from "
       "different seeds",
    2: "CKA between GMNs and MLPs/CNNs is considerably lower than between MLPs and CNNs",
    3: "at similar accuracy GMNs predict differently; some samples only the GMN gets right",
    4: "GMN + baseline ensembles gain more over their members than baseline seed ensembles",
}


def _fmt(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _layer_order(catalog: Catalog, model_ids: tuple[int, ...], probe_id: int
                 ) -> dict[str, list[str]]:
    order: dict[str, list[str]] = {}
    for m in catalog.list_models(ids=list(model_ids)):
        if m.kind not in order:
            order[m.kind] = [a.layer for a in catalog.list_activations(m.id, probe=probe_id)
                             if a.layer != "predictions"]
    return order


def _blocks(catalog: Catalog, study: str) -> list[Block]:
    url = catalog.engine.url.render_as_string(hide_password=False)
    record = catalog.get_study(study)
    q = {name: run_query(url, name, study) for name in
         ("findings", "setup", "models", "cka_kinds", "cka_layers", "cka_matrix",
          "agreement", "ensembles")}
    models = q["models"][1]
    labels = {int(r.id): f"{r.kind} s{r.seed}" for r in models.itertuples()}
    order = _layer_order(catalog, record.model_ids, record.probe_set_id)
    findings = q["findings"][1]
    claims = findings.assign(claim=[_CLAIMS.get(int(f), "") for f in findings["finding"]])
    out: list[Block] = [
        ("h", 1, f"Reproducing {_PAPER.replace('*', '')}: study `{study}`"),
        ("p", f"Generated {dt.datetime.now().strftime('%Y-%m-%d %H:%M')} from the catalog "
              f"{catalog.url} by `zoo report`; every table is the result of the SQL under it "
              f"(run it with `zoo sql \"...\"`). Profile: `{record.profile}`."),
        ("h", 2, "Findings"),
        ("table", claims[["finding", "name", "claim", "value_a", "value_b", "difference",
                          "ci_low", "ci_high", "verdict"]]),
        ("img", "findings", figures.findings_png(findings),
         "difference of each finding with its bootstrap interval"),
        ("list", [f"**{int(r.finding)}. {r.name}: {r.verdict}.** a = {r.label_a}, "
                  f"b = {r.label_b}. {r.reason}." for r in findings.itertuples()]),
        ("sql", q["findings"][0]),
        ("h", 2, "Setup"),
        ("table", q["setup"][1]), ("sql", q["setup"][0]),
        ("table", models), ("sql", q["models"][0]),
        ("h", 2, "Representations: linear CKA"),
        ("p", "Linear CKA (biased HSIC) on the probe set, penultimate layers unless stated, "
              "cached in the `similarities` table; aggregated over model pairs with DuckDB."),
        ("table", q["cka_kinds"][1]), ("sql", q["cka_kinds"][0]),
        ("img", "seed_heatmaps", figures.seed_heatmaps_png(q["cka_layers"][1], order),
         "per-kind seed-vs-seed CKA between every two layers"),
        ("img", "layer_curves", figures.layer_curves_png(q["cka_layers"][1], order),
         "per-layer CKA between seeds against relative depth"),
        ("sql", q["cka_layers"][0]),
        ("img", "cka_matrix", figures.cka_matrix_png(q["cka_matrix"][1], labels),
         "penultimate-layer CKA between every two models"),
        ("sql", q["cka_matrix"][0]),
        ("h", 2, "Predictions: agreement, kappa and who is right where"),
        ("table", q["agreement"][1]),
        ("img", "overlap", figures.overlap_png(q["agreement"][1]),
         "fractions of probe samples both, one or neither model classify correctly"),
        ("sql", q["agreement"][0]),
        ("h", 2, "Ensembles (averaged logits)"),
        ("table", q["ensembles"][1]), ("sql", q["ensembles"][0]),
        ("h", 2, "How the verdicts are reached"),
        ("p", "Each finding compares two means over model pairs (a, b above). Its interval "
              "is a percentile bootstrap: replicates resample the model pairs of each group "
              "and, for kappa, accuracies and ensemble gains, the probe samples too. "
              "`reproduced`: the interval lies above zero in the paper's direction; "
              "`not reproduced`: below; `inconclusive`: it crosses zero, a group has no "
              "pairs, or a kind's probe accuracy is below chance plus the profile's margin "
              "(the reason states the accuracies and the threshold)."),
    ]
    return out


def _md_table(frame: pd.DataFrame) -> str:
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)


def _markdown(blocks: list[Block], figure_dir: str) -> str:
    parts = []
    for b in blocks:
        if b[0] == "h":
            parts.append("#" * b[1] + " " + b[2])
        elif b[0] == "p":
            parts.append(b[1])
        elif b[0] == "list":
            parts.append("\n".join(f"- {item}" for item in b[1]))
        elif b[0] == "table":
            parts.append(_md_table(b[1]))
        elif b[0] == "sql":
            parts.append("```sql\n" + b[1].strip() + "\n```")
        elif b[0] == "img":
            parts.append(f"![{b[3]}]({figure_dir}/{b[1]}.png)")
    return "\n\n".join(parts) + "\n"


def _inline(text: str) -> str:
    """Escape, then render **bold** and `code` spans."""
    out, code = [], False
    for ch in html.escape(text):
        if ch == "`":
            out.append("</code>" if code else "<code>")
            code = not code
        else:
            out.append(ch)
    text = "".join(out)
    pieces = text.split("**")
    for i in range(1, len(pieces), 2):
        pieces[i] = f"<strong>{pieces[i]}</strong>"
    return "".join(pieces)


_CSS = """body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;
color:#222;line-height:1.45}table{border-collapse:collapse;margin:.8rem 0;font-size:.85rem}
td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}th{background:#f2f2f2}
td:first-child,th:first-child{text-align:left}pre{background:#f6f6f6;padding:.6rem;
overflow-x:auto;font-size:.78rem}details{margin:.4rem 0 1.2rem}img{max-width:100%;
display:block;margin:.8rem 0}code{background:#f2f2f2;padding:0 .2rem}"""


def _html(blocks: list[Block], title: str) -> str:
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"]
    for b in blocks:
        if b[0] == "h":
            parts.append(f"<h{b[1]}>{_inline(b[2])}</h{b[1]}>")
        elif b[0] == "p":
            parts.append(f"<p>{_inline(b[1])}</p>")
        elif b[0] == "list":
            parts.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b[1]) + "</ul>")
        elif b[0] == "table":
            frame: pd.DataFrame = b[1]
            head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
            rows = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in r)
                           + "</tr>" for r in frame.itertuples(index=False))
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif b[0] == "sql":
            parts.append("<details><summary>SQL (run with <code>zoo sql</code>)</summary>"
                         f"<pre>{html.escape(b[1].strip())}</pre></details>")
        elif b[0] == "img":
            data = base64.b64encode(b[2]).decode()
            parts.append(f'<img src="data:image/png;base64,{data}" alt="{html.escape(b[3])}">')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def render_report(catalog: Catalog, study: str, out_dir: Path) -> tuple[Path, Path]:
    """Write ``report.md`` (+ ``figures/*.png``) and ``report.html`` for ``study``."""
    blocks = _blocks(catalog, study)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "figures").mkdir(exist_ok=True)
    for b in blocks:
        if b[0] == "img":
            (out_dir / "figures" / f"{b[1]}.png").write_bytes(b[2])
    md, page = out_dir / "report.md", out_dir / "report.html"
    md.write_text(_markdown(blocks, "figures"))
    page.write_text(_html(blocks, f"zoo reproduce: {study}"))
    return md, page
