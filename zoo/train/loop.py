"""One training loop for every classifier (GMN, MLP on weights, MLP and CNN on images).

A classifier is any ``nn.Module`` whose forward takes one batch and returns
logits ``[B, C]``. Batches are ``(x, y)`` pairs (``TensorDataset``) or
torch_geometric ``Batch`` objects with labels in ``.y``.

Seeding: the model is built by the factory under ``torch.manual_seed(init_seed)``;
the data order comes from a ``torch.Generator`` seeded with ``data_seed``; the
global RNG used by dropout is then seeded from a value derived from
``data_seed``. The caller's global RNG state is restored afterwards. On CPU the
same config gives bit-identical weights.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.train._common import (
    Collate,
    DatasetLike,
    ProgressHook,
    StepProgress,
    make_loader,
    model_device,
    step_reporter,
)
from zoo.train._common import split_batch as _split_batch
from zoo.train.config import TrainConfig

__all__ = ["EpochMetrics", "EvalResult", "TrainResult", "evaluate", "train_classifier"]


@dataclass(frozen=True)
class EpochMetrics:
    """Metrics of one epoch.

    ``epoch`` is 1-based; losses are mean cross-entropy per sample (nats);
    accuracies are fractions in [0, 1]; ``train_*`` are running averages over
    the epoch in train mode; ``seconds`` is the epoch's wall time (train + val).
    """

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    seconds: float


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`train_classifier`.

    ``best_state`` is a CPU copy of the state_dict at ``best_epoch`` (1-based,
    the first epoch reaching the highest validation accuracy, i.e.
    ``history[best_epoch - 1]``); ``history`` has one entry per epoch run;
    ``train_seconds`` is the total wall time; ``stopped_early`` tells whether
    patience ran out before ``config.epochs``.
    """

    best_state: dict[str, Tensor]
    best_epoch: int
    history: list[EpochMetrics]
    train_seconds: float
    stopped_early: bool = False

    @property
    def best(self) -> EpochMetrics:
        """Metrics of the selected epoch."""
        return self.history[self.best_epoch - 1]


@dataclass(frozen=True)
class EvalResult:
    """Outcome of :func:`evaluate` on ``n`` samples with ``C`` classes.

    ``loss``: mean cross-entropy (nats); ``accuracy`` in [0, 1];
    ``predictions``: int64 ``[n]`` argmax of the logits in dataset order;
    ``confusion``: int64 ``[C, C]``, rows = true class, columns = predicted;
    ``logits``: float32 ``[n, C]`` in dataset order.
    """

    loss: float
    accuracy: float
    predictions: np.ndarray
    confusion: np.ndarray
    logits: np.ndarray | None = None


#: Called after each batch of a pass with (batches done, batches in the pass or None,
#: running mean loss, running accuracy).
OnBatch: TypeAlias = Callable[[int, int | None, float, float], None]


def _batch_reporter(report: ProgressHook | None, stage: str, epoch: int = 0, epochs: int = 0
                    ) -> OnBatch | None:
    """An ``on_batch`` callback that sends :class:`StepProgress` of this pass to ``report``."""
    if report is None:
        return None
    started = time.perf_counter()

    def on_batch(done: int, total: int | None, loss: float, acc: float) -> None:
        report(StepProgress(stage, done, total, time.perf_counter() - started, epoch=epoch,
                            epochs=epochs, loss=loss, acc=acc))

    return on_batch


def _n_batches(loader: Any, pieces: int = 1) -> int | None:
    """Batches (optimizer updates with ``pieces`` per update) a loader gives, if it knows."""
    try:
        return -(-len(loader) // pieces)
    except TypeError:
        return None


def evaluate(
    model: nn.Module, dataset: DatasetLike, batch_size: int, collate: Collate | None = None,
    *, on_batch: OnBatch | None = None,
) -> EvalResult:
    """Evaluate a classifier on a labelled dataset, in dataset order.

    Runs in eval mode under ``torch.no_grad`` on the model's device and
    restores the model's previous train/eval mode.

    Args:
        model: classifier returning logits ``[B, C]``.
        dataset: labelled samples (see :func:`train_classifier`).
        batch_size: evaluation batch size.
        collate: optional custom collate function.
        on_batch: called after each batch with (done, total, running loss, running acc).

    Returns:
        loss, accuracy, predictions ``[n]`` and confusion matrix ``[C, C]``.
    """
    device = model_device(model)
    was_training = model.training
    model.eval()
    total_loss, preds, targets, all_logits = 0.0, [], [], []
    n_classes, seen, correct = 0, 0, 0
    try:
        with torch.no_grad():
            loader = make_loader(dataset, batch_size, collate=collate)
            total = _n_batches(loader)
            for index, batch in enumerate(loader):
                inputs, y = _split_batch(batch, device)
                logits = model(inputs)
                n_classes = logits.shape[1]
                total_loss += float(F.cross_entropy(logits, y, reduction="sum"))
                preds.append(logits.argmax(dim=1).cpu())
                targets.append(y.cpu())
                all_logits.append(logits.float().cpu())
                if on_batch is not None:
                    seen += len(y)
                    correct += int((preds[-1] == targets[-1]).sum())
                    on_batch(index + 1, total, total_loss / seen, correct / seen)
    finally:
        model.train(was_training)
    pred = torch.cat(preds).numpy().astype(np.int64)
    true = torch.cat(targets).numpy().astype(np.int64)
    n_classes = max(n_classes, int(true.max()) + 1)
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (true, pred), 1)
    return EvalResult(
        loss=total_loss / len(true),
        accuracy=float((pred == true).mean()),
        predictions=pred,
        confusion=confusion,
        logits=torch.cat(all_logits).numpy(),
    )


def _make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer named in ``config`` over all trainable parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay,
                                 amsgrad=config.amsgrad)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay,
                                amsgrad=config.amsgrad)
    return torch.optim.SGD(params, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)


def _make_warmup(optimizer: torch.optim.Optimizer, config: TrainConfig
                 ) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up of the learning rate over ``config.warmup_steps`` updates, then
    constant (NG-GNN's ``WarmupLRScheduler``); stepped after every update."""
    steps = config.warmup_steps
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / steps) if steps else 1.0)


def _dropout_seed(data_seed: int) -> int:
    """Seed for the global RNG during training, derived from ``data_seed``.

    A separate stream from the data order (which uses ``data_seed`` itself).
    """
    state = np.random.SeedSequence([data_seed, 0x44524F50]).generate_state(1, np.uint64)
    return int(state[0]) >> 1


def _train_epoch(
    model: nn.Module,
    loader: Any,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    device: torch.device,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    on_batch: OnBatch | None = None,
) -> tuple[float, float]:
    """One pass over ``loader`` in train mode; returns (mean loss, accuracy).

    The loader yields ``config.micro_batch``-sized pieces of the shuffled data (or whole
    batches); ``batch_size / micro_batch`` consecutive pieces make one update, their
    gradients accumulated with each piece's loss summed and divided by its batch's size.
    ``on_batch`` is called after each update (batch) with the running loss and accuracy.
    """
    model.train()
    pieces = config.batch_size // config.micro_batch if config.micro_batch else 1
    # with pieces, the size of each batch (the last may be short) scales their losses; an
    # iterable without a dataset (a benchmark's slice of batches) has full batches only
    dataset = getattr(loader, "dataset", None)
    n_samples = len(dataset) if pieces > 1 and dataset is not None else None
    total_loss, correct, seen, updates = 0.0, 0, 0, 0
    batch_size = config.batch_size
    total = _n_batches(loader, pieces) if on_batch is not None else None
    for index, batch in enumerate(loader):
        inputs, y = _split_batch(batch, device)
        if index % pieces == 0:
            optimizer.zero_grad(set_to_none=True)
            if n_samples is not None:
                batch_size = min(config.batch_size, n_samples - seen)
        logits = model(inputs)
        if pieces == 1:
            loss = F.cross_entropy(logits, y)
            piece_loss = loss * len(y)
        else:
            piece_loss = F.cross_entropy(logits, y, reduction="sum")
            loss = piece_loss / batch_size
        if not torch.isfinite(loss.detach()):
            raise FloatingPointError(
                f"training loss became {loss.item()}; lower lr or set grad_clip"
            )
        loss.backward()
        seen += len(y)
        total_loss += float(piece_loss.detach())
        correct += int((logits.detach().argmax(dim=1) == y).sum())
        if pieces == 1 or index % pieces == pieces - 1 or seen == n_samples:
            if config.grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            updates += 1
            if on_batch is not None:
                on_batch(updates, total, total_loss / seen, correct / seen)
    return total_loss / seen, correct / seen


def train_classifier(
    model_factory: Callable[[], nn.Module],
    train: DatasetLike,
    val: DatasetLike,
    config: TrainConfig,
    *,
    collate: Collate | None = None,
    val_collate: Collate | None = None,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train a classifier with cross-entropy and select the best validation epoch.

    Every epoch trains on a fresh shuffle of ``train`` and evaluates on
    ``val``; the state_dict of the first epoch with the highest validation
    accuracy is kept. With ``config.patience`` the run stops once that many
    epochs pass without improvement.

    Args:
        model_factory: builds the untrained model; called once under
            ``torch.manual_seed(config.init_seed)``, then moved to ``config.device``.
        train: labelled training samples: a ``TensorDataset(x, y)`` (``y`` int
            class ids ``[n]``) or a list of PyG ``Data`` with ``.y``.
        val: labelled validation samples, same form.
        config: hyperparameters and seeds.
        collate: optional custom collate function (then a plain torch loader is used).
        val_collate: collate for ``val`` when it differs from the training one
            (e.g. training batches are augmented); default: ``collate``.
        on_epoch: called with each epoch's metrics as soon as they are known.
        progress: show a Rich progress bar of every batch (only on a terminal, and only
            when no hook is installed: with :func:`~zoo.train.report_progress` each
            training and validation batch goes to that hook, ``progress`` or not).

    Returns:
        The best state_dict (CPU copy), its 1-based epoch, per-epoch history
        and total wall time in seconds.

    Raises:
        FloatingPointError: the training loss became NaN or infinite.
    """
    device = config.torch_device
    fork_devices = [device.index or 0] if device.type == "cuda" else []
    start = time.perf_counter()
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(config.init_seed)
        model = model_factory().to(device)
        order = torch.Generator().manual_seed(config.data_seed)
        torch.manual_seed(_dropout_seed(config.data_seed))
        piece = config.micro_batch or config.batch_size
        loader = make_loader(train, piece, shuffle=True, generator=order, collate=collate)
        optimizer = _make_optimizer(model, config)
        scheduler = _make_warmup(optimizer, config)
        history: list[EpochMetrics] = []
        best_state: dict[str, Tensor] = {}
        best_epoch, best_acc = 0, -1.0
        stopped_early = False
        with step_reporter(progress) as report:
            for epoch in range(1, config.epochs + 1):
                t0 = time.perf_counter()
                train_loss, train_acc = _train_epoch(
                    model, loader, optimizer, config, device, scheduler,
                    on_batch=_batch_reporter(report, "train", epoch, config.epochs))
                result = evaluate(model, val, piece,
                                  collate=collate if val_collate is None else val_collate,
                                  on_batch=_batch_reporter(report, "val", epoch, config.epochs))
                metrics = EpochMetrics(
                    epoch=epoch,
                    train_loss=train_loss,
                    train_acc=train_acc,
                    val_loss=result.loss,
                    val_acc=result.accuracy,
                    seconds=time.perf_counter() - t0,
                )
                history.append(metrics)
                if metrics.val_acc > best_acc:
                    best_epoch, best_acc = epoch, metrics.val_acc
                    best_state = {
                        k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()
                    }
                if on_epoch is not None:
                    on_epoch(metrics)
                if config.patience is not None and epoch - best_epoch >= config.patience:
                    stopped_early = epoch < config.epochs
                    break
    return TrainResult(
        best_state=best_state,
        best_epoch=best_epoch,
        history=history,
        train_seconds=time.perf_counter() - start,
        stopped_early=stopped_early,
    )
