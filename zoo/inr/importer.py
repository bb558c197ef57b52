"""Importing an existing INR zoo (one state dict per INR plus a splits JSON) as a population.

Format ``dwsnet`` (AvivNavon/DWSNets ``experiments/mnist/generate_data_splits.py`` and
``experiments/data.py``; mkofinas/neural-graphs ``experiments/inr_classification``)::

    <root>/mnist_splits.json   {"train": {"path": [...], "label": ["7", ...]}, "val": ...}
    <root>/mnist-inrs/mnist_png_training_<label>_<idx>/checkpoints/model_final.pth

Paths are absolute (the authors' machine) or relative to ``<root>``; a split may be a
bare list of paths whose files hold a ``label`` (Fashion-MNIST). Each file is a SIREN
state dict (``seq.0.weight [32, 2]``, ``seq.0.bias [32]``, ..., ``seq.2.weight [1, 32]``),
stored bit for bit in the flat layout of :mod:`zoo.models.siren`. Their ``w0 = 30``
everywhere and output ``+ 0.5`` are the ``dwsnet`` SIREN variant; ``(x, y)`` inputs are in
``fit_config``.

Every file is loaded (``weights_only=True``) into a temporary on-disk staging array
before anything is registered, so a bad zoo registers nothing; a failure while writing
the population deletes it, and one left by a killed import is replaced on the next run.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import pickle
import re
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from store import Catalog, DuplicateError, InvalidInputError, PopulationRecord
from zoo.checkpoints import PICKLE_SUFFIXES
from zoo.models.siren import SirenConfig, flatten_params

__all__ = ["FORMATS", "ZooEntry", "import_inr_zoo", "load_inr_layers", "read_splits"]

FORMATS = ("dwsnet",)
SPLITS = ("train", "val", "test")
CHUNK_ROWS = 1024
Layers = list[tuple[str, torch.Tensor, torch.Tensor]]


class ZooEntry(NamedTuple):
    """One INR of a zoo: its file, split, label (``None``: read from the file), sample id."""

    path: Path
    split: str
    label: int | None
    sample_id: int | None


def _splits_json(path: Path) -> tuple[Path, Path]:
    """``(zoo root, splits JSON)`` for a zoo directory or a splits JSON file."""
    if path.is_file():
        return path.parent, path
    found = sorted(path.glob("*splits*.json")) if path.is_dir() else []
    if len(found) != 1:
        what = f"several splits JSONs ({', '.join(p.name for p in found)})" if found else \
            "no splits JSON (*splits*.json)" if path.is_dir() else "no such INR zoo"
        raise InvalidInputError(f"{what} at {path}: pass the zoo directory or its splits JSON")
    return path, found[0]


def _resolve(raw: str, root: Path) -> Path:
    """The file ``raw`` names: as given (absolute), under ``root``, or by its trailing parts."""
    p = Path(raw)
    parts = [x for x in p.parts if x not in (p.anchor, "..", ".")]
    tries = [p] * p.is_absolute() + [root.joinpath(*parts[-k:]) for k in range(len(parts), 0, -1)]
    found = next((c for c in tries if c.is_file()), None)
    if found is None:
        raise InvalidInputError(f"INR file {raw} not found (as given, under {root}, or by its "
                                "trailing path components under it)")
    return found


def _int_label(value: Any, where: str) -> int:
    try:
        label = int(value.item() if isinstance(value, torch.Tensor) else value)
        if label < 0:
            raise ValueError(label)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InvalidInputError(f"{where}: {value!r} is not a class index") from exc
    return label


def read_splits(json_path: Path, root: Path) -> list[ZooEntry]:
    """Every INR of the splits JSON, in the order train, val, test (paths resolved)."""
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"{json_path}: not a readable splits JSON ({exc})") from exc
    if not isinstance(data, dict) or not data or set(data) - set(SPLITS):
        raise InvalidInputError(f"{json_path}: expected an object of splits train/val/test")
    entries: list[ZooEntry] = []
    for split in (s for s in SPLITS if s in data):
        part = {"path": data[split]} if isinstance(data[split], list) else data[split]
        paths = part.get("path") if isinstance(part, dict) else None
        labels, ids = (part.get("label"), part.get("sample_id")) if paths else (None, None)
        if not isinstance(paths, list) or any(
                v is not None and (not isinstance(v, list) or len(v) != len(paths))
                for v in (labels, ids)):
            raise InvalidInputError(f"{json_path}: split {split!r} needs a 'path' list (and "
                                    "optionally one 'label' / 'sample_id' per path)")
        where = f"{json_path} ({split})"
        entries += [ZooEntry(_resolve(str(raw), root), split,
                             None if labels is None else _int_label(labels[i], where),
                             None if ids is None else _int_label(ids[i], where))
                    for i, raw in enumerate(paths)]
    if not entries or len({e.path.resolve() for e in entries}) != len(entries):
        raise InvalidInputError(f"{json_path}: the splits list no INRs, or a file twice")
    return entries


def _load_file(path: Path) -> Any:
    """``torch.load(weights_only=True)`` with one-line errors."""
    if path.suffix not in PICKLE_SUFFIXES:
        raise InvalidInputError(f"{path}: unsupported INR file type {path.suffix or '(none)'}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        why = ("refusing to unpickle arbitrary Python objects (loaded with weights_only=True); "
               "re-save it as a state dict of tensors" if "unsupported global" in str(exc).lower()
               else "not a PyTorch checkpoint (unreadable pickle)")
        raise InvalidInputError(f"{path}: {why}") from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InvalidInputError(f"{path}: not a PyTorch checkpoint ({first})") from exc


def _chains(layers: Layers) -> bool:
    return all(a[1].shape[0] == b[1].shape[1] for a, b in itertools.pairwise(layers))


def load_inr_layers(path: Path) -> tuple[Layers, Any]:
    """``([(module, weight [out, in], bias [out]), ...], label entry or None)`` of one INR.

    The ``<module>.weight``/``.bias`` pairs (float32) in module order: the state dict's
    order, or natural key order when only that chains. Other entries are not parameters.
    """
    obj = _load_file(path)
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise InvalidInputError(f"{path}: not a state dict; save model.state_dict()")
    params: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in obj.items():
        module, _, kind = str(key).rpartition(".")
        if kind in ("weight", "bias") and isinstance(value, torch.Tensor):
            params.setdefault(module, {})[kind] = value.detach().to(torch.float32)
    layers: Layers = []
    for module, pair in params.items():
        w, b = pair.get("weight"), pair.get("bias")
        if w is None or b is None or w.dim() != 2 or b.shape != (w.shape[0],):
            shapes = {k: tuple(v.shape) for k, v in pair.items()}
            raise InvalidInputError(f"{path}: {module or 'top'!r} is not a linear layer with "
                                    f"a bias: {shapes}")
        layers.append((module, w, b))
    if not _chains(layers):
        layers.sort(key=lambda layer: [(0, int(t)) if t.isdigit() else (1, t)
                                       for t in re.split(r"(\d+)", layer[0]) if t])
        if not _chains(layers):
            raise InvalidInputError(f"{path}: the layer shapes do not form a chain: "
                                    f"{[(m, tuple(w.shape)) for m, w, _ in layers]}")
    return layers, obj.get("label")


def _stage(entries: list[ZooEntry], w0: float, tmp: Path,
           progress: Callable[[int, int], None] | None
           ) -> tuple[SirenConfig, np.ndarray, np.ndarray]:
    """Load every INR into an on-disk ``[n, P]`` float32 array; return it and ``[n]`` labels."""
    siren, staged, first = None, np.zeros((0, 0), np.float32), entries[0].path
    labels = np.zeros(len(entries), np.int64)
    want: list[Any] = []
    for i, entry in enumerate(entries):
        layers, file_label = load_inr_layers(entry.path)
        shapes = [tuple(t.shape) for _, w, b in layers for t in (w, b)]
        if siren is None:
            dims = [w.shape[1] for _, w, _ in layers] + [layers[-1][1].shape[0]]
            if len(set(dims[1:-1])) != 1:
                raise InvalidInputError(f"{first}: layer sizes {dims}: not a SIREN (>= 2 linear "
                                        "layers, one hidden width)")
            siren, want = SirenConfig(dims[0], dims[1], len(layers), dims[-1], w0, w0,
                                       variant="dwsnet"), shapes
            staged = np.lib.format.open_memmap(tmp / "params.npy", mode="w+", dtype=np.float32,
                                               shape=(len(entries), siren.n_params))
        elif shapes != want:
            raise InvalidInputError(f"{entry.path}: parameter shapes {shapes} differ from those "
                                    f"of the first INR {first} ({want})")
        staged[i] = flatten_params([w for _, w, _ in layers], [b for _, _, b in layers]).numpy()
        label = file_label if entry.label is None else entry.label
        if label is None:
            raise InvalidInputError(f"{entry.path}: no label in the splits JSON or in the file")
        labels[i] = _int_label(label, str(entry.path))
        if progress is not None:
            progress(i + 1, len(entries))
    assert siren is not None
    return siren, staged, labels


def _zoo_dataset(catalog: Catalog, name: str, source: str, splits: np.ndarray,
                 labels: np.ndarray) -> None:
    """Register the zoo's own dataset (images ``[n, 1]`` zeros: it ships none), or reuse it."""
    if not any(d.name == name for d in catalog.list_datasets()):
        catalog.add_dataset(name, source=source, images=np.zeros((len(labels), 1), np.uint8),
                            labels=labels, splits=splits, num_classes=int(labels.max()) + 1)
    elif not all(np.array_equal(a, b) for a, b in zip(
            catalog.dataset_arrays(name)[1:], (labels, splits), strict=True)):
        raise DuplicateError(f"a dataset named {name!r} exists and is not this zoo's: choose "
                             "another --name, or --dataset NAME to attach the INRs to it")


def _sample_ids(catalog: Catalog, dataset: str, entries: list[ZooEntry], labels: np.ndarray,
                root: Path) -> list[int]:
    """Sample ids of ``dataset`` named by the zoo, checked against its labels."""
    if any(e.sample_id is None for e in entries):
        raise InvalidInputError(f"the zoo at {root} names no sample ids ('sample_id' lists in "
                                f"its splits JSON) to match its INRs to samples of {dataset!r}: "
                                "import it without --dataset, as its own dataset")
    ids = np.array([e.sample_id for e in entries], np.int64)
    _, ds_labels, _ = catalog.dataset_arrays(dataset)
    if len(set(ids.tolist())) != len(ids) or ids.max() >= len(ds_labels):
        raise InvalidInputError(f"the zoo's sample ids repeat or exceed dataset {dataset!r} "
                                f"(0..{len(ds_labels) - 1})")
    bad = [e for e, label in zip(entries, labels, strict=True) if ds_labels[e.sample_id] != label]
    if bad:
        raise InvalidInputError(f"{bad[0].path}: its label differs from that of sample "
                                f"{bad[0].sample_id} of {dataset!r}")
    return ids.tolist()


def import_inr_zoo(
    catalog: Catalog,
    root: Path,
    fmt: str = "dwsnet",
    *,
    name: str | None,
    dataset: str | None = None,
    w0: float = 30.0,
    progress: Callable[[int, int], None] | None = None,
) -> PopulationRecord:
    """Import an INR zoo (a directory with a splits JSON, or that JSON) as one population.

    Row ``i`` of the ``[n, P]`` population is the ``i``-th INR in the order train, val,
    test. Without ``dataset``, a new dataset (named ``name``'s first component, default
    e.g. ``mnist-inr-zoo``) holds the zoo's labels and splits, sample id ``i`` = row
    ``i``, images ``[n, 1]`` zeros (the zoo ships none). With ``dataset``, ``sample_id``
    lists in the JSON (published zoos have none) map rows to that dataset's samples.

    Args:
        name: population name (default ``<dataset>/<fmt>-siren-w<W>-d<D>``).
        w0: the INRs' frequency factor (all sine layers).
        progress: called as ``progress(done, total)`` while loading files.
    """
    if fmt not in FORMATS:
        raise InvalidInputError(f"unknown INR zoo format {fmt!r}: use one of {', '.join(FORMATS)}")
    if not (math.isfinite(w0) and w0 > 0):
        raise InvalidInputError(f"--w0 must be a positive number, got {w0}")
    root, json_path = _splits_json(Path(root).expanduser().absolute())
    entries = read_splits(json_path, root)
    ds_name = dataset or (name.split("/")[0] if name else
                          (re.sub(r"[-_]?splits$", "", json_path.stem) or root.name) + "-inr-zoo")
    fit_config = {"imported_from": str(root), "format": fmt, "splits_file": json_path.name,
                  "output_offset": 0.5, "coord_order": "xy"}
    with tempfile.TemporaryDirectory(prefix="zoo-import-") as tmp:
        siren, staged, labels = _stage(entries, w0, Path(tmp), progress)
        pop_name = name or f"{ds_name}/{fmt}-siren-w{siren.hidden_width}-d{siren.depth}"
        old = catalog.find_population(pop_name)
        if old is not None and (old.status == "complete" or old.fit_config != fit_config):
            raise DuplicateError(f"a population named {pop_name!r} exists (id {old.id}, "
                                 f"{old.status}): choose another --name")
        if dataset is not None:
            ids = _sample_ids(catalog, catalog.get_dataset(dataset).name, entries, labels, root)
        else:
            _zoo_dataset(catalog, ds_name, f"{fmt} INR zoo {json_path}",
                         np.array([e.split for e in entries]), labels)
            ids = list(range(len(entries)))
        if old is not None:  # left partial by a killed import of the same zoo: start afresh
            catalog.delete_population(old.id)
        record, writer = catalog.create_population(
            pop_name, dataset=ds_name, arch=asdict(siren), fit_config=fit_config,
            n_inrs=len(entries), n_params=siren.n_params, chunk_rows=CHUNK_ROWS)
        try:
            catalog.arrays.write(record.fit_metrics_key,  # mse, psnr: unknown for imports
                                 np.full((len(entries), 2), np.nan, np.float32))
            for start in range(0, len(entries), CHUNK_ROWS):
                end = min(start + CHUNK_ROWS, len(entries))
                writer.write(start, staged[start:end])
                catalog.population_progress(record.id, end)
            return catalog.complete_population(record.id, sha256=writer.close(), sample_ids=ids)
        except BaseException:
            with contextlib.suppress(Exception):
                catalog.delete_population(record.id)
            raise
