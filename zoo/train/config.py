"""Training configuration as a validated, frozen dataclass."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["OPTIMIZERS", "TrainConfig"]

#: Optimizer names accepted by :class:`TrainConfig` (``sgd`` uses momentum 0.9).
OPTIMIZERS: tuple[str, ...] = ("adam", "adamw", "sgd")

_MAX_SEED = 2**63 - 1


def _check_int(name: str, value: object, minimum: int, maximum: int | None = None) -> None:
    """Raise ValueError unless ``value`` is an int (not bool) in [minimum, maximum]."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and <= {maximum}"
        raise ValueError(f"{name} must be >= {minimum}{upper}, got {value}")


def _check_float(name: str, value: object, *, positive: bool) -> None:
    """Raise ValueError unless ``value`` is a finite real > 0 (or >= 0)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    bad = value <= 0 if positive else value < 0
    if bad or value != value or value in (float("inf"), float("-inf")):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value}")


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one classifier training run.

    An invalid instance cannot exist: every field is checked on construction.

    Args:
        epochs: maximum number of passes over the training set (default: 20).
        batch_size: training and evaluation batch size in samples (default: 64).
        lr: learning rate (default: 1e-3).
        weight_decay: decoupled (AdamW) or L2 (Adam, SGD) weight decay (default: 0.0).
        optimizer: one of ``OPTIMIZERS`` (default: ``"adamw"``).
        init_seed: seeds the weight initialisation only (default: 0).
        data_seed: seeds the data order and the stochastic layers (dropout)
            during training; independent of ``init_seed`` (default: 0).
        patience: stop after this many epochs without a new best validation
            accuracy; ``None`` trains all epochs (default: None).
        grad_clip: clip the global gradient L2 norm to this value; ``None``
            disables clipping (default: None).
        micro_batch: samples per forward/backward pass inside a batch, gradients
            accumulated over the ``batch_size / micro_batch`` passes, so every update
            is that of the whole batch (to rounding) for models without batch
            statistics (no BatchNorm); a cache-size knob that made GMN training ~1.5x
            faster here. Must divide ``batch_size``; ``None``: the whole batch
            (default: None).
        device: torch device string, e.g. ``"cpu"`` or ``"cuda:0"`` (default: ``"cpu"``).
        amsgrad: the AMSGrad variant of Adam/AdamW (default: False).
        warmup_steps: the learning rate grows linearly from ``lr / warmup_steps`` to ``lr``
            over this many updates, then stays (default: 0, no warm-up).

    Raises:
        ValueError: a field is out of range or of the wrong type.
    """

    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adamw"
    init_seed: int = 0
    data_seed: int = 0
    patience: int | None = None
    grad_clip: float | None = None
    micro_batch: int | None = None
    device: str = "cpu"
    amsgrad: bool = False
    warmup_steps: int = 0

    def __post_init__(self) -> None:
        """Validate every field."""
        _check_int("epochs", self.epochs, 1)
        _check_int("batch_size", self.batch_size, 1)
        _check_float("lr", self.lr, positive=True)
        _check_float("weight_decay", self.weight_decay, positive=False)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        _check_int("init_seed", self.init_seed, 0, _MAX_SEED)
        _check_int("data_seed", self.data_seed, 0, _MAX_SEED)
        if self.patience is not None:
            _check_int("patience", self.patience, 1)
        if self.grad_clip is not None:
            _check_float("grad_clip", self.grad_clip, positive=True)
        if self.micro_batch is not None:
            _check_int("micro_batch", self.micro_batch, 1)
            if self.batch_size % self.micro_batch:
                raise ValueError(f"micro_batch ({self.micro_batch}) must divide batch_size "
                                 f"({self.batch_size})")
        _check_int("warmup_steps", self.warmup_steps, 0)
        if not isinstance(self.amsgrad, bool):
            raise ValueError(f"amsgrad must be a bool, got {self.amsgrad!r}")
        if not isinstance(self.device, str):
            raise ValueError(f"device must be a string, got {self.device!r}")
        try:
            torch.device(self.device)
        except (RuntimeError, ValueError) as exc:
            raise ValueError(f"device {self.device!r} is not a valid torch device") from exc

    @property
    def torch_device(self) -> torch.device:
        """``device`` as a ``torch.device``."""
        return torch.device(self.device)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict of all fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; missing keys take defaults.

        Raises:
            ValueError: unknown keys or invalid values.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig keys {unknown}; known keys: {sorted(known)}")
        return cls(**data)
