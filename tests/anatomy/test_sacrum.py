"""Sacral segments along the curved axis, compartments, canal and foramina (phantom sacrum)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _anatomy_synthetic import dice

from spinetv.anatomy.canal import derive_canal
from spinetv.anatomy.sacrum import (
    derive_sacral_canal,
    derive_sacral_foramina,
    label_sacral_segment,
    sacral_body_borders,
    sacral_centreline,
    sacral_left_axis,
    split_sacrum,
    split_sacrum_detailed,
)
from spinetv.anatomy.sectors import SectorOptions, label_sectors
from spinetv.errors import AnatomyError, AnatomyWarning
from spinetv.geometry import Mask
from spinetv.geometry.booleans import union
from spinetv.pipeline import Anatomy, label_case_sectors

phantom = pytest.importorskip("spinetv.phantom")
SEGMENTS = ("S1", "S2", "S3", "S4", "S5")


@pytest.fixture(scope="module")
def pelvis() -> object:
    return phantom.make_spine_phantom(levels="L5-S5", spacing_mm=(1.5, 1.5, 1.5))


def _sacrum(truth: object) -> Mask:
    array = np.zeros(truth.grid.shape, dtype=bool)  # type: ignore[attr-defined]
    for name in SEGMENTS:
        array |= truth.vertebrae[name].to_array()  # type: ignore[attr-defined]
    return Mask.from_array(truth.grid, array)  # type: ignore[attr-defined]


def test_split_partitions_along_the_curve(pelvis: object) -> None:
    sacrum = _sacrum(pelvis)
    segments = split_sacrum(sacrum)
    assert list(segments) == list(SEGMENTS)
    total = np.zeros(sacrum.grid.shape, dtype=np.int8)
    for mask in segments.values():
        total += mask.to_array()
    assert np.array_equal(total, sacrum.to_array().astype(np.int8))
    line = sacral_centreline(sacrum)
    assert line[0, 2] > line[-1, 2]
    # The sacral axis bends backwards: its lower end lies posterior to its upper end.
    assert line[-1, 1] > line[0, 1]
    for name in SEGMENTS:
        assert dice(segments[name], pelvis.vertebrae[name]) > 0.7, name  # type: ignore[attr-defined]


def test_split_keeps_a_given_s1(pelvis: object) -> None:
    sacrum = _sacrum(pelvis)
    s1 = pelvis.vertebrae["S1"]  # type: ignore[attr-defined]
    segments = split_sacrum(sacrum, s1=s1, n_segments=4)
    assert list(segments) == ["S1", "S2", "S3", "S4"]
    # The given S1 is kept whole (the bone of the sacrum at its level may join it).
    assert (segments["S1"].to_array() & s1.to_array()).sum() == s1.voxel_count
    assert not (segments["S2"].to_array() & s1.to_array()).any()
    total = sum(m.voxel_count for m in segments.values())
    assert total == int((sacrum.to_array() | s1.to_array()).sum())
    with pytest.raises(AnatomyError, match="n_segments"):
        split_sacrum(sacrum, n_segments=6)


def test_an_s1_that_does_not_rest_on_the_sacrum_is_split_on_the_axis_with_a_warning(
    pelvis: object,
) -> None:
    # S1 contoured a little short (two voxels of gap above S2): no face of it rests on the
    # sacrum, its lower face cannot be fitted and the border falls back on a plane normal to
    # the axis. That must be said, in the split, the report and a warning.
    truth = pelvis
    rest = union(*[truth.vertebrae[lv] for lv in SEGMENTS[1:]])  # type: ignore[attr-defined]
    from scipy import ndimage

    near_rest = ndimage.binary_dilation(rest.to_array(), iterations=2)
    s1_array = truth.vertebrae["S1"].to_array() & ~near_rest  # type: ignore[attr-defined]
    s1 = Mask.from_array(truth.grid, s1_array)  # type: ignore[attr-defined]
    split = split_sacrum_detailed(rest, s1=s1)
    assert split.s1_border_is_fallback
    assert "plane normal to the sacral axis" in split.describe()
    whole = split_sacrum_detailed(rest, s1=truth.vertebrae["S1"])  # type: ignore[attr-defined]
    assert whole.s1_border == "S1's lower face" and not whole.s1_border_is_fallback
    assert split_sacrum_detailed(_sacrum(truth)).s1_border is None
    anatomy = Anatomy(truth.grid, {"S1": s1, "Sacrum": rest})  # type: ignore[attr-defined]
    with pytest.warns(AnatomyWarning, match="border below S1 is a plane normal"):
        result = label_case_sectors(anatomy, ["S2"], required=())
    assert result.sacral_split is not None and result.sacral_split.s1_border_is_fallback


@pytest.mark.parametrize(("tilt", "kyphosis"), [(0.0, 30.0), (30.0, 50.0), (45.0, 40.0)])
def test_a_whole_s1_takes_no_bone_of_s2(tilt: float, kyphosis: float) -> None:
    # Given S1 whole (alae included), nothing of the sacrum below lies at its level. The bone
    # above S1's lower face joins S1; that face is fitted to where S1 rests on the sacrum. A
    # plane normal to the traced axis instead (7-10 deg off) put 650-1160 voxels of S2's
    # body into S1 (S2 body Dice 0.87-0.92).
    model = phantom.make_spine_phantom(
        levels="L5-S5", tilt_deg=tilt, sacral_kyphosis_deg=kyphosis, spacing_mm=(1.5, 1.5, 1.5)
    )
    sacrum = union(*[model.vertebrae[lv] for lv in SEGMENTS[1:]])
    segments = split_sacrum(sacrum, s1=model.vertebrae["S1"])
    assert segments["S1"].voxel_count == model.vertebrae["S1"].voxel_count
    assert dice(segments["S2"], model.vertebrae["S2"]) >= 0.95


@pytest.mark.parametrize(
    ("tilt", "kyphosis", "body_floor"),
    [(0.0, 30.0, 0.9), (30.0, 40.0, 0.9), (45.0, 40.0, 0.9), (60.0, 40.0, 0.87)],
)
def test_the_cut_below_s1_of_a_whole_sacrum_stands_at_the_border(
    tilt: float, kyphosis: float, body_floor: float
) -> None:
    # The dip along the axis traced from the top of a whole sacrum lies 0-3.9 mm below the
    # S1/S2 border; the cut moves up to the dip taken along S2's normal. Without: S1 body
    # Dice 0.89-0.93 and S2 body 0.80-0.86 at 30-60 deg; S2 body is 0.876 at 60 deg now
    # (0.896 while the phantom's canal stopped halfway down S5, its lower half filled with
    # bone: the open groove down to the apex moves the lower end of the traced axis).
    model = phantom.make_spine_phantom(
        levels="L5-S5", tilt_deg=tilt, sacral_kyphosis_deg=kyphosis, spacing_mm=(1.5, 1.5, 1.5)
    )
    segments = split_sacrum(union(*[model.vertebrae[lv] for lv in SEGMENTS]))
    # (S2's lower border, found on the axis as before, keeps S2 at 0.937 at 60 deg.)
    for level, floor in (("S1", 0.97), ("S2", 0.93)):
        found = dice(segments[level], model.vertebrae[level])
        assert found >= floor, f"{level}: segment Dice {found:.3f}"
    body = [
        dice(
            label_sacral_segment(segments[lv], level=lv, canal=model.canal).sector(1),
            model.parts[lv][1],
        )
        for lv in ("S1", "S2")
    ]
    assert min(body) >= body_floor, body


def test_a_whole_sacrum_whose_middle_segment_looks_tall_keeps_all_five() -> None:
    # Open arch, no tilt, 40 deg of kyphosis, S1 apart: S3 comes out 25 mm along the axis
    # (typical 22), which scaled the rest up until S5 no longer fitted, and the sacrum was
    # called cut short. A dip where the last border belongs now places it.
    model = phantom.make_spine_phantom(
        levels="L5-S5", sacral_kyphosis_deg=40.0, sacral_hiatus="S1", spacing_mm=(1.5, 1.5, 1.5)
    )
    sacrum = union(*[model.vertebrae[lv] for lv in SEGMENTS[1:]])
    split = split_sacrum_detailed(sacrum, s1=model.vertebrae["S1"])
    assert list(split.segments) == list(SEGMENTS)
    assert split.truncated is None
    assert split.border_methods == ("foramina",) * 3
    assert dice(split.segments["S5"], model.vertebrae["S5"]) >= 0.95


def test_segments_compartments_match_phantom(pelvis: object) -> None:
    segments = {name: pelvis.vertebrae[name] for name in SEGMENTS[:4]}  # type: ignore[attr-defined]
    derived = derive_sacral_canal(
        segments, neighbours={"L5": pelvis.vertebrae["L5"]}  # type: ignore[attr-defined]
    )
    assert set(derived.per_level.values()) == {"ring closure"}
    for name, mask in segments.items():
        for canal, floor in ((pelvis.canal, 0.92), (derived, 0.85)):  # type: ignore[attr-defined]
            result = label_sacral_segment(mask, level=name, canal=canal)
            assert result.names[4] == "median crest"
            for k in range(1, 7):
                value = dice(result.sector(k), pelvis.parts[name][k])  # type: ignore[attr-defined]
                assert value >= floor, f"{name} compartment {k}: Dice {value:.3f}"
    with pytest.raises(AnatomyError, match="sacral"):
        label_sacral_segment(segments["S1"], level="L5")


def test_body_borders_are_the_medial_edges_of_the_anterior_foramina(pelvis: object) -> None:
    # The phantom's anterior foramina open at each border between segments with their medial
    # edge on the body's side (its half-width there); S1 has none above, S5 none below.
    for name in ("S1", "S2", "S3", "S4", "S5"):
        segment = pelvis.vertebrae[name]  # type: ignore[attr-defined]
        result = label_sacral_segment(segment, level=name, canal=pelvis.canal)  # type: ignore[attr-defined]
        bone = result.frame.to_local(segment.points_lps())
        anterior = result.walls.anterior_mm[result.walls.slab_of(bone[:, 2])]
        borders = sacral_body_borders(bone, anterior, pixel_mm=1.5)
        both = name in ("S2", "S3", "S4")
        assert borders.method == ("foramina" if both else "foramina, carried"), name
        body = result.frame.to_local(pelvis.parts[name][1].points_lps())  # type: ignore[attr-defined]
        for end, edge_s in ((0, borders.top_s_mm), (1, borders.bottom_s_mm)):
            if not both and (end == 0) == (name == "S1"):
                continue  # carried from the other end
            near = body[np.abs(body[:, 2] - edge_s) <= 3.0, 0]
            # The truth's surface lies half a voxel beyond its outermost voxel centres.
            assert abs(borders.left_mm[end] - (near.max() + 0.75)) <= 1.5, name  # type: ignore[operator]
            assert abs(borders.right_mm[end] - (near.min() - 0.75)) <= 1.5, name  # type: ignore[operator]


def test_body_without_foramina_falls_back_on_the_canal_ratio_with_a_warning(
    pelvis: object,
) -> None:
    segment = pelvis.vertebrae["S3"]  # type: ignore[attr-defined]
    canal = pelvis.canal  # type: ignore[attr-defined]
    # A notch narrower than a voxel is no foramen: none is found, and the ratio applies.
    options = SectorOptions(sacral_foramen_min_depth_mm=0.5, sacral_foramen_max_width_mm=1.0)
    with pytest.warns(AnatomyWarning, match="no anterior sacral foramina"):
        fallback = label_sacral_segment(segment, level="S3", canal=canal, options=options)
    off = label_sacral_segment(
        segment, level="S3", canal=canal, options=SectorOptions(sacral_body_from_foramina=False)
    )
    assert np.array_equal(fallback.labels.to_array(), off.labels.to_array())
    found = label_sacral_segment(segment, level="S3", canal=canal)
    truth = pelvis.parts["S3"][1]  # type: ignore[attr-defined]
    assert dice(found.sector(1), truth) > dice(off.sector(1), truth)
    with pytest.raises(AnatomyError, match="sacral_foramen"):
        SectorOptions(sacral_foramen_min_depth_mm=5.0, sacral_foramen_max_width_mm=4.0)


def test_foramina_lie_lateral_to_the_canal(pelvis: object) -> None:
    segments = {name: pelvis.vertebrae[name] for name in SEGMENTS}  # type: ignore[attr-defined]
    foramina = derive_sacral_foramina(segments, pelvis.canal)  # type: ignore[attr-defined]
    assert dice(foramina, pelvis.sacral_foramina) > 0.75  # type: ignore[attr-defined]
    assert not (foramina.to_array() & pelvis.canal.to_array()).any()  # type: ignore[attr-defined]


SACRA = [
    # tilt of the mobile spine (deg), sacral kyphosis (deg, S1 to S5), first segment without
    # laminae, levels, S1 given apart (TotalSegmentator) or the sacrum fused
    (0.0, 30.0, "S5", "L5-S5", True),
    (20.0, 40.0, "S4", "L5-S5", True),
    (30.0, 50.0, "S3", "L5-S5", True),
    (30.0, 40.0, "S4", "L5-S5", False),
    (20.0, 30.0, "S5", "L5-S3", True),
    (25.0, 25.0, "S1", "L5-S5", True),
    (45.0, 40.0, "S4", "L5-S5", True),
    (45.0, 40.0, "S4", "L5-S5", False),
]


@pytest.mark.parametrize(("tilt", "kyphosis", "hiatus", "levels", "s1_apart"), SACRA)
def test_steep_open_or_short_sacra_are_all_labelled(
    tilt: float, kyphosis: float, hiatus: str, levels: str, s1_apart: bool
) -> None:
    # S1 leans 20-50 deg more than the mobile spine (the lumbosacral angle), each segment
    # below 5-10 deg more; the hiatus opens at S3, S4 or S5, or the S1 arch is open.
    model = phantom.make_spine_phantom(
        levels=levels,
        tilt_deg=tilt,
        sacral_kyphosis_deg=kyphosis,
        sacral_hiatus=hiatus,
        spacing_mm=(1.5, 1.5, 1.5),
    )
    segments = [lv for lv in model.levels if lv.startswith("S")]
    vertebrae = {lv: m for lv, m in model.vertebrae.items() if not lv.startswith("S")}
    if s1_apart:
        vertebrae["S1"] = model.vertebrae["S1"]
        vertebrae["Sacrum"] = union(*[model.vertebrae[lv] for lv in segments[1:]])
    else:
        vertebrae["Sacrum"] = union(*[model.vertebrae[lv] for lv in segments])
    anatomy = Anatomy(model.grid, vertebrae)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AnatomyWarning)
        result = label_case_sectors(anatomy, segments, required=())
    assert list(result.by_level) == segments  # every segment, and only those present
    assert not result.unlabelled
    split = result.sacral_split
    assert split is not None
    if levels == "L5-S3":
        assert split.truncated is not None and "S3" in split.truncated
    for level in segments:
        found = dice(result.sacral_segments[level], model.vertebrae[level])
        assert found >= 0.85, f"{level}: segment Dice {found:.3f}"
    # Compartments (body 1, alae 2/6; the body bounded by the anterior foramina). Measured:
    # closed rings above the hiatus body >= 0.897 (S1 apart) / 0.908 (fused) and alae
    # >= 0.91; S3-S4 on a canal carried from the closed segment body >= 0.90 and alae
    # >= 0.91; S5 (no foramina below, its canal carried) body >= 0.87, alae 0.72-0.82,
    # short of issue 10's 0.9. An open S1 arch ("estimated from arch" everywhere, flattened
    # to 0.45 of its width) body >= 0.878 and alae >= 0.858 at S1-S4, S5 body 0.85 and
    # alae 0.61.
    for level in segments:
        sectors = result.by_level[level]
        if not sectors.canal_method.endswith("ring closure"):
            assert result.quality[level].flags(), f"{level}: fallback canal not flagged"
        closed = sectors.canal_method.endswith("ring closure") and int(level[1]) < int(hiatus[1])
        carried = sectors.canal_method == "carried from the closed segment"
        arch = sectors.canal_method == "estimated from arch"
        if arch:
            floors = {1: 0.84, 2: 0.6, 6: 0.6} if level == "S5" else {1: 0.87, 2: 0.85, 6: 0.85}
        elif closed:
            floors = {1: 0.89 if s1_apart else 0.9, 2: 0.9, 6: 0.9}
        elif carried and level != "S5":
            floors = {1: 0.89, 2: 0.9, 6: 0.9}
        elif carried:
            floors = {1: 0.86, 2: 0.7, 6: 0.7}
        else:
            continue
        for k, floor in floors.items():
            value = dice(sectors.sector(k), model.parts[level][k])
            assert value >= floor, f"{level} compartment {k}: Dice {value:.3f}"


def test_a_near_horizontal_segment_finds_its_ring_along_its_neighbours() -> None:
    # Tilt 60 deg and 40 deg of kyphosis: S4 lies near horizontal. Its neighbours' line leans
    # more than 60 deg, so the first pass takes the patient's axis, along which S4 shows no
    # ring. It used to be left out (an error when the target needed it), then carried on
    # from S3; along its neighbours' line (up to 85 deg from the patient's axis, for a
    # sacral segment) its own ring closes.
    model = phantom.make_spine_phantom(
        levels="L5-S5", tilt_deg=60.0, sacral_kyphosis_deg=40.0, sacral_hiatus="S5",
        spacing_mm=(1.5, 1.5, 1.5),
    )
    vertebrae = {"L5": model.vertebrae["L5"]}
    vertebrae["Sacrum"] = union(*[model.vertebrae[lv] for lv in SEGMENTS])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AnatomyWarning)
        result = label_case_sectors(
            Anatomy(model.grid, vertebrae), ["S4"], required=("S4",)
        )
    s4 = result.by_level["S4"]
    assert s4.canal_method == "ring closure"
    assert not result.quality["S4"].flags()
    for k in range(1, 7):
        value = dice(s4.sector(k), model.parts["S4"][k])
        assert value >= 0.9, f"S4 sector {k}: Dice {value:.3f}"


def _labelled_sacrum(
    tilt: float, kyphosis: float, hiatus: str, s1_apart: bool
) -> tuple[object, object]:
    """An L5-S5 phantom (1.5 mm) and the labels of its five sacral segments, no canal or cord
    given, the sacrum given fused or with S1 apart."""
    model = phantom.make_spine_phantom(
        levels="L5-S5", tilt_deg=tilt, sacral_kyphosis_deg=kyphosis, sacral_hiatus=hiatus,
        spacing_mm=(1.5, 1.5, 1.5),
    )
    vertebrae = {"L5": model.vertebrae["L5"]}
    if s1_apart:
        vertebrae["S1"] = model.vertebrae["S1"]
        vertebrae["Sacrum"] = union(*[model.vertebrae[lv] for lv in SEGMENTS[1:]])
    else:
        vertebrae["Sacrum"] = union(*[model.vertebrae[lv] for lv in SEGMENTS])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AnatomyWarning)
        result = label_case_sectors(Anatomy(model.grid, vertebrae), list(SEGMENTS), required=())
    return model, result


@pytest.mark.parametrize("s1_apart", [False, True])
def test_an_open_s1_arch_on_a_steep_sacrum_takes_the_lower_axes_from_the_neighbours(
    s1_apart: bool,
) -> None:
    # An open S1 arch: no ring closes anywhere and every canal is the arch estimate. At 60
    # deg of tilt and 40 of kyphosis S4's neighbours' line leans more than 60 deg; the arch
    # estimate along the patient's axis instead made S4's body / alae Dice 0.50 / 0.20
    # (fused) and 0.59 / 0.41 (S1 apart). Along the neighbours' line: 0.88 / 0.89.
    model, result = _labelled_sacrum(60.0, 40.0, "S1", s1_apart)
    assert result.sacral_canal_result is not None
    assert result.sacral_canal_result.axis_source["S4"].startswith("neighbours, steep")
    s4 = result.by_level["S4"]
    assert s4.canal_method == "estimated from arch"
    assert result.quality["S4"].flags()
    for k in (1, 2, 6):
        value = dice(s4.sector(k), model.parts["S4"][k])
        assert value >= 0.86, f"S4 compartment {k}: Dice {value:.3f}"


def test_a_segment_with_neither_ring_nor_concavity_takes_the_canal_carried_on() -> None:
    # S4 given as its body alone (its alae and arch left out of the contour): its back is
    # flat, it shows neither a closed ring nor a midline concavity on any axis. Its canal
    # runs on from S3, flagged; the sectors it then lacks (alae) are an error-level flag,
    # a note and not an exception, since the target does not need S4.
    model = phantom.make_spine_phantom(
        levels="L5-S5", sacral_hiatus="S5", spacing_mm=(1.5, 1.5, 1.5)
    )
    vertebrae = {lv: model.vertebrae[lv] for lv in ("L5", *SEGMENTS)}
    vertebrae["S4"] = model.parts["S4"][1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AnatomyWarning)
        result = label_case_sectors(
            Anatomy(model.grid, vertebrae), ["S3", "S4"], required=("S3",)
        )
    assert result.sacral_canal_result is not None
    assert result.sacral_canal_result.per_level["S4"] == "carried from the closed segment"
    assert result.sacral_canal_result.axis_source["S4"] == "carried from S3"
    flags = result.quality["S4"].flags()
    assert any("carried from the closed segment" in line for line in flags)
    assert any(line.startswith("S4 error: sectors present") for line in flags)
    assert result.by_level["S3"].canal_method == "ring closure"
    with (
        pytest.raises(AnatomyError, match="S4: the sectors cannot be trusted"),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", AnatomyWarning)
        label_case_sectors(Anatomy(model.grid, vertebrae), ["S4"], required=("S4",))


@pytest.mark.parametrize(
    ("tilt", "kyphosis", "s1_apart"), [(0.0, 20.0, False), (60.0, 40.0, False), (60.0, 40.0, True)]
)
def test_a_canal_carried_over_an_open_hiatus_lies_on_the_back_of_the_body(
    tilt: float, kyphosis: float, s1_apart: bool
) -> None:
    # Laminae missing from S3 down: S4's canal is carried from the closed segment. Carried
    # straight along the donor's axis it ran 8-14 mm behind the true canal where the sacrum
    # curves (or where the donor's axis leaned), and S4's alae took its lateral parts behind
    # the canal: Dice 0.41, 0.66 and 0.56 in these three sacra. Its front now lies on the
    # back of S4's body, measured in the midline where no laminae close it.
    model, result = _labelled_sacrum(tilt, kyphosis, "S3", s1_apart)
    s4 = result.by_level["S4"]
    assert s4.canal_method == "carried from the closed segment"
    assert result.quality["S4"].flags()
    for k, floor in ((1, 0.84), (2, 0.85), (6, 0.85)):
        value = dice(s4.sector(k), model.parts["S4"][k])
        assert value >= floor, f"S4 compartment {k}: Dice {value:.3f}"


def test_a_segment_turned_off_the_sacrum_s_left_axis_is_flagged() -> None:
    from spinetv.anatomy.quality import sacral_axis_checks

    left = np.array([1.0, 0.0, 0.0])
    turned = np.array([np.cos(np.radians(20)), np.sin(np.radians(20)), 0.0])
    checks = sacral_axis_checks({"S1": turned, "S2": left, "S3": left, "S4": left})
    assert [lv for lv, c in checks.items() if not c.passed] == ["S1"]
    assert "deg from the sacrum's mean left axis" in checks["S1"].measured
    assert sacral_axis_checks({"S1": turned, "S2": left}) == {}  # two say nothing of which


def test_the_sample_ct_s_sacral_segments_share_the_sacrum_s_left_axis(real_spine) -> None:  # type: ignore[no-untyped-def]
    vertebrae = dict(real_spine.vertebrae)
    vertebrae["Sacrum"] = real_spine.sacrum
    anatomy = Anatomy(real_spine.grid, vertebrae, cord=real_spine.cord)
    results = {}
    for common in (False, True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AnatomyWarning)
            results[common] = label_case_sectors(
                anatomy, ["S1", "S2", "S3", "S4", "S5"], required=(),
                options=SectorOptions(sacral_common_left_axis=common),
            )
    own, shared = results[False], results[True]
    # Each segment's own frame lies within 6 deg of the sacrum's mean left axis on this CT
    # (the sacrum itself is not turned: every segment's bilateral axis lies within 2 deg of
    # the whole bone's). S5's was 14 deg off, and flagged, while its canal was carried
    # straight along S2's axis and left the curved sacrum; set on the back of its body it
    # lies within 3 deg. (S1's own frame was 20 deg off while the split left most of its
    # alae to S2.) A turned frame is flagged: see the test above.
    # Since the cuts lie on the rows of foramina (S2 reaches 34 mm below S1's face), S2's
    # canal is carried from S1 rather than closed with the cord, and the own frames of S1
    # and S4 (fitted through the canal) turned by about 25 deg. Since the cord sets a level's
    # axis only where it crosses half its slices (it ends in S1's lower slices), S2's axis
    # is searched on its bone and its ring closes with the cord: S1 and S2 lie within 6 deg,
    # S3 (carried from S2) 10 and S5 7; S4 stays 24 deg off, flagged. The default, the
    # shared axis, is what plans use (below).
    checks = {
        level: c for level, q in own.quality.items() for c in q.checks
        if c.name == "sacral left axis"
    }
    assert sorted(checks) == ["S1", "S2", "S3", "S4", "S5"]
    assert [lv for lv, c in checks.items() if not c.passed] == ["S4"]
    for level, most in (("S1", 6), ("S2", 6), ("S3", 10), ("S5", 7)):
        assert int(checks[level].measured.split()[0]) <= most, checks[level].measured
    whole = sacral_left_axis(shared.sacral_segments)
    for level, segment in shared.sacral_segments.items():
        own_axis = sacral_left_axis({level: segment})
        assert np.degrees(np.arccos(min(1.0, float(own_axis @ whole)))) < 3.0, level
    # On the shared axis every segment's left axis is the sacrum's, and each turn is
    # reported (S5's own frame lies 3.6 deg off it).
    for level, quality in shared.quality.items():
        assert quality.frame_turn_deg is not None, level
        assert quality.as_dict()["frame_turn_deg"] == round(quality.frame_turn_deg, 1)
    assert abs(shared.quality["S5"].frame_turn_deg or 0.0) > 1.0
    for level, sectors in shared.by_level.items():
        lr = sectors.frame.lr_axis
        in_plane = whole - (whole @ sectors.frame.si_axis) * sectors.frame.si_axis
        in_plane /= np.linalg.norm(in_plane)
        assert float(lr @ in_plane) > np.cos(np.radians(0.5)), level


def test_an_axially_turned_sacrum_is_labelled_on_its_own_left_axis() -> None:
    # The whole spine turned 12 deg about its axis: S1's own cross-section gives a frame about
    # 15 deg off (alae Dice about 0.5); on the sacrum's bilateral axis they match.
    model = phantom.make_spine_phantom(
        levels="L5-S5", tilt_deg=30.0, sacral_kyphosis_deg=40.0, sacral_hiatus="S4",
        axial_rotation_deg=12.0, spacing_mm=(1.5, 1.5, 1.5),
    )
    segments = [lv for lv in model.levels if lv.startswith("S")]
    vertebrae = {lv: m for lv, m in model.vertebrae.items() if not lv.startswith("S")}
    vertebrae["S1"] = model.vertebrae["S1"]
    vertebrae["Sacrum"] = union(*[model.vertebrae[lv] for lv in segments[1:]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AnatomyWarning)
        result = label_case_sectors(Anatomy(model.grid, vertebrae), ["S1"], required=())
    s1 = result.by_level["S1"]
    assert s1.frame_turn_deg is not None and abs(s1.frame_turn_deg) > 5.0
    for k, floor in {1: 0.93, 2: 0.9, 3: 0.85, 4: 0.9, 5: 0.85, 6: 0.85}.items():
        value = dice(s1.sector(k), model.parts["S1"][k])
        assert value >= floor, f"S1 compartment {k}: Dice {value:.3f}"


def _block_with_notches(top: bool) -> tuple[np.ndarray, np.ndarray]:
    """Points (u, v, s; 1.5 mm lattice) of a sacral segment in front of a canal whose
    anterior wall is v = 0: 20 mm deep, 60 mm wide, 21 mm tall, with a foramen-like notch
    4.5 mm deep beside the body (|u| 10-16 mm) in its bottom edge and, if ``top``, its top
    edge."""
    u, v, s = np.meshgrid(
        np.arange(-30.0, 30.1, 1.5), np.arange(-19.5, 0.0, 1.5), np.arange(-10.5, 10.6, 1.5),
        indexing="ij",
    )
    beside = (np.abs(u) > 10.0) & (np.abs(u) <= 16.0)
    keep = ~(beside & (s < -6.0))
    if top:
        keep &= ~(beside & (s > 6.0))
    points = np.stack([u[keep], v[keep], s[keep]], axis=1)
    return points, np.zeros(points.shape[0])


def test_a_top_edge_without_a_notch_of_its_own_takes_the_borders_measured_above() -> None:
    bone, anterior = _block_with_notches(top=False)
    own = sacral_body_borders(bone, anterior, pixel_mm=1.5)
    assert own.method == "foramina, carried"
    assert own.measured == (False, True)
    assert own.left_mm[1] == pytest.approx(9.75) and own.right_mm[1] == pytest.approx(-9.75)
    given = sacral_body_borders(bone, anterior, pixel_mm=1.5, top_from_above_mm=(12.0, -12.5))
    assert given.method == "foramina, top from the segment above"
    assert given.measured == (False, True)
    assert (given.left_mm[0], given.right_mm[0]) == (12.0, -12.5)
    assert (given.left_mm[1], given.right_mm[1]) == (own.left_mm[1], own.right_mm[1])
    points = given.edge_points_local(1)
    assert points is not None and given.edge_points_local(0) is None
    assert points[:, 0].tolist() == [given.left_mm[1], given.right_mm[1]]
    assert np.all(points[:, 2] == given.bottom_s_mm) and np.all(points[:, 1] < 0.0)
    # A top edge with notches of its own keeps them: the neighbour's are not taken.
    bone, anterior = _block_with_notches(top=True)
    notched = sacral_body_borders(bone, anterior, pixel_mm=1.5, top_from_above_mm=(12.0, -12.5))
    assert notched.method == "foramina" and notched.measured == (True, True)
    assert notched.left_mm[0] == pytest.approx(9.75)


def test_a_segment_whose_top_shows_no_foramina_takes_those_measured_above() -> None:
    # At 0 deg of tilt and 20 of kyphosis (hiatus S3, fused) the S3/S4 cut lies on the row of
    # the S3/S4 foramina, a little below its middle: S4's top edge shows notches shallower
    # than the 2 mm told from the voxels' jitter, and S4 takes the borders S3 measured at its
    # bottom edge. S5, cut through the middle of the S4/S5 row, finds its own notches there
    # and carries them down (before the cuts were set on the rows of foramina, S5 was the
    # segment that took them from above).
    model, result = _labelled_sacrum(0.0, 20.0, "S3", False)
    s3, s4, s5 = (result.by_level[lv] for lv in ("S3", "S4", "S5"))  # type: ignore[attr-defined]
    assert s3.sacral_borders is not None and s4.sacral_borders is not None
    assert s4.sacral_borders.method == "foramina, top from the segment above"
    assert s4.sacral_borders.measured == (False, True)
    quality = result.quality["S4"]  # type: ignore[attr-defined]
    assert quality.as_dict()["sacral_body_borders"] == s4.sacral_borders.method
    shared = s3.frame.to_lps(s3.sacral_borders.edge_points_local(1))
    taken = s4.frame.to_local(shared)[:, 0]
    assert s4.sacral_borders.left_mm[0] == pytest.approx(taken[0])
    assert s4.sacral_borders.right_mm[0] == pytest.approx(taken[1])
    assert s5.sacral_borders is not None
    assert s5.sacral_borders.method == "foramina, carried"
    assert s5.sacral_borders.measured == (True, False)
    truth = model.parts  # type: ignore[attr-defined]
    for level, sectors in (("S4", s4), ("S5", s5)):
        assert dice(sectors.sector(1), truth[level][1]) > 0.8, level
    for k in (2, 6):
        # 0.950 measured (0.95-0.96 before the phantom's canal ran down to S5's apex).
        assert dice(s4.sector(k), truth["S4"][k]) > 0.94, k


def test_borders_from_above_must_be_two_points(pelvis: object) -> None:
    with pytest.raises(AnatomyError, match="sacral_top_from_above_lps"):
        label_sectors(
            pelvis.vertebrae["S3"],  # type: ignore[attr-defined]
            canal=pelvis.canal,  # type: ignore[attr-defined]
            level="S3",
            sacral_top_from_above_lps=np.zeros((3, 3)),
        )


@pytest.mark.parametrize(
    "entry",
    [
        np.zeros(3),  # a direction without its point
        np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]),  # a zero direction
        np.array([[0.0, np.nan, 0.0], [0.0, 0.0, -1.0]]),  # a point that is not finite
        "S2",  # not numbers at all
    ],
)
def test_a_malformed_sacral_axis_is_refused_naming_the_segment(
    pelvis: object, entry: object
) -> None:
    segments = {name: pelvis.vertebrae[name] for name in ("S1", "S2")}  # type: ignore[attr-defined]
    good = np.array([[0.0, 0.0, 0.0], [0.0, 0.3, -1.0]])
    with pytest.raises(AnatomyError, match="sacral axis of S2"):
        derive_sacral_canal(segments, axes={"S1": good, "S2": entry})  # type: ignore[dict-item]


def test_a_malformed_sacral_axis_is_refused_even_beside_a_contoured_canal(
    pelvis: object,
) -> None:
    # A contoured canal leaves the axes unused; a bad value is still an error, not ignored.
    segments = {name: pelvis.vertebrae[name] for name in ("S1", "S2")}  # type: ignore[attr-defined]
    with pytest.raises(AnatomyError, match="sacral axis of S2"):
        derive_canal(
            segments,
            contoured=pelvis.canal,  # type: ignore[attr-defined]
            sacral_axes={"S2": np.zeros(3)},
        )


def test_a_sacral_axis_direction_is_taken_as_a_direction_whatever_its_length(
    pelvis: object,
) -> None:
    # SacralSplit.axes holds unit directions; a caller's direction of another length turns
    # the carried canal by the same angle.
    truth = pelvis
    split = split_sacrum_detailed(_sacrum(truth))
    scaled = {name: np.stack([a[0], 7.0 * a[1]]) for name, a in split.axes.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AnatomyWarning)
        unit = derive_sacral_canal(split.segments, axes=split.axes)
        long = derive_sacral_canal(split.segments, axes=scaled)
    assert np.array_equal(unit.mask.to_array(), long.mask.to_array())


def test_the_foramina_closing_s_distances_match_scipy_on_an_anisotropic_grid() -> None:
    from scipy import ndimage

    from spinetv.anatomy.sacrum import _distance_outside_mm

    rng = np.random.default_rng(3)
    mask = ndimage.binary_dilation(rng.random((24, 30, 28)) > 0.995, iterations=2)
    spacing = (2.5, 0.8, 1.1)
    ours = _distance_outside_mm(mask, spacing)
    reference = ndimage.distance_transform_edt(~mask, sampling=spacing)
    assert np.abs(ours[~mask] - reference[~mask]).max() < 1e-4


def test_the_distance_outside_an_empty_mask_is_infinite() -> None:
    from spinetv.anatomy.sacrum import _distance_outside_mm

    assert np.isinf(_distance_outside_mm(np.zeros((4, 5, 6), dtype=bool), (1.0, 1.0, 1.0))).all()
