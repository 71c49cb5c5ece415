"""Sectors against the phantom's ground truth (section-2 rule on its analytic canal).

Two canals: the phantom's own (contoured) and the one derived from the bone. The phantom's
canal is the space its bony ring encloses (constant over each level's height, lined by bone at
the pedicles' height), so the derived canal finds the same walls, and both label by the same
rule, including its refinements (sector 1 only within the body's width, ties at a wall go
posterior). Measured minimum Dice per sector with the derived canal: 0.957 (S3 ala), >= 0.966
for every C1-L5 case; with the contoured canal >= 0.954 (C2 included).
"""

from __future__ import annotations

import numpy as np
import pytest
from _anatomy_synthetic import dice

from spinetv.anatomy.canal import derive_canal
from spinetv.anatomy.sectors import label_spine
from spinetv.geometry.margins import Margin, expand

phantom = pytest.importorskip("spinetv.phantom")

CASES = {
    "cervical": dict(levels="C1-C4"),
    "thoracic": dict(levels="T6-T8"),
    "lumbar": dict(levels="L2-L4"),
    "sacral": dict(levels="L5-S3"),
    "FFS": dict(levels="L2-L4", orientation="FFS"),
    "HFP": dict(levels="L2-L4", orientation="HFP"),
    "anisotropic": dict(levels="L2-L4", spacing_mm=(2.5, 0.8, 0.8)),
    "lordosis30": dict(levels="L2-L4", lordosis_deg=30.0),
    "rotation15": dict(levels="L2-L4", axial_rotation_deg=15.0),
}
# Floors a little under the measured minima (see the module docstring).
CONTOURED_MIN = 0.95
# C2 with the contoured canal: the canal's walls are measured per 1 mm slab; in the slabs
# below C2's laminae the nearest bone behind the canal is its long, caudally tilted spinous
# process, which moved the pedicle/lamina border there (measured 0.903) until a contoured
# canal's wall was placed on its own surface where no bone lies within 1.5 voxels of it
# (SectorOptions.contoured_wall_max_gap_voxels): measured 1.000 since.
CONTOURED_MIN_C2 = 0.95
DERIVED_MIN = 0.95
# Canal Dice, derived vs the phantom's, middle 10 mm of each level. The derived canal is grown
# by one voxel where no bone bounds it, so that it holds the whole true canal (PTV_Eval must
# never keep canal); measured >= 0.96 on every mobile level, >= 0.82 sacral.
CANAL_MIN = 0.95
CANAL_MIN_SACRAL = 0.80


@pytest.fixture(scope="module", params=list(CASES))
def case(request: pytest.FixtureRequest) -> tuple[str, object]:
    kwargs = {"spacing_mm": (1.0, 1.0, 1.0), **CASES[request.param]}
    return request.param, phantom.make_spine_phantom(**kwargs)


def _dices(result: dict, truth: object) -> dict[tuple[str, int], float]:
    return {
        (level, k): dice(result[level].sector(k), truth.parts[level][k])  # type: ignore[attr-defined]
        for level in result
        for k in range(1, 7)
        if not truth.parts[level][k].is_empty  # type: ignore[attr-defined]
    }


def test_sectors_match_phantom_with_its_canal(case: tuple[str, object]) -> None:
    _, truth = case
    result = label_spine(truth.vertebrae, canal=truth.canal)  # type: ignore[attr-defined]
    assert all(r.canal_method == "contoured" for r in result.values())
    for (level, k), value in _dices(result, truth).items():
        floor = CONTOURED_MIN_C2 if level == "C2" and k in (2, 3, 5, 6) else CONTOURED_MIN
        assert value >= floor, f"{level} sector {k}: Dice {value:.3f}"


def test_sectors_match_phantom_with_derived_canal(case: tuple[str, object]) -> None:
    _, truth = case
    result = label_spine(truth.vertebrae, cord=truth.cord)  # type: ignore[attr-defined]
    for level, sectors in result.items():
        assert sectors.canal_method in ("ring closure", "cord-seeded ring closure"), level
    for (level, k), value in _dices(result, truth).items():
        assert value >= DERIVED_MIN, f"{level} sector {k}: Dice {value:.3f}"


def test_derived_canal_is_the_phantoms_canal(case: tuple[str, object]) -> None:
    # The phantom's canal is the space the bony ring encloses: deriving it from the bone finds
    # it again, over the middle 10 mm of each level. A straight prism along a curved canal is
    # narrower by the sagitta (lordosis, and the thin, kyphotic sacral canal).
    name, truth = case
    derived = derive_canal(truth.vertebrae, cord=truth.cord)  # type: ignore[attr-defined]
    for level, vertebra in truth.vertebrae.items():  # type: ignore[attr-defined]
        box = vertebra.box
        ijk = np.indices(box.shape).reshape(3, -1).T + np.asarray(box.start)
        lps = vertebra.grid.index_to_lps(ijk)
        si_mm = truth.frames[level].to_local(lps)[:, 2].reshape(box.shape)  # type: ignore[attr-defined]
        middle = np.abs(si_mm) <= 5.0
        mine = derived.mask.in_box(box) & middle
        theirs = truth.canal.in_box(box) & middle  # type: ignore[attr-defined]
        overlap = 2.0 * float((mine & theirs).sum()) / float(mine.sum() + theirs.sum())
        sacral = level.startswith("S")
        assert overlap >= (CANAL_MIN_SACRAL if sacral else CANAL_MIN), (
            f"{level}: canal Dice {overlap:.3f}"
        )
        if not sacral:
            # PTV_Eval excludes the derived canal grown by derived_canal_safety_mm (1.5 mm):
            # the true canal lies within it.
            grown = expand(derived.mask, Margin.isotropic(1.5)).in_box(box) & middle
            missed = int((theirs & ~grown).sum())
            assert missed == 0, f"{level}: {missed} voxels of the true canal left out"


# Random poses (benchmarks/bench_anatomy_poses.py, seed 2026) whose pedicles fell below 0.95
# while the derived canal's anterior wall was measured per slab from the bone beside a rounded
# canal (too shallow) and from one slab at a time (off by up to half a voxel with the phase
# of a tilted lattice): measured 0.909 (T6 right pedicle), 0.926 (T6 left), 0.930 (C4 left);
# 0.981, 0.975 and 0.979 since the wall is measured in the canal's midline and steadied over
# the slabs whose bounds overlap.
POSES = {
    "T6 tilt -2.4": dict(
        levels="T5-T7", level="T6", tilt_deg=-2.4, axial_rotation_deg=2.3,
        orientation="HFP", spacing_mm=(2.28, 1.18, 1.18),
    ),
    "T6 tilt -29": dict(
        levels="T5-T7", level="T6", tilt_deg=-29.0, axial_rotation_deg=-2.9,
        orientation="FFP", spacing_mm=(2.13, 0.9, 0.9),
    ),
    "C4 tilt 6.3": dict(
        levels="C3-C5", level="C4", tilt_deg=6.3, axial_rotation_deg=-0.5,
        orientation="HFS", spacing_mm=(1.31, 0.82, 0.82),
    ),
}


@pytest.mark.parametrize("name", list(POSES))
def test_pedicles_on_tilted_grids(name: str) -> None:
    kwargs = dict(POSES[name])
    level = str(kwargs.pop("level"))
    truth = phantom.make_spine_phantom(**kwargs)
    result = label_spine(truth.vertebrae)
    for k in range(1, 7):
        value = dice(result[level].sector(k), truth.parts[level][k])
        assert value >= DERIVED_MIN, f"{level} sector {k}: Dice {value:.3f}"
    # The anterior wall of the body's slabs lies within half a voxel of the truth.
    walls = result[level].walls
    middle = (walls.slab_edges_mm[1:] > -5.0) & (walls.slab_edges_mm[:-1] < 5.0)
    depth = truth.frames[level].canal_half_depth_mm
    pixel = sorted(truth.grid.spacing_mm)[1]
    assert np.all(np.abs(walls.anterior_mm[middle] + depth) <= 0.5 * pixel), walls.anterior_mm
