"""Weight-space augmentation: a warped INR is the original INR at warped coordinates."""

from __future__ import annotations

import math

import pytest
import torch

from zoo.inr.augment import WeightAugment, augment_siren_params, random_affine
from zoo.inr.batched import batched_siren_forward, seeded_init_params
from zoo.models.siren import SirenConfig, make_coordinates


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_warped_inr_equals_original_at_warped_coordinates(depth: int) -> None:
    config = SirenConfig(hidden_width=16, depth=depth)
    flat = seeded_init_params(3, range(5), config, dtype=torch.float64)
    augment = WeightAugment(rotation_deg=40.0, scale=0.3, translation=0.4)
    warped = augment_siren_params(flat, config, augment, torch.Generator().manual_seed(1))
    matrix, shift = random_affine(5, augment, torch.Generator().manual_seed(1))
    coords = make_coordinates(9, 7, dtype=torch.float64)  # [N, 2]
    # reference: f(A p + t), evaluated with per-INR coordinate sets [B, N, 2]
    moved = torch.einsum("bij,nj->bni", matrix.double(), coords) + shift.double()[:, None, :]
    expected = batched_siren_forward(flat, moved, config)
    torch.testing.assert_close(batched_siren_forward(warped, coords, config), expected,
                               rtol=1e-10, atol=1e-10)
    # only the first layer changed, and the input is left alone
    first = config.layer_shapes()[0]
    n_first = first[0] * first[1] + first[0]
    assert torch.equal(warped[:, n_first:], flat[:, n_first:])
    assert not torch.equal(warped[:, :n_first], flat[:, :n_first])


def test_affine_ranges_are_respected() -> None:
    augment = WeightAugment(rotation_deg=10.0, scale=0.2, translation=0.05)
    matrix, shift = random_affine(2000, augment, torch.Generator().manual_seed(0))
    zoom = torch.sqrt(torch.det(matrix))
    angle = torch.atan2(matrix[:, 1, 0], matrix[:, 0, 0])
    assert zoom.min() >= 0.8 - 1e-6 and zoom.max() <= 1.2 + 1e-6
    assert angle.abs().max() <= math.radians(10.0) + 1e-6
    assert angle.min() < -math.radians(9.0) and angle.max() > math.radians(9.0)  # fills the range
    assert shift.abs().max() <= 0.05 + 1e-7
    # a rotation-and-zoom: A^T A = zoom^2 I
    gram = matrix.transpose(1, 2) @ matrix
    torch.testing.assert_close(gram, zoom[:, None, None] ** 2 * torch.eye(2).expand(2000, 2, 2))


def test_zero_ranges_are_identity() -> None:
    config = SirenConfig()
    flat = seeded_init_params(0, range(3), config)
    out = augment_siren_params(flat, config, WeightAugment(0.0, 0.0, 0.0))
    torch.testing.assert_close(out, flat)


@pytest.mark.parametrize("field,value", [("rotation_deg", -1.0), ("scale", 1.0),
                                         ("translation", 2.0)])
def test_invalid_ranges_are_rejected(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        WeightAugment(**{field: value})
