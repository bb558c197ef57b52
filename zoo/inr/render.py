"""Rendering a stored INR back to an image, next to the image it was fitted to."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from store import Catalog, InvalidInputError
from zoo.inr.fit import psnr, render
from zoo.models.siren import SirenConfig

__all__ = ["reconstruct", "render_to_png"]


def reconstruct(catalog: Catalog, population: str | int, index: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """``(reconstruction, original)`` of row ``index``: ``[H, W]`` (or ``[H, W, C]``) in [0, 1]."""
    record = catalog.get_population(population)
    if record.status != "complete":
        raise InvalidInputError(f"population {record.name!r} is partial: finish it with "
                                "`zoo inr fit` first")
    if "imported_from" in record.fit_config:
        raise InvalidInputError(f"population {record.name!r} was imported from "
                                f"{record.fit_config['imported_from']}: the catalog has no images "
                                "to compare its INRs with")
    if not 0 <= index < record.n_inrs:
        raise InvalidInputError(f"--index {index} is outside 0..{record.n_inrs - 1}")
    siren = SirenConfig(**record.arch)
    params = torch.from_numpy(np.asarray(catalog.arrays.open(record.array_key)[index:index + 1]))
    sample_id = int(catalog.population_sample_ids(record.id)[index])
    images, _, _ = catalog.dataset_arrays(record.dataset_id)
    original = images[sample_id].astype(np.float32) / (255.0 if images.dtype == np.uint8 else 1.0)
    h, w = original.shape[:2]
    out = render(params, siren, h, w)[0].clamp(0, 1).numpy()
    return out, original


def render_to_png(catalog: Catalog, population: str | int, index: int, path: Path) -> float:
    """Save original | reconstruction side by side as a PNG; return the PSNR (dB)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out, original = reconstruct(catalog, population, index)
    mse = torch.tensor(max(float(np.mean((out - original) ** 2)), 1e-12))
    db = float(psnr(mse))
    fig, axes = plt.subplots(1, 2, figsize=(4, 2.2))
    for ax, img, title in zip(axes, (original, out), ("image", f"INR ({db:.1f} dB)"),
                              strict=True):
        ax.imshow(img, cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return db
