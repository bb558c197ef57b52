"""Figures for similarity results: CKA heatmaps and per-layer CKA curves.

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas directly, never
through ``pyplot``: no global figure registry, no GUI backend, safe in worker threads and
on headless machines. Each ``plot_*`` function saves a PNG and returns its path; the
``*_figure`` builders return the figure for callers (and tests) that want to inspect it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

__all__ = [
    "layer_curves_figure",
    "penultimate_cka_figure",
    "plot_layer_curves",
    "plot_similarity_heatmap",
    "similarity_heatmap_figure",
]

#: Cells are annotated with their value when the matrix has at most this many per side.
ANNOTATE_MAX_CELLS = 12
_DPI = 120


def similarity_heatmap_figure(matrix: ArrayLike, row_labels: Sequence[str],
                              col_labels: Sequence[str], title: str, *,
                              annotate: bool | None = None, vmin: float = 0.0,
                              vmax: float = 1.0, xlabel: str = "", ylabel: str = "") -> Figure:
    """Build a heatmap figure of a similarity matrix (see :func:`plot_similarity_heatmap`)."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"matrix must be a non-empty 2-D array, got shape {m.shape}")
    if len(row_labels) != m.shape[0] or len(col_labels) != m.shape[1]:
        raise ValueError(
            f"matrix has shape {m.shape} but {len(row_labels)} row labels and "
            f"{len(col_labels)} column labels were given"
        )
    rows, cols = m.shape
    fig = Figure(figsize=(max(4.0, 0.5 * cols + 2.5), max(3.5, 0.45 * rows + 1.8)),
                 layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(m), cmap="magma", vmin=vmin, vmax=vmax,
                      aspect="auto", interpolation="nearest")
    ax.set_xticks(range(cols), labels=list(col_labels), rotation=45, ha="right",
                  rotation_mode="anchor")
    ax.set_yticks(range(rows), labels=list(row_labels))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="similarity")
    if annotate is None:
        annotate = max(rows, cols) <= ANNOTATE_MAX_CELLS
    if annotate:
        middle = (vmin + vmax) / 2
        for (i, j), value in np.ndenumerate(m):
            if math.isfinite(value):
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8,
                        color="black" if value > middle else "white")
    return fig


def plot_similarity_heatmap(matrix: ArrayLike, row_labels: Sequence[str],
                            col_labels: Sequence[str], title: str,
                            path: str | PathLike[str], *, annotate: bool | None = None,
                            vmin: float = 0.0, vmax: float = 1.0, xlabel: str = "",
                            ylabel: str = "") -> Path:
    """Save a labelled heatmap of a similarity matrix (e.g. a CKA matrix) as a PNG.

    NaN cells (pairs not computed) are left blank.

    Args:
        matrix: Array of shape ``(rows, cols)``.
        row_labels: One label per row (y axis).
        col_labels: One label per column (x axis).
        title: Figure title.
        path: Where to write the PNG; missing parent folders are created.
        annotate: Write each value in its cell; ``None`` does so when neither side exceeds
            ``ANNOTATE_MAX_CELLS`` (default: ``None``).
        vmin: Value at the bottom of the colour scale (default: ``0.0``).
        vmax: Value at the top of the colour scale (default: ``1.0``).
        xlabel: Title of the x axis, e.g. ``"model B layer"`` (default: ``""``).
        ylabel: Title of the y axis (default: ``""``).

    Returns:
        The path written.

    Raises:
        ValueError: If the matrix is not 2-D or the label counts do not match its shape.
    """
    fig = similarity_heatmap_figure(matrix, row_labels, col_labels, title,
                                    annotate=annotate, vmin=vmin, vmax=vmax,
                                    xlabel=xlabel, ylabel=ylabel)
    return _save(fig, path)


def layer_curves_figure(curves: Mapping[str, Sequence[float]], layer_names: Sequence[str],
                        title: str, *, ylabel: str = "CKA") -> Figure:
    """Build a per-layer curve figure (see :func:`plot_layer_curves`)."""
    if not curves:
        raise ValueError("curves must contain at least one series")
    for name, values in curves.items():
        if len(values) != len(layer_names):
            raise ValueError(
                f"curve {name!r} has {len(values)} values but there are "
                f"{len(layer_names)} layer names"
            )
    fig = Figure(figsize=(max(5.0, 0.45 * len(layer_names) + 2.0), 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x = np.arange(len(layer_names))
    for name, values in curves.items():
        ax.plot(x, np.asarray(values, dtype=np.float64), marker="o", markersize=3, label=name)
    ax.set_xticks(x, labels=list(layer_names), rotation=45, ha="right", rotation_mode="anchor")
    ax.set_xlabel("layer")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_layer_curves(curves: Mapping[str, Sequence[float]], layer_names: Sequence[str],
                      title: str, path: str | PathLike[str], *, ylabel: str = "CKA") -> Path:
    """Save per-layer similarity curves (one line per series) as a PNG.

    Typical use: CKA between corresponding layers of two models, or of each layer with the
    output, one series per model pair. NaN values leave gaps.

    Args:
        curves: Series name -> one value per layer.
        layer_names: Names on the x axis, in order.
        title: Figure title.
        path: Where to write the PNG; missing parent folders are created.
        ylabel: Y-axis label (default: ``"CKA"``).

    Returns:
        The path written.

    Raises:
        ValueError: If ``curves`` is empty or a series' length differs from
            ``len(layer_names)``.
    """
    return _save(layer_curves_figure(curves, layer_names, title, ylabel=ylabel), path)


def _save(fig: Figure, path: str | PathLike[str]) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=_DPI)
    return out


def penultimate_cka_figure(catalog: Any, model_ids: Sequence[int], out_dir: Path
                           ) -> tuple[Path, ...]:
    """The main job's figure: linear CKA of the models' penultimate layers as a heatmap
    labelled with model names, saved as ``out_dir/cka_penultimate.png``."""
    from analysis.queries import cka_matrix

    out_dir.mkdir(parents=True, exist_ok=True)
    frame = cka_matrix(catalog, list(model_ids), "penultimate")
    names = {m.id: str(m.name) for m in catalog.list_models(ids=list(model_ids))}
    labels = [names[int(label.split(":")[0])] for label in frame.index]
    path = out_dir / "cka_penultimate.png"
    plot_similarity_heatmap(frame.to_numpy(), labels, labels,
                            "linear CKA of penultimate layers", path)
    return (path,)
