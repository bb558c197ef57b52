"""Kind ``cnn``: a small convolutional network on images ``[C, H, W]``."""

from __future__ import annotations

from typing import Any

from torch import nn

from zoo.kinds._registry import ArchRequest, KindSpec, register_kind
from zoo.models.cnn import SmallCNN

__all__ = ["CNN_KIND"]


def _arch(req: ArchRequest) -> dict[str, Any]:
    arch: dict[str, Any] = {
        "in_channels": req.sample_shape[2] if len(req.sample_shape) == 3 else 1,
        "channels": [16, 32, 64][: req.layers or 3], "fc_hidden": [req.hidden or 128],
        "num_classes": req.num_classes}
    if req.dropout:
        arch["dropout"] = req.dropout
    return arch


def _build(arch: dict[str, Any]) -> nn.Module:
    return SmallCNN(arch["in_channels"], arch["num_classes"], tuple(arch["channels"]),
                    tuple(arch["fc_hidden"]), dropout=arch.get("dropout", 0.0))


CNN_KIND = register_kind(KindSpec(name="cnn", reads="images", summary="small CNN on images",
                                  default_arch=_arch, build=_build))
