"""Image datasets: the bundled ones, the standard file formats, and the splits.

=====================  =========================================================
module                 what it holds
=====================  =========================================================
:mod:`.bundled`        datasets that ship with installed packages (``mnist-5k``)
:mod:`.formats`        readers for IDX (MNIST), CIFAR-10 batches and image folders
:mod:`.register`       registering them in the catalog (bundled ones, file imports)
:mod:`.splits`         deterministic, class-stratified train/val/test splits
=====================  =========================================================

The package imports none of its modules (import from each).
"""

__all__ = ["bundled", "formats", "register", "splits"]
