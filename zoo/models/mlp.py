"""Multilayer perceptron classifier: the baseline on flattened inputs."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

__all__ = ["MLPClassifier"]


class MLPClassifier(nn.Module):
    r"""Multilayer perceptron on flattened inputs.

    Used for two baselines: an MLP on the flattened weights of an INR (the
    flat parameter vector, no symmetry handling) and an MLP on the images
    themselves (flattened pixels).

    .. math::
        \mathbf{z}_0 = \mathrm{flatten}(\mathbf{x}), \qquad
        \mathbf{z}_k = \mathrm{ReLU}(\mathbf{W}_k \mathbf{z}_{k-1} + \mathbf{b}_k), \qquad
        \hat{\mathbf{y}} = \mathbf{W}_o\,\mathrm{Dropout}(\mathbf{z}_K) + \mathbf{b}_o

    (dropout is applied after every hidden layer, outside the hooked modules).

    Args:
        in_features: size of a flattened input sample.
        hidden: widths of the hidden layers (default: ``(256, 256)``).
        num_classes: output logits (default: 10).
        dropout: dropout probability after each hidden layer (default: 0.0).

    Shapes:
        - **input:** :math:`(B, *)` with :math:`\prod * =` ``in_features``
        - **output:** logits :math:`(B, C)`
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int] = (256, 256),
        num_classes: int = 10,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if in_features < 1 or num_classes < 1 or any(h < 1 for h in hidden):
            raise ValueError("in_features, hidden widths and num_classes must be >= 1")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.in_features, self.hidden = in_features, tuple(int(h) for h in hidden)
        self.num_classes, self.dropout_p = num_classes, dropout
        widths = (in_features, *self.hidden)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(a, b), nn.ReLU()) for a, b in itertools.pairwise(widths)
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(widths[-1], num_classes)
        self.reset_parameters()

    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-ready): ``MLPClassifier(**m.config)`` rebuilds it."""
        return {"in_features": self.in_features, "hidden": list(self.hidden),
                "num_classes": self.num_classes, "dropout": self.dropout_p}

    def reset_parameters(self) -> None:
        """Re-initialise all linear layers (PyTorch default init)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                module.reset_parameters()

    def representation_layers(self) -> list[str]:
        """Module names to hook, in order: ``blocks.0 .. blocks.{K-1}`` (post-ReLU
        hidden activations, :math:`(B, h_k)`), then ``head`` (logits, :math:`(B, C)`)."""
        return [f"blocks.{i}" for i in range(len(self.blocks))] + ["head"]

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, num_classes)`` for inputs ``(B, ...)``."""
        z = x.flatten(1)
        if z.shape[1] != self.in_features:
            raise ValueError(f"expected {self.in_features} features per sample, got {z.shape[1]}")
        for block in self.blocks:
            z = self.dropout(block(z))
        out: Tensor = self.head(z)
        return out

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(in_features={self.in_features}, "
                f"hidden={self.hidden}, num_classes={self.num_classes}, "
                f"dropout={self.dropout_p})")
