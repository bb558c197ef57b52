"""The report's figures as PNG bytes (Agg canvas, no pyplot): labelled axes, colour bars.

Inputs are the DataFrames of :mod:`analysis.study.queries`.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analysis.plots import similarity_heatmap_figure

__all__ = ["cka_matrix_png", "findings_png", "layer_curves_png", "overlap_png",
           "seed_heatmaps_png"]

_DPI = 110


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    return buf.getvalue()


def _layer_matrix(rows: pd.DataFrame, order: Sequence[str]) -> np.ndarray:
    idx = {name: i for i, name in enumerate(order)}
    m = np.full((len(order), len(order)), np.nan)
    for r in rows.itertuples():
        if r.layer_a in idx and r.layer_b in idx:
            m[idx[r.layer_a], idx[r.layer_b]] = r.mean_cka
    return m


def seed_heatmaps_png(layers: pd.DataFrame, order: dict[str, list[str]]) -> bytes:
    """Per kind, mean CKA ``[L, L]`` between the layers of two seeds (rows: the seed with
    the lower model id), one panel per kind. ``order``: kind -> layers in depth order."""
    kinds = [k for k in order if k in set(layers["kind"])]
    fig = Figure(figsize=(4.6 * max(1, len(kinds)), 4.4), layout="constrained")
    FigureCanvasAgg(fig)
    for i, kind in enumerate(kinds):
        ax = fig.add_subplot(1, len(kinds), i + 1)
        m = _layer_matrix(layers[layers["kind"] == kind], order[kind])
        image = ax.imshow(np.ma.masked_invalid(m), cmap="magma", vmin=0, vmax=1,
                          interpolation="nearest")
        ticks = range(len(order[kind]))
        ax.set_xticks(ticks, labels=order[kind], rotation=45, ha="right",
                      rotation_mode="anchor", fontsize=7)
        ax.set_yticks(ticks, labels=order[kind], fontsize=7)
        ax.set_xlabel("layer of seed B")
        ax.set_ylabel("layer of seed A")
        n = int(layers[layers["kind"] == kind]["n_pairs"].max())
        ax.set_title(f"{kind}: seed vs seed ({n} pairs)")
        fig.colorbar(image, ax=ax, label="mean linear CKA", shrink=0.8)
    return _png(fig)


def cka_matrix_png(matrix: pd.DataFrame, labels: dict[int, str]) -> bytes:
    """Penultimate-layer CKA between every two models of the study (all kinds)."""
    ids = sorted(labels, key=lambda m: (labels[m], m))
    pos = {m: i for i, m in enumerate(ids)}
    m = np.eye(len(ids))
    for r in matrix.itertuples():
        if r.model_a_id in pos and r.model_b_id in pos:
            m[pos[r.model_a_id], pos[r.model_b_id]] = m[pos[r.model_b_id], pos[r.model_a_id]] \
                = r.value
    names = [labels[i] for i in ids]
    fig = similarity_heatmap_figure(m, names, names, "linear CKA of penultimate layers",
                                    xlabel="model", ylabel="model")
    return _png(fig)


def layer_curves_png(layers: pd.DataFrame, order: dict[str, list[str]]) -> bytes:
    """Per kind: CKA of each layer with the same layer of another seed, against depth
    (mean over seed pairs, bars: standard deviation)."""
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for kind, names in order.items():
        rows = layers[(layers["kind"] == kind) & (layers["layer_a"] == layers["layer_b"])]
        by_layer = {r.layer_a: (r.mean_cka, r.std) for r in rows.itertuples()}
        xs = [i / max(1, len(names) - 1) for i, n in enumerate(names) if n in by_layer]
        if not xs:
            continue
        ys = [by_layer[n][0] for n in names if n in by_layer]
        es = [0.0 if pd.isna(by_layer[n][1]) else by_layer[n][1] for n in names
              if n in by_layer]
        ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=kind)
    ax.set_xlabel("relative depth (0 = first recorded layer, 1 = logits)")
    ax.set_ylabel("linear CKA, same layer of two seeds")
    ax.set_ylim(0, 1.05)
    ax.set_title("per-layer similarity between seeds")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    return _png(fig)


def overlap_png(agreement: pd.DataFrame) -> bytes:
    """Per kind pair: fractions of probe samples both / only one / neither model get right."""
    fig = Figure(figsize=(7.0, 0.5 * len(agreement) + 1.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    labels = [f"{r.kind_1} vs {r.kind_2}" for r in agreement.itertuples()]
    y = np.arange(len(labels))
    left = np.zeros(len(labels))
    parts = [("both_correct", "both right", "#4c72b0"),
             ("only_1_correct", "only the first right", "#dd8452"),
             ("only_2_correct", "only the second right", "#55a868"),
             ("neither_correct", "neither right", "#c44e52")]
    for column, label, colour in parts:
        values = agreement[column].to_numpy(dtype=float)
        ax.barh(y, values, left=left, color=colour, label=label)
        left += values
    ax.set_yticks(y, labels=labels)
    ax.set_xlabel("fraction of probe samples (mean over model pairs)")
    ax.set_ylabel("kind pair (first vs second)")
    ax.set_xlim(0, 1)
    ax.set_title("prediction overlap")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=4, fontsize=8)
    return _png(fig)


def findings_png(findings: pd.DataFrame) -> bytes:
    """Each finding's difference with its bootstrap interval (right of zero: as claimed)."""
    fig = Figure(figsize=(6.4, 0.6 * len(findings) + 1.4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    y = np.arange(len(findings))[::-1]
    colours = {"reproduced": "#55a868", "not reproduced": "#c44e52", "inconclusive": "#8c8c8c"}
    for yi, r in zip(y, findings.itertuples(), strict=True):
        if pd.isna(r.difference):
            continue
        lo = r.difference - (r.ci_low if not pd.isna(r.ci_low) else r.difference)
        hi = (r.ci_high if not pd.isna(r.ci_high) else r.difference) - r.difference
        ax.errorbar([r.difference], [yi], xerr=[[lo], [hi]], fmt="o", capsize=4,
                    color=colours.get(r.verdict, "black"), label=r.verdict)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y, labels=[f"{r.finding}. {r.name}" for r in findings.itertuples()])
    ax.set_xlabel("difference in the claimed direction (95 % bootstrap interval)")
    ax.set_ylabel("finding")
    ax.set_title("findings: > 0 supports the paper")
    handles, names = ax.get_legend_handles_labels()
    unique = dict(zip(names, handles, strict=True))
    if unique:
        ax.legend(unique.values(), unique.keys(), fontsize=8)
    return _png(fig)
