"""Fitting a whole INR population into the catalog, resumably.

A population is one ``[n_inrs, n_params]`` float32 array (``<prefix>/params``)
plus ``<prefix>/fit_metrics`` (``[n_inrs, 2]``: mse, psnr), written chunk by
chunk. The catalog row is ``partial`` (with ``rows_done``) until the last chunk
is stored; only then are the INR models registered, in one transaction. Running
the same fit again after an interruption continues from the first missing chunk:
chunks are deterministic, so the result equals an uninterrupted fit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from store import Catalog, DuplicateError, InvalidInputError, PopulationRecord, array_sha256
from zoo.inr.fit import FitConfig, iter_fit_chunks
from zoo.models.siren import SirenConfig

__all__ = ["default_population_name", "fit_population", "population_images", "select_samples"]


def default_population_name(dataset: str, siren: SirenConfig, fit: FitConfig,
                            split: str | None, limit: int | None) -> str:
    """A descriptive name, e.g. ``mnist-5k/siren-w32-d3/s0``: then ``-tSTEPS-lrLR`` for
    non-default fitting, ``-shared`` for a shared initialisation, ``-vK`` for K views
    (``mnist-5k/siren-w32-d3-dwsnet/s0-t200-lr0.03-v10``)."""
    variant = "" if siren.variant == "sitzmann" else f"-{siren.variant}"
    parts = [dataset, f"siren-w{siren.hidden_width}-d{siren.depth}{variant}"]
    if split or limit:
        parts.append(f"{split or 'all'}{'-' + str(limit) if limit else ''}")
    last = f"s{fit.seed}"
    if (fit.steps, fit.lr) != (FitConfig.steps, FitConfig.lr):
        last += f"-t{fit.steps}-lr{fit.lr:g}"
    last += ("-shared" if fit.init == "shared" else "") + (
        f"-v{fit.views}" if fit.views > 1 else "")
    return "/".join([*parts, last])


def select_samples(catalog: Catalog, dataset: str, split: str | None, limit: int | None
                   ) -> np.ndarray:
    """Sample ids ``[n]`` of a dataset (optionally one split, first ``limit``), ascending."""
    _, _, splits = catalog.dataset_arrays(dataset)
    ids = np.arange(len(splits)) if split is None else np.flatnonzero(splits == split)
    return ids[:limit] if limit is not None else ids


def population_images(catalog: Catalog, dataset: str, sample_ids: np.ndarray) -> torch.Tensor:
    """Images of the given samples as floats in [0, 1]: ``[n, H, W]`` or ``[n, H, W, C]``."""
    images, _, _ = catalog.dataset_arrays(dataset)
    x = images[sample_ids]
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    return torch.from_numpy(x.astype(np.float32) / scale)


def fit_population(
    catalog: Catalog,
    dataset: str,
    siren: SirenConfig,
    fit: FitConfig,
    *,
    name: str | None = None,
    split: str | None = None,
    limit: int | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    workers: int = 1,
    cluster: str | None = None,
) -> PopulationRecord:
    """Fit one SIREN per selected image of ``dataset`` and store them as a population.

    Args:
        progress: called after each stored chunk as ``progress(done, total, mean_psnr)``
            (and once before the first chunk, with the rows already stored: 0 unless resuming).
        workers: processes fitting chunks in parallel; each chunk is stored as soon as it
            and all chunks before it are done, so an interruption loses at most the
            chunks in flight.
        cluster: a Dask scheduler address (:mod:`zoo.cluster`): chunks are fitted as tasks
            on its workers (which need nothing but the code: images go with each task);
            this process stores them, so a worker that dies loses only its task, which
            is run again.

    Resumes a ``partial`` population of the same name when its configuration matches;
    refuses (``DuplicateError``) when the population is already complete.
    """
    ds = catalog.get_dataset(dataset)
    images_ids = select_samples(catalog, ds.name, split, limit)
    if len(images_ids) == 0:
        raise InvalidInputError(f"no samples selected from {ds.name!r} (split {split!r})")
    ids = np.tile(images_ids, fit.views)  # row v * n + i: view v of image i
    channels = ds.sample_shape[2] if len(ds.sample_shape) == 3 else 1
    if siren.out_features != channels:
        raise InvalidInputError(f"dataset {ds.name!r} has samples {list(ds.sample_shape)}: "
                                f"its INRs need SirenConfig(out_features={channels})"
                                " (`zoo inr fit` fits one-channel images only)")
    name = name or default_population_name(ds.name, siren, fit, split, limit)
    fit_config: dict[str, Any] = {**asdict(fit), "split": split, "limit": limit}
    existing = catalog.find_population(name)
    if existing is not None:
        if existing.status == "complete":
            raise DuplicateError(f"population {name!r} is already fitted "
                                 f"(id {existing.id}): see `zoo inr show {existing.id}`")
        # older records lack "init" and "views"
        stored = {"init": "per-inr", "views": 1, **existing.fit_config}
        if existing.arch != asdict(siren) or stored != fit_config:
            raise InvalidInputError(f"a partial population {name!r} exists with another "
                                    "configuration: choose another --name")
        record, writer = catalog.resume_population(name)
    else:
        record, writer = catalog.create_population(
            name, dataset=ds.name, arch=asdict(siren), fit_config=fit_config,
            n_inrs=len(ids), n_params=siren.n_params, chunk_rows=fit.batch_size)
    metrics_key = record.fit_metrics_key
    if record.rows_done == 0 or not catalog.arrays.exists(metrics_key):
        catalog.arrays.create(metrics_key, (len(ids), 2), np.float32, chunk_rows=fit.batch_size)
    fit_metrics = catalog.arrays.open(metrics_key, mode="r+")
    first_chunk = record.rows_done // fit.batch_size
    images = population_images(catalog, ds.name, ids)
    done = first_chunk * fit.batch_size
    if progress is not None:  # where we start: 0, or the rows a resumed fit already has
        progress(done, len(ids), float(np.mean(np.asarray(fit_metrics[:done, 1]))) if done
                 else 0.0)
    for chunk in iter_fit_chunks(images, siren, fit, first_chunk=first_chunk, workers=workers,
                                 cluster=cluster):
        end = chunk.start + chunk.params.shape[0]
        writer.write(chunk.start, chunk.params.numpy())
        fit_metrics[chunk.start:end] = np.stack([chunk.mse.numpy(), chunk.psnr.numpy()], 1)
        catalog.population_progress(record.id, end)
        done = end
        if progress is not None:
            progress(done, len(ids), float(np.mean(np.asarray(fit_metrics[:end, 1]))))
    metrics = np.asarray(fit_metrics[:])
    return catalog.complete_population(
        record.id, sha256=array_sha256(writer.array), sample_ids=ids.tolist(), seed=fit.seed,
        metrics={"mse": metrics[:, 0].tolist(), "psnr": metrics[:, 1].tolist()},
        views=np.repeat(np.arange(fit.views), len(images_ids)).tolist() if fit.views > 1
        else None)
