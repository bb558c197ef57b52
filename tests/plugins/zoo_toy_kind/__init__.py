"""A third-party model kind, as a plugin package declares one (see the README's "Extending
the zoo"): a two-layer perceptron on pixels, registered through the ``zoo.kinds``
entry-point group of this directory's ``zoo_toy_kind-0.1.dist-info``."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import Tensor, nn

from zoo.kinds import ArchRequest, KindSpec


class ToyPerceptron(nn.Module):
    """``out(relu(hidden(x)))`` on flattened pixels."""

    def __init__(self, in_features: int, hidden: int, num_classes: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(in_features, hidden)
        self.out = nn.Linear(hidden, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.hidden(x).relu())


def _arch(req: ArchRequest) -> dict[str, Any]:
    return {"in_features": int(np.prod(req.sample_shape)), "hidden": req.hidden or 24,
            "num_classes": req.num_classes}


def _build(arch: dict[str, Any]) -> nn.Module:
    return ToyPerceptron(arch["in_features"], arch["hidden"], arch["num_classes"])


TOY_KIND = KindSpec(name="toy-perceptron", reads="pixels",
                    summary="a two-layer perceptron on pixels (test plugin)",
                    default_arch=_arch, build=_build,
                    layers=lambda model: ["hidden", "out"])
