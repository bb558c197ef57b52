"""Image-space data augmentation applied directly to SIREN weights.

An INR ``f(p) = g(sin(w0 (W p + b)))`` of an image becomes, with its first
layer changed to ``W' = W A`` and ``b' = b + W t``, exactly the INR of the
image warped by the affine map ``p -> A p + t``: ``f'(p) = f(A p + t)``. So a
metanetwork can be trained on rotated, scaled and shifted digits without
re-fitting a single INR (the augmentations DWSNet and NG-GNN use for INR
classification). Only the first layer changes, hence the result commutes with
permutations of hidden neurons and keeps every symmetry the GMN relies on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from zoo.models.siren import SirenConfig, unflatten_params

__all__ = ["NG_GNN_AUGMENT", "WeightAugment", "augment_siren_params", "random_affine"]


@dataclass(frozen=True)
class WeightAugment:
    """Ranges of the random affine warps, drawn independently per INR.

    Args:
        rotation_deg: rotation angle uniform in ``[-rotation_deg, rotation_deg]`` degrees.
        scale: isotropic zoom factor uniform in ``[1 - scale, 1 + scale]``.
        translation: shift of each coordinate uniform in ``[-translation, translation]``,
            in coordinate units (the image spans ``[-1, 1]``, so ``0.1`` is 5 % of its side).
        weight_dropout: each weight and bias of the warped INR is zeroed with this
            probability and the others scaled by ``1 / (1 - p)`` (as ``F.dropout``); not a
            warp of the image, a regulariser of the metanetwork (default: 0).
    """

    rotation_deg: float = 15.0
    scale: float = 0.1
    translation: float = 0.1
    weight_dropout: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.rotation_deg <= 180.0:
            raise ValueError(f"rotation_deg must be in [0, 180], got {self.rotation_deg}")
        if not 0.0 <= self.scale < 1.0:
            raise ValueError(f"scale must be in [0, 1), got {self.scale}")
        if not 0.0 <= self.translation <= 1.0:
            raise ValueError(f"translation must be in [0, 1], got {self.translation}")
        if not 0.0 <= self.weight_dropout < 1.0:
            raise ValueError(f"weight_dropout must be in [0, 1), got {self.weight_dropout}")

    def to_dict(self) -> dict[str, float]:
        """JSON-ready fields."""
        return {"rotation_deg": self.rotation_deg, "scale": self.scale,
                "translation": self.translation, "weight_dropout": self.weight_dropout}


#: The augmentation of NG-GNN's INR datasets (mkofinas/neural-graphs ``experiments/data.py``):
#: rotation up to 45 degrees, zoom 0.8-1.2, shift up to 0.25 of the coordinate range (folded
#: into the first-layer bias), and dropout of 1 % of all weights and biases.
NG_GNN_AUGMENT = WeightAugment(rotation_deg=45.0, scale=0.2, translation=0.25,
                               weight_dropout=0.01)


def random_affine(n: int, augment: WeightAugment,
                  generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Draw ``n`` warps ``p -> A p + t`` of 2-D coordinates.

    Shapes:
        - **output:** ``A`` ``[n, 2, 2]``, ``t`` ``[n, 2]``
    """
    u = torch.rand(n, 4, generator=generator) * 2.0 - 1.0  # uniform in [-1, 1)
    angle = u[:, 0] * math.radians(augment.rotation_deg)
    zoom = 1.0 + u[:, 1] * augment.scale
    cos, sin = torch.cos(angle) * zoom, torch.sin(angle) * zoom
    matrix = torch.stack([torch.stack([cos, -sin], dim=1), torch.stack([sin, cos], dim=1)], dim=1)
    return matrix, u[:, 2:] * augment.translation


def augment_siren_params(flat: Tensor, config: SirenConfig, augment: WeightAugment,
                         generator: torch.Generator | None = None) -> Tensor:
    """Randomly warped copies of ``B`` SIRENs on 2-D coordinates (the input is not changed).

    Row ``b`` of the result represents image ``b`` warped by its own random affine map
    (:func:`random_affine`): ``W_1' = W_1 A_b``, ``b_1' = b_1 + W_1 t_b``; then, with
    ``augment.weight_dropout``, random weights and biases are dropped.

    Shapes:
        - **flat:** ``[B, P]`` in the canonical flat layout of ``config``
        - **output:** ``[B, P]``
    """
    if config.in_features != 2:
        raise ValueError(f"weight-space warps need 2-D coordinates, got in_features="
                         f"{config.in_features}")
    out = flat.clone()
    matrix, shift = random_affine(flat.shape[0], augment, generator)
    matrix, shift = matrix.to(flat.dtype), shift.to(flat.dtype)
    weights, _ = unflatten_params(flat, config)
    new_w, new_b = unflatten_params(out, config)
    new_w[0].copy_(torch.bmm(weights[0], matrix))  # [B, J, 2] @ [B, 2, 2]
    new_b[0].add_(torch.bmm(weights[0], shift.unsqueeze(2)).squeeze(2))
    if augment.weight_dropout:
        p = augment.weight_dropout
        keep = torch.rand(out.shape, generator=generator, dtype=out.dtype) >= p
        out = out * keep / (1.0 - p)
    return out
