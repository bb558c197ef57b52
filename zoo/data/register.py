"""Registering datasets in the catalog: bundled ones, and imports of standard file formats.

Sample ids are the row numbers of the stored arrays: for imported datasets the
standard training set comes first, then the standard test set. Splits are
deterministic for a seed and stratified by class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from store import Catalog, DatasetRecord, InvalidInputError
from zoo.data.bundled import load_bundled
from zoo.data.formats import DataFormatError, read_cifar10_dir, read_mnist_dir
from zoo.data.splits import stratified_split

__all__ = ["FORMATS", "add_bundled_dataset", "import_dataset"]

#: Importable formats and what they read.
FORMATS = {"mnist": "IDX files of MNIST/FashionMNIST", "cifar10": "CIFAR-10 python batches"}
VAL_FRACTION = 1 / 12  # of the standard training set: 5,000 of MNIST's 60,000


def add_bundled_dataset(catalog: Catalog, name: str, seed: int = 0) -> DatasetRecord:
    """Register a bundled dataset (``mnist-5k``, ``digits``) with a 70/10/20 stratified split.

    The packaged arrays are sorted by class; they are stored in a fixed shuffled
    order (permutation seed 0, whatever ``seed``), so sample ids — and any "first N"
    selection — mix the classes. ``seed`` seeds only the split.
    """
    data = load_bundled(name)
    order = np.random.default_rng(0).permutation(len(data.labels))
    images, labels = data.images[order], data.labels[order]
    splits = stratified_split(labels, seed=seed)
    return catalog.add_dataset(name, source=f"{data.source}, shuffled with seed 0",
                               images=images, labels=labels, splits=splits,
                               num_classes=data.num_classes)


def import_dataset(catalog: Catalog, fmt: str, directory: str | Path, name: str,
                   seed: int = 0) -> DatasetRecord:
    """Import a dataset from local files in a standard format.

    Args:
        fmt: ``mnist`` (IDX files, gzip'd or not; also FashionMNIST) or ``cifar10``
            (the python batches).
        directory: folder holding the files.
        name: catalog name of the new dataset.
        seed: seed of the stratified train/val split of the standard training set.

    The standard test set stays ``test``; ``VAL_FRACTION`` of the training set,
    stratified by class, becomes ``val``.
    """
    path = Path(directory)
    if not path.is_dir():
        raise InvalidInputError(f"no such directory: {path}")
    try:
        if fmt == "mnist":
            parts = read_mnist_dir(path)
        elif fmt == "cifar10":
            parts = read_cifar10_dir(path)
        else:
            raise InvalidInputError(f"unknown format {fmt!r}: use {' or '.join(FORMATS)}")
    except (DataFormatError, FileNotFoundError) as exc:
        raise InvalidInputError(str(exc)) from exc
    images, labels, splits = [], [], []
    for split in ("train", "test"):
        if split not in parts:
            continue
        x, y = parts[split]
        images.append(x)
        labels.append(np.asarray(y, dtype=np.int64))
        if split == "train":
            val = max(1, round(len(y) * VAL_FRACTION)) if len(y) > 1 else 0
            splits.append(stratified_split(y, seed=seed, counts=(len(y) - val, val, 0)))
        else:
            splits.append(np.full(len(y), "test"))
    if len({x.shape[1:] for x in images}) != 1:
        raise InvalidInputError(f"{path}: train and test images differ in shape")
    all_labels = np.concatenate(labels)
    return catalog.add_dataset(name, source=f"{fmt} files in {path.resolve()}",
                               images=np.concatenate(images), labels=all_labels,
                               splits=np.concatenate(splits),
                               num_classes=int(all_labels.max()) + 1)
