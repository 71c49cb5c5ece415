"""The CTV engine and audit on the anatomical spine phantom (ground-truth parts and frames)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from spinetv.geometry import Mask
from spinetv.guidelines import LevelSectors, audit_ctv, build_ctv

phantom = pytest.importorskip("spinetv.phantom.generator")
GtvSpec = phantom.GtvSpec


def _levels(p, names):
    # The phantom's own local frame gives the left-right axis (rotation and prone included).
    return [LevelSectors(n, p.parts[n], tuple(p.frames[n].axes_lps[:, 0]), p.canal) for n in names]


def _expected(p, chosen):
    out = p.gtv.to_array()
    for level, sectors in chosen.items():
        for k in sectors:
            out |= p.parts[level][k].to_array()
    return out


# (levels, lesions, expected sectors per level, body class, body side)
CASES = [
    (("C4", "C5", "C6"), [GtvSpec("C5", sectors=(3,))], {"C5": {2, 3, 4}}, None, None),
    (("T7", "T8", "T9"), [GtvSpec("T8", sectors=(1,), body_side="diffuse")],
     {"T8": {1, 2, 6}}, "diffuse", None),
    (("L1", "L2", "L3"), [GtvSpec("L2", sectors=(1, 2), body_side="left", epidural_mm=3.0)],
     {"L2": {1, 2, 3}}, "lateralized", "left"),
    (("L1", "L2", "L3"), [GtvSpec("L2", sectors=(4,), paraspinal_mm=4.0)],
     {"L2": {3, 4, 5}}, None, None),
    # sacral failure-analysis case: S2 body (left) and left ala, S3 body: S3 gets ala + lamina
    (("S1", "S2", "S3", "S4"),
     [GtvSpec("S2", sectors=(1, 2), body_side="left"), GtvSpec("S3", sectors=(1,),
                                                                body_side="focal")],
     {"S2": {1, 2, 3}, "S3": {1, 2, 3}}, "lateralized", "left"),
]


@pytest.mark.parametrize("orientation", ["HFS", "HFP"])
@pytest.mark.parametrize(("names", "lesions", "chosen", "body_class", "side"), CASES,
                         ids=["cervical", "thoracic", "lumbar", "spinous", "sacral"])
def test_phantom_ctv_matches_the_table(names, lesions, chosen, body_class, side, orientation):
    p = phantom.make_spine_phantom(levels=names, spacing_mm=(2.0, 1.0, 1.0),
                                   orientation=orientation, axial_rotation_deg=10.0, gtv=lesions)
    levels = _levels(p, names)
    result = build_ctv(p.gtv, levels)
    assert {k: set(v) for k, v in result.sectors_by_level().items()} == chosen
    assert np.array_equal(result.mask.to_array(), _expected(p, chosen))
    first = result.level(next(iter(chosen)))
    assert (first.body.body_class if first.body else None) == body_class
    assert (first.body.side if first.body else None) == side
    audit = audit_ctv(result.mask, p.gtv, levels)
    assert audit.compliant and audit.dice == pytest.approx(1.0)


def test_phantom_audit_flags_a_missing_ipsilateral_pedicle():
    p = phantom.make_spine_phantom(levels=("L2", "L3"), spacing_mm=(2.0, 1.0, 1.0),
                                   gtv=GtvSpec("L3", sectors=(1,), body_side="right"))
    levels = _levels(p, ("L2", "L3"))
    body_only = p.parts["L3"][1].to_array() | p.gtv.to_array()
    audit = audit_ctv(Mask.from_array(p.grid, body_only), p.gtv, levels)
    assert [(d.category.number, d.level, d.sector) for d in audit.deviations] == [(2, "L3", 6)]


# Involvement is a property of the anatomy (issue 11): the same lesions on the anatomical
# phantom at fine and coarse pixels and slices give the same involved and CTV sectors.
# (All 12 combinations of 0.8/1/2/3 mm pixels and 1/2/3 mm slices were checked by hand; these
# six keep the test short.)
RESOLUTIONS = [(1.0, 0.8), (2.0, 1.0), (1.0, 3.0), (3.0, 1.0), (2.0, 2.0), (3.0, 3.0)]


@pytest.mark.parametrize(("slice_mm", "pixel_mm"), RESOLUTIONS,
                         ids=[f"{s:g}mm-slices-{p:g}mm-pixels" for s, p in RESOLUTIONS])
def test_phantom_rows_do_not_depend_on_the_voxel_size(slice_mm, pixel_mm):
    for names, lesions, chosen, _, _ in CASES:
        p = phantom.make_spine_phantom(levels=names, spacing_mm=(slice_mm, pixel_mm, pixel_mm),
                                       axial_rotation_deg=10.0, gtv=lesions)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # close calls are warned; the answer is what counts
            result = build_ctv(p.gtv, _levels(p, names))
        assert {k: set(v) for k, v in result.sectors_by_level().items()} == chosen, names
