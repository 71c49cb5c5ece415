"""The CTV engine on block vertebrae: every row of every shipped guideline, both sides."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _ctv_blocks import MIRROR_SECTOR, mirror_block

from spinetv.errors import AnatomyError, GeometryMismatchError, GuidelineError
from spinetv.geometry import ImageGrid, LabelMap, Mask
from spinetv.guidelines import (
    GuidelineWarning,
    LevelSectors,
    build_ctv,
    list_guidelines,
    load_guideline,
)

# (guideline, GTV blocks on L2 (left-sided form), expected CTV sectors, rows that must fire)
SPINE_CASES = [
    ("isrc-2012", ["body_focal"], {1}, {"a"}),
    ("isrc-2012", ["body_lat_left"], {1, 2}, {"b"}),
    ("isrc-2012", ["body_diffuse"], {1, 2, 6}, {"c"}),
    ("isrc-2012", ["body_fill_right"], {1, 2, 6}, {"c"}),
    ("isrc-2012", ["body_focal", "pedicle_left"], {1, 2, 3}, {"a", "d"}),
    ("isrc-2012", ["body_focal", "pedicle_left", "pedicle_right"], {1, 2, 3, 5, 6}, {"a", "e"}),
    ("isrc-2012", ["pedicle_left"], {2, 3}, {"f"}),
    ("isrc-2012", ["lamina_left"], {2, 3, 4}, {"g"}),
    ("isrc-2012", ["spinous"], {3, 4, 5}, {"h"}),
    # combinations not in the table: the union of the rows of their parts
    ("isrc-2012", ["lamina_left", "spinous"], {2, 3, 4, 5}, {"g", "h"}),
    ("isrc-2012", ["body_lat_left", "lamina_right"], {1, 2, 4, 5, 6}, {"b", "g"}),
    ("isrc-2012", ["pedicle_left", "pedicle_right"], {2, 3, 5, 6}, {"f"}),
    # the ring by the criteria: body, a pedicle or lamina each side, spinous process
    ("isrc-2012", ["body_focal", "pedicle_left", "lamina_right", "spinous"], set(range(1, 7)),
     {"a", "d", "g", "h", "circumferential"}),
    # epidural and paraspinal parts of the GTV add no sector
    ("isrc-2012", ["body_focal", "epidural_left", "paraspinal_left"], {1}, {"a"}),
    # SmartBrush 3.0 has no body-class rule: a body lesion gets the sectors it touches (row i)
    ("brainlab-elements", ["body_focal"], {1}, {"i"}),
    ("brainlab-elements", ["body_lat_left"], {1}, {"i"}),
    ("brainlab-elements", ["body_diffuse"], {1}, {"i"}),
    ("brainlab-elements", ["body_focal", "pedicle_left"], {1, 2, 3}, {"d", "i"}),
    ("brainlab-elements", ["body_focal", "pedicle_left", "pedicle_right"], set(range(1, 7)),
     {"e", "i"}),
    ("brainlab-elements", ["pedicle_left"], {2, 3}, {"f", "i"}),
    ("brainlab-elements", ["lamina_left"], {2, 3, 4}, {"g", "i"}),
    ("brainlab-elements", ["spinous"], {3, 4, 5}, {"h", "i"}),
    ("whole-vertebra", ["body_focal"], set(range(1, 7)), {"a"}),
    ("whole-vertebra", ["lamina_left"], set(range(1, 7)), {"a"}),
    ("whole-body", ["lamina_left"], {1}, {"a"}),
    ("whole-body", ["body_lat_left"], {1}, {"a"}),
    ("rtog-0631", ["body_focal"], {1, 2, 6}, {"a"}),
    ("rtog-0631", ["body_lat_left"], {1, 2, 6}, {"a"}),
    ("rtog-0631", ["pedicle_left"], {2}, {"b"}),
    ("rtog-0631", ["lamina_left"], {3}, {"c"}),
    ("rtog-0631", ["spinous"], {4}, {"d"}),
    ("rtog-0631", ["body_focal", "lamina_left"], {1, 2, 3, 6}, {"a", "c"}),
    ("postop-2017", ["body_focal"], {1}, {"a", "i"}),
    ("postop-2017", ["body_lat_left"], {1, 2}, {"b", "i"}),
    ("postop-2017", ["body_diffuse"], {1, 2, 6}, {"c", "i"}),
    ("postop-2017", ["body_focal", "pedicle_left"], {1, 2, 3}, {"a", "d", "i"}),
    ("postop-2017", ["body_focal", "pedicle_left", "pedicle_right"], {1, 2, 3, 5, 6},
     {"a", "e", "i"}),
    ("postop-2017", ["pedicle_left"], {2, 3}, {"f", "i"}),
    ("postop-2017", ["lamina_left"], {2, 3, 4}, {"g", "i"}),
    ("postop-2017", ["spinous"], {3, 4, 5}, {"h", "i"}),
]

# Sacral segments: sector 2/6 = ala, 3/5 = lamina, 4 = median crest.
SACRAL_CASES = [
    (["body_focal"], {1}, {"a"}),
    (["body_lat_left"], {1, 2}, {"a", "b"}),
    (["body_lat_left", "pedicle_left"], {1, 2, 3}, {"a", "b", "c"}),
    (["body_focal", "pedicle_left"], {1, 2, 3}, {"a", "c"}),
    (["pedicle_left"], {1, 2}, {"d"}),
    (["lamina_left"], {2, 3, 4}, {"e"}),
    (["spinous"], {3, 4, 5}, {"f"}),
]


def _mirror(blocks, sectors):
    return [mirror_block(b) for b in blocks], {MIRROR_SECTOR[k] for k in sectors}


def _check(spine, result, chosen, gtv):
    assert result.sectors_by_level() == {lv: tuple(sorted(s)) for lv, s in chosen.items()}
    expected = spine.union(chosen, gtv)
    assert np.array_equal(result.mask.to_array(), expected)


@pytest.mark.parametrize("mirror", [False, True], ids=["left", "right"])
@pytest.mark.parametrize(("guideline", "blocks", "sectors", "rows"), SPINE_CASES)
def test_every_spine_row_on_both_sides(spine_l2, guideline, blocks, sectors, rows, mirror):
    if mirror:
        blocks, sectors = _mirror(blocks, sectors)
    gtv = spine_l2.gtv(("L2", b) for b in blocks)
    result = build_ctv(gtv, spine_l2.sectors(), guideline=guideline)
    _check(spine_l2, result, {"L2": sectors}, gtv)
    assert rows <= set(result.level("L2").row_ids)
    assert result.guideline_id == guideline


@pytest.mark.parametrize("mirror", [False, True], ids=["left", "right"])
@pytest.mark.parametrize(("blocks", "sectors", "rows"), SACRAL_CASES)
def test_every_sacral_row_on_both_sides(spine_factory, blocks, sectors, rows, mirror):
    spine = spine_factory(("S2",))
    if mirror:
        blocks, sectors = _mirror(blocks, sectors)
    gtv = spine.gtv(("S2", b) for b in blocks)
    result = build_ctv(gtv, spine.sectors(), guideline="ccr-sacrum-2020")
    _check(spine, result, {"S2": sectors}, gtv)
    assert set(result.level("S2").row_ids) == rows


def test_every_shipped_row_is_exercised():
    fired = {(g, r) for g, _, _, rows in SPINE_CASES for r in rows}
    fired |= {("ccr-sacrum-2020", r) for _, _, rows in SACRAL_CASES for r in rows}
    for name in list_guidelines():
        for row in load_guideline(name).rows:
            assert (name, row.id) in fired, f"{name} row {row.id} has no test case"


def test_lateralized_side_is_the_patients_on_a_mirrored_grid(spine_factory):
    for flip in (False, True):
        spine = spine_factory(("L2",), flip_lr=flip)
        gtv = spine.gtv([("L2", "body_lat_left"), ("L2", "lamina_right")])
        result = build_ctv(gtv, spine.sectors())
        level = result.level("L2")
        assert level.body is not None and level.body.side == "left"
        assert level.sectors == (1, 2, 4, 5, 6)
        assert [f.label for f in level.fired] == ["b(left)", "g(right)"]
        _check(spine, result, {"L2": {1, 2, 4, 5, 6}}, gtv)


def test_lr_axis_decides_the_side(spine_l2):
    gtv = spine_l2.gtv([("L2", "body_lat_left")])
    flipped = [LevelSectors("L2", spine_l2.sectors()["L2"], lr_axis_lps=(-1.0, 0.0, 0.0))]
    result = build_ctv(gtv, flipped)
    assert result.level("L2").body.side == "right"
    assert result.level("L2").sectors == (1, 6)


def test_multi_level_union(spine_factory):
    spine = spine_factory(("L1", "L2", "L3"))
    gtv = spine.gtv([("L1", "body_lat_left"), ("L2", "spinous"), ("L2", "lamina_right")])
    result = build_ctv(gtv, spine.sectors())
    _check(spine, result, {"L1": {1, 2}, "L2": {3, 4, 5, 6}}, gtv)
    assert result.level("L3").sectors == ()
    assert [lv.level for lv in result.levels] == ["L1", "L2", "L3"]


def test_sacral_craniocaudal_extent_spans_the_involved_bodies(spine_factory):
    # The failure-analysis case: S2/S3 body lesion with left S2 ala; S3's left ala and lamina
    # belong to the CTV because the body is involved there.
    spine = spine_factory(("S1", "S2", "S3", "S4"))
    gtv = spine.gtv([("S2", "body_lat_left"), ("S2", "pedicle_left"), ("S3", "body_focal")])
    result = build_ctv(gtv, spine.sectors(), guideline="ccr-sacrum-2020")
    _check(spine, result, {"S2": {1, 2, 3}, "S3": {1, 2, 3}}, gtv)
    extended = [f for f in result.level("S3").fired if f.reason.startswith("extended from S2")]
    assert [f.label for f in extended] == ["c(left)"]
    assert result.level("S1").sectors == () and result.level("S4").sectors == ()


def test_sacral_without_ala_has_no_craniocaudal_extension(spine_factory):
    spine = spine_factory(("S1", "S2"))
    gtv = spine.gtv([("S1", "lamina_left"), ("S2", "body_focal")])
    result = build_ctv(gtv, spine.sectors(), guideline="ccr-sacrum-2020")
    _check(spine, result, {"S1": {2, 3, 4}, "S2": {1}}, gtv)


def test_lumbosacral_gtv_uses_the_sacral_guideline_for_s1(spine_factory):
    spine = spine_factory(("L5", "S1"))
    gtv = spine.gtv([("L5", "body_lat_left"), ("S1", "pedicle_right")])
    result = build_ctv(gtv, spine.sectors())
    _check(spine, result, {"L5": {1, 2}, "S1": {1, 6}}, gtv)
    assert result.level("S1").guideline_id == "ccr-sacrum-2020"
    assert result.guidelines == ("isrc-2012@1.0", "ccr-sacrum-2020@1.0")
    with pytest.raises(GuidelineError, match=r"applies to cervical, thoracic, lumbar.*S1"):
        build_ctv(gtv, spine.sectors(), sacral_guideline=None)


def test_stated_circumferential_epidural_disease_gives_the_ring(spine_factory):
    spine = spine_factory(("L1", "L2"))
    gtv = spine.gtv([("L1", "body_focal"), ("L2", "body_focal"), ("L2", "epidural_left")])
    everywhere = build_ctv(gtv, spine.sectors(), circumferential_epidural=True)
    _check(spine, everywhere, {"L1": set(range(1, 7)), "L2": set(range(1, 7))}, gtv)
    assert everywhere.level("L2").circumferential.startswith("circumferential epidural")
    only_l2 = build_ctv(gtv, spine.sectors(), circumferential_epidural=["L2"],
                        guideline="postop-2017")
    _check(spine, only_l2, {"L1": {1}, "L2": set(range(1, 7))}, gtv)
    with pytest.raises(GuidelineError, match="no circumferential rule"):
        build_ctv(gtv, spine.sectors(), guideline="whole-body", circumferential_epidural=True)
    with pytest.raises(GuidelineError, match="not among the levels"):
        build_ctv(gtv, spine.sectors(), circumferential_epidural=["T4"])


def test_parameters_are_named_and_overridable(spine_l2):
    fill = spine_l2.gtv([("L2", "body_fill_right")])
    default = build_ctv(fill, spine_l2.sectors())
    assert default.level("L2").body.body_class == "diffuse"
    assert default.level("L2").body.fraction == pytest.approx(16 / 24)
    strict = build_ctv(fill, spine_l2.sectors(), parameters={"diffuse_fraction": 0.8})
    assert strict.level("L2").body.body_class == "focal"
    assert strict.level("L2").sectors == (1,)
    assert strict.level("L2").parameters["diffuse_fraction"] == 0.8

    pedicle = spine_l2.gtv([("L2", "pedicle_right")])
    with_body = build_ctv(pedicle, spine_l2.sectors(), parameters={"pedicle_includes_body": True})
    assert with_body.level("L2").sectors == (1, 5, 6)

    lat = spine_l2.gtv([("L2", "body_near_mid")])
    tolerant = build_ctv(lat, spine_l2.sectors())
    assert (tolerant.level("L2").body.body_class, tolerant.level("L2").body.side) == (
        "lateralized", "left")
    # voxel centres -1.5..+5.5 mm, so the voxels reach -2..+6 mm
    assert tolerant.level("L2").body.offset_range_mm == pytest.approx((-2.0, 6.0))
    strict_midline = build_ctv(lat, spine_l2.sectors(), parameters={"midline_tolerance_mm": 1.0})
    assert strict_midline.level("L2").body.body_class == "focal"
    assert strict_midline.level("L2").sectors == (1,)
    with pytest.raises(GuidelineError, match="unknown parameter 'min_overlap'"):
        build_ctv(lat, spine_l2.sectors(), parameters={"min_overlap": 1})
    with pytest.raises(GuidelineError, match="diffuse_fraction.*<= 1"):
        build_ctv(lat, spine_l2.sectors(), parameters={"diffuse_fraction": 1.5})


def test_min_overlap_decides_involvement(spine_l2):
    gtv = spine_l2.gtv([("L2", "body_focal"), ("L2", "body_tiny"), ("L2", "pedicle_left")])
    result = build_ctv(gtv, spine_l2.sectors(), parameters={"min_overlap_cc": 0.07})
    # pedicle overlap 0.064 cc < 0.07: only the body is involved
    assert result.level("L2").involved == (1,)
    assert result.level("L2").involvement.overlaps_cc[2] == pytest.approx(0.064)


def test_sub_threshold_gtv_warns_and_gives_the_gtv(spine_l2):
    gtv = spine_l2.gtv([("L2", "body_tiny")])
    with pytest.warns(GuidelineWarning, match="less than min_overlap_cc"):
        result = build_ctv(gtv, spine_l2.sectors())
    assert np.array_equal(result.mask.to_array(), gtv.to_array())
    assert result.involved_levels == ()


def test_explanation_is_json_ready_and_short_description(spine_factory):
    spine = spine_factory(("L2", "L3"))
    gtv = spine.gtv([("L2", "body_focal"), ("L2", "pedicle_left")])
    result = build_ctv(gtv, spine.sectors())
    assert result.roi_description == "isrc-2012 L2:a,d sectors 1,2,3"
    data = json.loads(json.dumps(result.explanation_as_dict()))
    level = data["levels"][0]
    assert level["level"] == "L2" and level["sectors"] == [1, 2, 3]
    assert level["involved"] == [1, 2]
    assert {r["id"] for r in level["rows"]} == {"a", "d"}
    assert all(r["citation"] == "cox2012" and r["verified"] is False for r in level["rows"])
    assert level["overlaps_cc"]["2"] == pytest.approx(0.064)
    assert level["parameters"]["min_overlap_cc"] == 0.02
    assert "rows a, d(left)" in result.explanation_text()

    many = spine_factory(("T10", "T11", "T12", "L1", "L2"))
    parts = [(n, b) for n in many.names for b in ("body_focal", "lamina_left", "spinous")]
    big = build_ctv(many.gtv(parts), many.sectors())
    assert len(big.roi_description) <= 64 and big.roi_description.endswith("...")


def test_vertebra_sectors_like_objects_are_accepted(spine_l2):
    class Frame:
        lr_axis = np.array([1.0, 0.0, 0.0])

    class Vertebra:
        level = "vertebrae_L2"
        labels = LabelMap.from_array(spine_l2.grid, spine_l2.label_array())
        frame = Frame()

    gtv = spine_l2.gtv([("L2", "lamina_right")])
    result = build_ctv(gtv, [Vertebra()])
    assert result.sectors_by_level() == {"L2": (4, 5, 6)}


def test_errors_name_the_problem(spine_l2, spine_factory):
    sectors = spine_l2.sectors()
    far = np.zeros(spine_l2.grid.shape, dtype=bool)
    far[3:7, 40:44, 0:3] = True  # soft tissue 9 mm behind the right lamina
    with pytest.raises(AnatomyError, match="touches none of the vertebrae.*abutting_mm=2 mm"):
        build_ctv(Mask.from_array(spine_l2.grid, far), sectors)
    partial = {"L2": {k: m for k, m in sectors["L2"].items() if k != 4}}
    with pytest.raises(AnatomyError, match=r"level L2: sector\(s\) \[4\] missing"):
        build_ctv(spine_l2.gtv([("L2", "body_focal")]), partial)
    with pytest.raises(AnatomyError, match="not a vertebral level"):
        build_ctv(spine_l2.gtv([("L2", "body_focal")]), {"sacrum": sectors["L2"]})
    with pytest.raises(GuidelineError, match="GTV mask is empty"):
        build_ctv(Mask.empty(spine_l2.grid), sectors)
    other = ImageGrid((5, 5, 5), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    with pytest.raises(GeometryMismatchError, match="the GTV"):
        build_ctv(Mask.from_array(other, np.ones((5, 5, 5))), sectors)
    with pytest.raises(GuidelineError, match="unknown guideline 'isrc'"):
        build_ctv(spine_l2.gtv([("L2", "body_focal")]), sectors, guideline="isrc")


def test_soft_tissue_margin_stays_out_of_canal_and_bone(spine_l2):
    gtv = spine_l2.gtv([("L2", "body_focal"), ("L2", "epidural_left"), ("L2", "paraspinal_left")])
    sectors = spine_l2.sectors()
    with pytest.raises(GuidelineError, match="needs the spinal canal"):
        build_ctv(gtv, sectors, parameters={"soft_tissue_margin_mm": 3.0})
    canal = spine_l2.canal()
    result = build_ctv(gtv, sectors, parameters={"soft_tissue_margin_mm": 3.0}, canal=canal)
    plain = build_ctv(gtv, sectors)
    grown = result.mask.to_array() & ~plain.mask.to_array()
    assert grown.any()
    assert not (grown & canal.to_array()).any()
    assert not (grown & spine_l2.label_array().astype(bool)).any()
    assert plain.mask.to_array()[result.mask.to_array() == 0].sum() == 0  # result contains plain


def test_sacral_crest_may_be_empty_and_guideline_gaps_are_noted(spine_factory):
    spine = spine_factory(("S4",))
    sectors = spine.sectors()
    no_crest = {"S4": {**sectors["S4"], 4: Mask.empty(spine.grid)}}
    gtv = spine.gtv([("S4", "body_lat_right")])
    assert build_ctv(gtv, no_crest).sectors_by_level() == {"S4": (1, 6)}
    lumbar = spine_factory(("L4",))
    with pytest.raises(AnatomyError, match=r"sector\(s\) \[4\] are empty"):
        build_ctv(lumbar.gtv([("L4", "body_focal")]),
                  {"L4": {**lumbar.sectors()["L4"], 4: Mask.empty(lumbar.grid)}})
    lamina = lumbar.gtv([("L4", "lamina_left")])
    result = build_ctv(lamina, lumbar.sectors(), guideline="whole-body")
    assert result.level("L4").notes and "[3]" in result.level("L4").notes[0]


def test_purely_paraspinal_gtv_is_handled_by_the_rows_of_the_sector_it_abuts(spine_l2):
    para = spine_l2.gtv([("L2", "paraspinal_left")])
    with pytest.warns(GuidelineWarning, match=r"sector\(s\) 3 within abutting_mm=2 mm.*\[lib\]"):
        result = build_ctv(para, spine_l2.sectors())
    level = result.level("L2")
    assert level.involvement.abutted == (3,) and level.involved == (3,)
    assert level.row_ids == ("g",) and level.sectors == (2, 3, 4)
    decision = level.as_dict()["involvement_decisions"]["3"]
    assert decision["abutted"] and decision["overlap_cc"] == 0
    strict = build_ctv(para, spine_l2.sectors(), parameters={"abutting_mm": 0.0})
    assert strict.level("L2").sectors == (2, 3, 4)  # it touches the lamina: gap 0


def test_purely_epidural_gtv_abuts_body_and_pedicle(spine_l2):
    epidural = spine_l2.gtv([("L2", "epidural_left")])
    with pytest.warns(GuidelineWarning, match="library's choice"):
        result = build_ctv(epidural, spine_l2.sectors(), canal=spine_l2.canal())
    level = result.level("L2")
    assert level.involvement.abutted == (1, 2)
    assert set(level.row_ids) == {"a", "d"} and level.sectors == (1, 2, 3)
    assert result.outside["epidural_cc"] == pytest.approx(epidural.volume_cc)
    assert result.outside["paraspinal_cc"] == 0


def test_gtv_outside_the_vertebrae_is_reported_with_where_it_lies(spine_l2):
    blocks = [("L2", "body_focal"), ("L2", "epidural_left"), ("L2", "paraspinal_left")]
    gtv = spine_l2.gtv(blocks)
    result = build_ctv(gtv, spine_l2.sectors(), canal=spine_l2.canal())
    epi = spine_l2.gtv([blocks[1]]).volume_cc
    para = spine_l2.gtv([blocks[2]]).volume_cc
    outside = result.explanation_as_dict()["gtv_outside_vertebrae"]
    assert outside["outside_cc"] == pytest.approx(epi + para)
    assert outside["epidural_cc"] == pytest.approx(epi)
    assert outside["paraspinal_cc"] == pytest.approx(para)
    assert outside["by_level"]["L2"]["outside_cc"] == pytest.approx(epi + para)
    # row 20, column 46 to the lamina's corner at row 24, column 43: 5 mm
    assert outside["by_level"]["L2"]["farthest_from_bone_mm"] == pytest.approx(5.0)
    assert result.level("L2").involvement.abutted == ()  # the body is involved: normal rows
