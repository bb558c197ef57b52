"""Training and activation recording for every classifier in the zoo.

* :func:`train_classifier` / :func:`evaluate`: one seeded, deterministic loop
  for tensor datasets and torch_geometric graph datasets alike;
* :func:`record_activations`: stream layer outputs on a probe set into an
  :class:`ActivationSink` with forward hooks;
* :func:`report_progress`: receive every batch of those loops as a :class:`StepProgress`.
"""

from zoo.train._common import ProgressHook, StepProgress, make_loader, report_progress
from zoo.train.config import OPTIMIZERS, TrainConfig
from zoo.train.loop import EpochMetrics, EvalResult, TrainResult, evaluate, train_classifier
from zoo.train.record import REDUCE_CONV, ActivationSink, InMemorySink, record_activations

__all__ = [
    "OPTIMIZERS",
    "REDUCE_CONV",
    "ActivationSink",
    "EpochMetrics",
    "EvalResult",
    "InMemorySink",
    "ProgressHook",
    "StepProgress",
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "make_loader",
    "record_activations",
    "report_progress",
    "train_classifier",
]
