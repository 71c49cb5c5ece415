"""Audit: each planted deviation is flagged in its own category; a compliant CTV is not."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spinetv.geometry import Mask
from spinetv.guidelines import DeviationCategory, audit_ctv, build_ctv

UNCOVERED = DeviationCategory.UNCOVERED_INVOLVED
ADJACENT = DeviationCategory.OMITTED_ADJACENT
RING = DeviationCategory.UNWARRANTED_CIRCUMFERENTIAL


def _ctv(spine, sectors, gtv, *, drop=None):
    array = spine.union({"L2": sectors}, gtv)
    if drop is not None:
        array &= ~drop
    return Mask.from_array(spine.grid, array)


@pytest.mark.parametrize("side", ["left", "right"])
def test_guideline_ctv_is_compliant(spine_l2, side):
    gtv = spine_l2.gtv([("L2", f"body_lat_{side}")])
    reference = build_ctv(gtv, spine_l2.sectors())
    result = audit_ctv(reference.mask, gtv, spine_l2.sectors())
    assert result.compliant and result.deviations == ()
    assert result.dice == pytest.approx(1.0)
    assert json.loads(json.dumps(result.as_dict()))["compliant"] is True


@pytest.mark.parametrize("side", ["left", "right"])
def test_part_of_an_involved_sector_uncovered(spine_l2, side):
    gtv = spine_l2.gtv([("L2", f"body_lat_{side}")])
    pedicle = 2 if side == "left" else 6
    drop = np.zeros(spine_l2.grid.shape, dtype=bool)
    drop[:, 10:16, :] = True  # the front... of the body: rows 10-15, away from the GTV
    result = audit_ctv(_ctv(spine_l2, {1, pedicle}, gtv, drop=drop), gtv, spine_l2.sectors())
    assert not result.compliant
    found = result.by_category(UNCOVERED)
    assert [(d.level, d.sector) for d in found] == [("L2", 1)]
    assert found[0].volume_cc == pytest.approx(6 * 24 * 8 / 1000)
    assert found[0].fraction == pytest.approx(6 / 14)
    assert result.by_category(ADJACENT) == () and result.by_category(RING) == ()
    assert result.dice < 1.0


@pytest.mark.parametrize("side", ["left", "right"])
def test_adjacent_sector_omitted(spine_l2, side):
    gtv = spine_l2.gtv([("L2", f"body_lat_{side}")])
    pedicle = 2 if side == "left" else 6
    result = audit_ctv(_ctv(spine_l2, {1}, gtv), gtv, spine_l2.sectors())
    found = result.by_category(ADJACENT)
    assert [(d.level, d.sector) for d in found] == [("L2", pedicle)]
    assert found[0].fraction == pytest.approx(1.0)
    assert found[0].volume_cc == pytest.approx(spine_l2.sectors()["L2"][pedicle].volume_cc)
    assert result.by_category(UNCOVERED) == ()
    assert found[0].category.number == 2


def test_unwarranted_ring_is_flagged_but_a_warranted_one_is_not(spine_l2):
    gtv = spine_l2.gtv([("L2", "body_lat_left")])
    ring = _ctv(spine_l2, set(range(1, 7)), gtv)
    result = audit_ctv(ring, gtv, spine_l2.sectors())
    found = result.by_category(RING)
    assert len(found) == 1 and found[0].level == "L2"
    sectors = spine_l2.sectors()["L2"]
    assert found[0].volume_cc == pytest.approx(sum(sectors[k].volume_cc for k in (3, 4, 5, 6)))
    assert result.by_category(UNCOVERED) == () and result.by_category(ADJACENT) == ()

    full = spine_l2.gtv([("L2", b) for b in ("body_focal", "pedicle_left", "lamina_right",
                                             "spinous")])
    assert audit_ctv(_ctv(spine_l2, set(range(1, 7)), full), full, spine_l2.sectors()).compliant
    stated = audit_ctv(ring, gtv, spine_l2.sectors(), circumferential_epidural=True)
    assert stated.compliant


def test_tolerances_absorb_a_thin_miss(spine_l2):
    gtv = spine_l2.gtv([("L2", "body_lat_left")])
    drop = np.zeros(spine_l2.grid.shape, dtype=bool)
    drop[:, 2, :] = True  # one voxel layer of the body: 24*8 voxels = 0.19 cc, 7% of the body
    ctv = _ctv(spine_l2, {1, 2}, gtv, drop=drop)
    assert not audit_ctv(ctv, gtv, spine_l2.sectors()).compliant
    lenient = audit_ctv(ctv, gtv, spine_l2.sectors(),
                        parameters={"uncovered_tolerance_fraction": 0.1})
    assert lenient.compliant


def test_gtv_outside_the_ctv_is_reported(spine_l2):
    gtv = spine_l2.gtv([("L2", "body_lat_left"), ("L2", "paraspinal_left")])
    ctv = _ctv(spine_l2, {1, 2}, spine_l2.gtv([("L2", "body_lat_left")]))
    assert audit_ctv(ctv, gtv, spine_l2.sectors()).compliant  # 0.072 cc < 0.1 cc tolerance
    result = audit_ctv(ctv, gtv, spine_l2.sectors(), parameters={"uncovered_tolerance_cc": 0.05})
    found = result.by_category(DeviationCategory.GTV_UNCOVERED)
    assert len(found) == 1 and found[0].volume_cc == pytest.approx(0.072)
    assert found[0].category.number is None


def test_multi_level_audit_reports_per_level(spine_factory):
    spine = spine_factory(("L1", "L2"))
    gtv = spine.gtv([("L1", "spinous"), ("L2", "pedicle_right")])
    ctv = Mask.from_array(spine.grid, spine.union({"L1": {3, 4, 5}, "L2": {6}}, gtv))
    result = audit_ctv(ctv, gtv, spine.sectors())
    assert [(d.level, d.category, d.sector) for d in result.deviations] == [
        ("L2", ADJACENT, 5)]
    assert [lv.level for lv in result.levels] == ["L1", "L2"]
    assert result.levels[1].guideline_sectors == (5, 6)
    assert result.levels[0].coverage[4] == pytest.approx(1.0)
    assert "1 deviation" in result.text()
