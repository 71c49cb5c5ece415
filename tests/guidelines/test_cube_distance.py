"""The separable cube distance behind penetration depth and abutment, against brute force.

The reference measures, for every voxel centre, the distance to every feature voxel's cube
directly (per axis the gap beyond the cube's half-width, or beyond a whole voxel for cube to
cube), which shares nothing with the min-plus passes under test.
"""

from __future__ import annotations

import numpy as np
import pytest

from spinetv.guidelines.involvement import _cube_distance_sq


def _brute_force(
    features: np.ndarray, spacing: np.ndarray, reach: np.ndarray, gap_voxels: float
) -> np.ndarray:
    sources = np.argwhere(features)
    out = np.full(features.shape, np.inf)
    for voxel in np.ndindex(features.shape):
        if not len(sources):
            break
        offsets = np.abs(sources - np.asarray(voxel))
        within = np.all(offsets <= reach, axis=1)
        if not within.any():
            continue
        gaps = np.where(offsets[within] == 0, 0.0, np.maximum(offsets[within] - gap_voxels, 0.0))
        out[voxel] = float(((gaps * spacing) ** 2).sum(axis=1).min())
    return out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("gap_voxels", [0.5, 1.0])
def test_matches_brute_force_whole_and_core(seed: int, gap_voxels: float) -> None:
    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in rng.integers(9, 14, 3))
    spacing = rng.uniform(0.6, 3.0, 3)
    reach = rng.integers(1, 4, 3)
    features = rng.random(shape) < rng.uniform(0.005, 0.08)
    expected = _brute_force(features, spacing, reach, gap_voxels)

    whole = _cube_distance_sq(features, spacing, reach, gap_voxels=gap_voxels)
    np.testing.assert_allclose(whole, expected, rtol=1e-12, atol=1e-12)

    core = _cube_distance_sq(features, spacing, reach, gap_voxels=gap_voxels, border=reach)
    inner = tuple(slice(int(r), n - int(r)) for r, n in zip(reach, shape))
    assert core.shape == expected[inner].shape
    np.testing.assert_allclose(core, expected[inner], rtol=1e-12, atol=1e-12)


def test_no_feature_is_infinitely_far() -> None:
    features = np.zeros((7, 7, 7), dtype=bool)
    distance = _cube_distance_sq(features, np.ones(3), np.array([2, 2, 2]))
    assert np.isinf(distance).all()
