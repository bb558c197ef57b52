"""Heatmap and layer-curve figures: files written, labels, annotations, validation."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from matplotlib.colors import to_rgba

from analysis.plots import (
    layer_curves_figure,
    plot_layer_curves,
    plot_similarity_heatmap,
    similarity_heatmap_figure,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_heatmap_writes_png_with_labels_and_annotations(tmp_path: Path) -> None:
    m = np.array([[1.0, 0.25, 0.5], [0.25, 1.0, np.nan]])
    out = plot_similarity_heatmap(m, ["a", "b"], ["x", "y", "z"], "CKA", tmp_path / "sub" / "h.png",
                                  xlabel="model B", ylabel="model A")
    assert out == tmp_path / "sub" / "h.png"
    assert out.read_bytes()[:8] == PNG_MAGIC
    height, width = matplotlib.image.imread(out).shape[:2]
    assert height > 100 and width > 100

    fig = similarity_heatmap_figure(m, ["a", "b"], ["x", "y", "z"], "CKA", xlabel="model B")
    ax, cbar_ax = fig.axes
    assert ax.get_title() == "CKA"
    assert ax.get_xlabel() == "model B"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y", "z"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert cbar_ax.get_ylabel() == "similarity"
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == sorted(["1.00", "0.25", "0.50", "0.25", "1.00"])  # NaN cell left blank


def test_heatmap_annotation_switches_off_for_large_matrices() -> None:
    big = np.random.default_rng(0).uniform(size=(20, 20))
    labels = [f"l{i}" for i in range(20)]
    assert len(similarity_heatmap_figure(big, labels, labels, "t").axes[0].texts) == 0
    forced = similarity_heatmap_figure(big, labels, labels, "t", annotate=True)
    assert len(forced.axes[0].texts) == 400


def test_heatmap_colour_follows_value() -> None:
    fig = similarity_heatmap_figure(np.array([[0.0, 1.0]]), ["r"], ["lo", "hi"], "t")
    image = fig.axes[0].images[0]
    lo, hi = image.to_rgba(np.array([0.0, 1.0]))
    assert not np.allclose(lo, hi)
    low_text, high_text = fig.axes[0].texts
    assert to_rgba(low_text.get_color()) != to_rgba(high_text.get_color())


def test_heatmap_validation(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="2 row labels and 2 column labels"):
        plot_similarity_heatmap(np.eye(3), ["a", "b"], ["a", "b"], "t", tmp_path / "x.png")
    with pytest.raises(ValueError, match="2-D"):
        plot_similarity_heatmap(np.ones(3), ["a"], ["a"], "t", tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_layer_curves(tmp_path: Path) -> None:
    curves = {"mlp vs siren": [0.9, 0.7, 0.4], "mlp vs mlp": [1.0, 0.95, np.nan]}
    out = plot_layer_curves(curves, ["fc1", "fc2", "fc3"], "per-layer CKA", tmp_path / "c.png")
    assert out.read_bytes()[:8] == PNG_MAGIC

    fig = layer_curves_figure(curves, ["fc1", "fc2", "fc3"], "per-layer CKA")
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.get_lines()] == list(curves)
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), curves["mlp vs siren"])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["fc1", "fc2", "fc3"]
    assert ax.get_ylabel() == "CKA"
    legend = ax.get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == list(curves)


def test_layer_curves_validation(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'b' has 2 values but there are 3 layer names"):
        plot_layer_curves({"a": [1, 2, 3], "b": [1, 2]}, ["x", "y", "z"], "t", tmp_path / "c.png")
    with pytest.raises(ValueError, match="at least one"):
        plot_layer_curves({}, ["x"], "t", tmp_path / "c.png")
