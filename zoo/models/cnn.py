"""Small convolutional classifier: the image baseline for 28x28 digits."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

__all__ = ["SmallCNN"]


class SmallCNN(nn.Module):
    r"""Small CNN for 28x28 images (MNIST-like): conv blocks, global average
    pooling, then fully connected layers.

    .. math::
        \mathbf{a}_k = \mathrm{MaxPool}_2\,\mathrm{ReLU}(\mathrm{Conv}(\mathbf{a}_{k-1})),
        \qquad \mathbf{p} = \mathrm{mean}_{h,w}\,\mathbf{a}_K, \qquad
        \hat{\mathbf{y}} = \mathrm{head}(\mathrm{MLP}(\mathbf{p}))

    No batch norm, so a forward in ``eval`` mode is per-sample (recorded
    activations do not depend on the batch) and the network is a plain
    conv/linear stack that :func:`zoo.graphs.neural_graph.cnn_to_graph` can
    encode (the graph ignores the pooling, which has no parameters).

    Args:
        in_channels: input channels (default: 1).
        num_classes: output logits (default: 10).
        channels: output channels of each conv block (default: ``(16, 32, 64)``).
        fc_hidden: widths of the hidden fully connected layers (default: ``(128,)``).
        kernel_size: odd conv kernel size, ``same`` padding (default: 3).
        dropout: dropout after each fc hidden layer (default: 0.0).

    Shapes:
        - **input:** :math:`(B, C_{in}, H, W)`, e.g. :math:`(B, 1, 28, 28)`
        - **output:** logits :math:`(B, C)`
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        channels: Sequence[int] = (16, 32, 64),
        fc_hidden: Sequence[int] = (128,),
        kernel_size: int = 3,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not channels or min(channels) < 1 or any(h < 1 for h in fc_hidden):
            raise ValueError("need >= 1 conv block; channels and fc widths must be >= 1")
        if in_channels < 1 or num_classes < 1 or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError("in_channels, num_classes >= 1 and an odd kernel_size required")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.in_channels, self.num_classes = in_channels, num_classes
        self.channels, self.fc_hidden = tuple(channels), tuple(fc_hidden)
        self.kernel_size, self.dropout_p = kernel_size, dropout
        widths = (in_channels, *self.channels)
        self.features = nn.ModuleList(
            nn.Sequential(nn.Conv2d(a, b, kernel_size, padding=kernel_size // 2), nn.ReLU(),
                          nn.MaxPool2d(2))
            for a, b in itertools.pairwise(widths)
        )
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        fc = (self.channels[-1], *self.fc_hidden)
        self.fc = nn.ModuleList(
            nn.Sequential(nn.Linear(a, b), nn.ReLU()) for a, b in itertools.pairwise(fc)
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(fc[-1], num_classes)
        self.reset_parameters()

    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-ready): ``SmallCNN(**m.config)`` rebuilds it."""
        return {"in_channels": self.in_channels, "num_classes": self.num_classes,
                "channels": list(self.channels), "fc_hidden": list(self.fc_hidden),
                "kernel_size": self.kernel_size, "dropout": self.dropout_p}

    def reset_parameters(self) -> None:
        """Re-initialise all conv and linear layers (PyTorch default init)."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                module.reset_parameters()

    def representation_layers(self) -> list[str]:
        """Module names to hook, in order: ``features.0 .. features.{K-1}`` (conv
        block outputs after ReLU and max-pooling, feature maps :math:`(B, C_k, H_k, W_k)`;
        the activation recorder reduces them), ``pool`` (:math:`(B, C_K)`),
        ``fc.0 ..`` (post-ReLU, :math:`(B, h)`), then ``head`` (logits)."""
        return ([f"features.{i}" for i in range(len(self.features))] + ["pool"]
                + [f"fc.{i}" for i in range(len(self.fc))] + ["head"])

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, num_classes)`` for images ``(B, C_in, H, W)``."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        for block in self.features:
            x = block(x)
        z = self.pool(x)
        for block in self.fc:
            z = self.dropout(block(z))
        out: Tensor = self.head(z)
        return out

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(in_channels={self.in_channels}, "
                f"num_classes={self.num_classes}, channels={self.channels}, "
                f"fc_hidden={self.fc_hidden}, kernel_size={self.kernel_size}, "
                f"dropout={self.dropout_p})")
