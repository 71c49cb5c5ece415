"""Ground truth of the spine phantom: partitions, laterality, orientation invariance, GTVs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import ndimage

from spinetv.errors import SpinetvError
from spinetv.geometry.mask import Mask
from spinetv.phantom import GtvSpec, SpinePhantom, make_spine_phantom, parse_levels
from spinetv.structure import RoiType

SMALL = (2.0, 1.5, 1.5)


@pytest.fixture(scope="module")
def lumbar() -> SpinePhantom:
    return make_spine_phantom(levels=("L1", "L2", "L3"), spacing_mm=SMALL)


@pytest.fixture(scope="module")
def lumbosacral() -> SpinePhantom:
    return make_spine_phantom(levels="L5-S5", spacing_mm=SMALL, lordosis_deg=10)


def _points_key(mask: Mask, reference_grid) -> set[tuple[int, int, int]]:  # type: ignore[no-untyped-def]
    ijk = np.rint(reference_grid.lps_to_index(mask.points_lps())).astype(int)
    return set(map(tuple, ijk))


def _dice(a: set[tuple[int, int, int]], b: set[tuple[int, int, int]]) -> float:
    return 2 * len(a & b) / (len(a) + len(b))


@pytest.mark.parametrize("name", ["lumbar", "lumbosacral"])
def test_parts_partition_each_vertebra(name: str, request: pytest.FixtureRequest) -> None:
    phantom: SpinePhantom = request.getfixturevalue(name)
    for level in phantom.levels:
        vertebra = phantom.vertebrae[level]
        assert not vertebra.is_empty
        box = vertebra.box
        total = np.zeros(box.shape, dtype=np.int32)
        for number, part in phantom.parts[level].items():
            if level == "S5" and number == 4:
                assert part.is_empty, "the sacral hiatus has no median crest"
                continue
            assert part.volume_cc > 0.05, f"{level} part {number} is (nearly) empty"
            total += part.in_box(box)
        assert total.max() == 1, f"{level}: parts overlap"
        np.testing.assert_array_equal(total == 1, vertebra.box_array)
        labels = phantom.sector_labels(level)
        assert labels.labels == tuple(
            sorted(n for n, m in phantom.parts[level].items() if not m.is_empty)
        )


def test_vertebrae_discs_and_canal_are_disjoint(lumbosacral: SpinePhantom) -> None:
    bone = np.zeros(lumbosacral.grid.shape, dtype=np.int32)
    for level in lumbosacral.levels:
        bone += lumbosacral.vertebrae[level].to_array()
    assert bone.max() == 1
    assert not (bone.astype(bool) & lumbosacral.canal.to_array()).any()
    assert not (bone.astype(bool) & lumbosacral.discs.to_array()).any()
    assert lumbosacral.discs.volume_cc > 5  # the L5-S1 disc
    foramina = lumbosacral.sacral_foramina
    assert foramina is not None and foramina.volume_cc > 1
    assert not (foramina.to_array() & bone.astype(bool)).any()


def test_canal_is_enclosed_by_the_arch_over_the_vertebra_height(lumbar: SpinePhantom) -> None:
    for level in lumbar.levels:
        vertebra = lumbar.vertebrae[level]
        box = vertebra.box
        ring = vertebra.box_array.any(axis=0)  # straight HFS spine: slices are axial
        filled = ndimage.binary_fill_holes(ring)
        centre = np.rint(lumbar.grid.lps_to_index(lumbar.frames[level].origin_lps_mm)).astype(int)
        canal_slice = lumbar.canal.to_array()[centre[0]][box.slices[1:]]
        assert canal_slice.sum() > 20
        assert filled[canal_slice].all() and not ring[canal_slice].any()
        # and on at least one axial slice (through the pedicles) the ring closes by itself
        closed = [ndimage.binary_fill_holes(s)[canal_slice].all() for s in vertebra.box_array]
        assert any(closed)


def test_canal_not_connected_to_outside_within_vertebra(lumbar: SpinePhantom) -> None:
    level = "L2"
    vertebra = lumbar.vertebrae[level]
    box = vertebra.box
    wall = np.broadcast_to(vertebra.box_array.any(axis=0), box.shape)
    free = ~wall
    labels, _ = ndimage.label(free)
    centre = np.rint(lumbar.grid.lps_to_index(lumbar.frames[level].origin_lps_mm)).astype(int)
    inside = labels[tuple(centre - np.array(box.start))]
    assert inside != 0
    border = np.unique(
        np.concatenate(
            [
                labels[:, 0].ravel(),
                labels[:, -1].ravel(),
                labels[:, :, 0].ravel(),
                labels[:, :, -1].ravel(),
            ]
        )
    )
    assert inside not in border


ORIENTATION_CASES = list(
    itertools.product(["HFS", "FFS", "HFP", "FFP"], [(0.0, 0.0), (25.0, 12.0), (-20.0, -15.0)])
)


@pytest.mark.parametrize(("orientation", "curve"), ORIENTATION_CASES)
def test_left_parts_are_on_patient_left_for_every_orientation(
    orientation: str, curve: tuple[float, float]
) -> None:
    phantom = make_spine_phantom(
        levels=("L2", "L3"),
        spacing_mm=(2.5, 2.0, 2.0),
        orientation=orientation,
        lordosis_deg=curve[0],
        axial_rotation_deg=curve[1],
    )
    for level in phantom.levels:
        parts = phantom.parts[level]
        left = np.concatenate([parts[2].points_lps(), parts[3].points_lps()])[:, 0].mean()
        right = np.concatenate([parts[5].points_lps(), parts[6].points_lps()])[:, 0].mean()
        assert left > right + 10
        assert parts[2].centroid_lps()[0] > parts[6].centroid_lps()[0]
        assert parts[1].centroid_lps()[1] < parts[4].centroid_lps()[1] - 30  # body anterior
        assert parts[1].centroid_lps()[1] < parts[2].centroid_lps()[1]


@pytest.mark.parametrize("orientation", ["FFS", "HFP", "FFP"])
def test_masks_agree_in_patient_space_across_orientations(orientation: str) -> None:
    kwargs = {
        "levels": ("L4", "L5", "S1"),
        "spacing_mm": (2.5, 2.0, 1.5),
        "lordosis_deg": 15.0,
        "axial_rotation_deg": 8.0,
        "gtv": GtvSpec("L5", (1, 2), epidural_mm=3),
    }
    reference = make_spine_phantom(orientation="HFS", **kwargs)  # type: ignore[arg-type]
    other = make_spine_phantom(orientation=orientation, **kwargs)  # type: ignore[arg-type]
    assert not np.allclose(reference.grid.direction, other.grid.direction)
    pairs = [(reference.canal, other.canal), (reference.gtv, other.gtv)]
    for level in reference.levels:
        pairs.append((reference.vertebrae[level], other.vertebrae[level]))
        pairs += [(reference.parts[level][n], other.parts[level][n]) for n in range(1, 7)]
    for a, b in pairs:
        assert a is not None and b is not None
        dice = _dice(_points_key(a, reference.grid), _points_key(b, reference.grid))
        assert dice >= 0.98
    # the CT numbers agree too, voxel by voxel in patient space
    ijk = np.rint(
        other.grid.lps_to_index(reference.grid.index_to_lps(np.argwhere(reference.hu > 500)))
    ).astype(int)
    assert (other.hu[tuple(ijk.T)] > 500).mean() > 0.98


@pytest.mark.parametrize(
    ("levels", "low", "high"),
    [
        (("L2", "L3"), 40.0, 90.0),
        (("T8", "T9"), 15.0, 50.0),
        (("C4", "C5"), 5.0, 15.0),
        (("S1",), 60.0, 130.0),
    ],
)
def test_volumes_are_plausible(levels: tuple[str, ...], low: float, high: float) -> None:
    phantom = make_spine_phantom(levels=levels, spacing_mm=(1.0, 1.0, 1.0))
    for level in levels:
        assert low <= phantom.vertebrae[level].volume_cc <= high


GTV_CASES = [
    GtvSpec("L2", (1,), body_side="left"),
    GtvSpec("L2", (1,), body_side="focal"),
    GtvSpec("L2", (1,), body_side="diffuse"),
    GtvSpec("L2", (2,)),
    GtvSpec("L2", (3,)),
    GtvSpec("L2", (4,)),
    GtvSpec("L2", (5, 6)),
    GtvSpec("L2", (1, 6), body_side="right", epidural_mm=4.0),
    GtvSpec("L2", (2, 3, 4), paraspinal_mm=5.0),
    GtvSpec("L1", (1, 2), to_level="L2", epidural_mm=3.0, paraspinal_mm=3.0),
]


@pytest.mark.parametrize(
    "spec", GTV_CASES, ids=lambda s: f"{s.level}-{''.join(map(str, s.sectors))}-{s.body_side}"
)
def test_gtv_overlaps_exactly_the_requested_sectors(lumbar: SpinePhantom, spec: GtvSpec) -> None:
    phantom = make_spine_phantom(levels=lumbar.levels, spacing_mm=SMALL, gtv=spec)
    assert phantom.gtv is not None
    gtv = phantom.gtv.to_array()
    bone = np.zeros_like(gtv)
    for level in phantom.levels:
        for number, part in phantom.parts[level].items():
            overlap = (gtv & part.to_array()).sum() * phantom.grid.voxel_volume_cc
            bone |= part.to_array()
            if level in spec.levels and number in spec.sectors:
                assert overlap > 0.05, f"{level} sector {number}: {overlap:.3f} cc"
            else:
                assert overlap == 0, f"{level} sector {number} touched: {overlap:.3f} cc"
    outside_bone = gtv & ~bone
    if spec.epidural_mm == 0 and spec.paraspinal_mm == 0:
        assert not outside_bone.any()
    else:
        assert outside_bone.sum() * phantom.grid.voxel_volume_cc > 0.1
    if spec.epidural_mm > 0:
        assert (gtv & phantom.canal.to_array()).any()
    assert not (gtv & phantom.cord.to_array()).any()
    assert (phantom.hu[gtv & bone] < 200).all()  # lytic


@pytest.mark.parametrize("side", ["left", "right"])
def test_lateralised_body_gtv_stays_on_its_side(lumbar: SpinePhantom, side: str) -> None:
    phantom = make_spine_phantom(
        levels=lumbar.levels,
        spacing_mm=SMALL,
        axial_rotation_deg=10,
        gtv=GtvSpec("L3", (1,), body_side=side),
    )  # type: ignore[arg-type]
    assert phantom.gtv is not None
    local = phantom.frames["L3"].to_local(phantom.gtv.points_lps())
    sign = 1 if side == "left" else -1
    assert (sign * local[:, 0] > 2.0).all()


def test_sacral_gtv_and_segments() -> None:
    phantom = make_spine_phantom(
        levels="S1-S5", spacing_mm=SMALL, gtv=GtvSpec("S2", (1, 2), body_side="left")
    )
    assert phantom.gtv is not None
    for level in phantom.levels:
        for number, part in phantom.parts[level].items():
            overlap = (phantom.gtv.to_array() & part.to_array()).sum()
            assert (overlap > 0) == (level == "S2" and number in (1, 2))
    names = [s.name for s in phantom.structures()]
    assert names[:2] == ["S1", "Sacrum"] and "SacralForamina" in names
    segments = [s.name for s in phantom.structures(sacrum_names="segments")]
    assert segments[:5] == ["S1", "S2", "S3", "S4", "S5"]
    # segments shrink caudally
    volumes = [phantom.vertebrae[lv].volume_cc for lv in phantom.levels]
    assert volumes == sorted(volumes, reverse=True)


def test_cord_ends_at_the_conus_and_the_thecal_sac_continues(lumbar: SpinePhantom) -> None:
    cord_z = lumbar.cord.points_lps()[:, 2]
    l1, l2 = (lumbar.frames[lv].origin_lps_mm[2] for lv in ("L1", "L2"))
    assert cord_z.max() > l1 and cord_z.min() > l2
    assert lumbar.thecal_sac is not None and lumbar.cauda_equina is not None
    assert lumbar.thecal_sac.points_lps()[:, 2].min() < l2
    canal = lumbar.canal.to_array()
    assert canal[lumbar.cord.to_array()].all() and canal[lumbar.thecal_sac.to_array()].all()


def test_structures_names_and_types(lumbar: SpinePhantom) -> None:
    structures = {s.name: s for s in lumbar.structures()}
    assert list(structures)[:3] == ["L1", "L2", "L3"]
    for name in ("SpinalCanal", "SpinalCord", "ThecalSac", "CaudaEquina", "BODY"):
        assert name in structures
    assert structures["BODY"].roi_type is RoiType.EXTERNAL
    assert "GTV" not in structures and "SacralForamina" not in structures
    assert all(len(name) <= 16 for name in structures)


def test_hu_values_and_read_only(lumbar: SpinePhantom) -> None:
    assert lumbar.hu.dtype == np.int16 and not lumbar.hu.flags.writeable
    bone = lumbar.vertebrae["L2"].to_array()
    assert 200 <= np.median(lumbar.hu[bone]) <= 1200
    assert lumbar.hu[~lumbar.body_outline.to_array()].max() == -1000
    assert lumbar.hu[lumbar.cord.to_array()].mean() == pytest.approx(35)


def test_determinism_for_a_seed() -> None:
    kwargs = {"levels": ("L3",), "spacing_mm": (3.0, 3.0, 3.0), "noise_hu": 15.0}
    a = make_spine_phantom(seed=1, **kwargs)  # type: ignore[arg-type]
    b = make_spine_phantom(seed=1, **kwargs)  # type: ignore[arg-type]
    c = make_spine_phantom(seed=2, **kwargs)  # type: ignore[arg-type]
    np.testing.assert_array_equal(a.hu, b.hu)
    assert not np.array_equal(a.hu, c.hu)
    np.testing.assert_array_equal(a.vertebrae["L3"].box_array, c.vertebrae["L3"].box_array)
    assert a.grid.frame_of_reference_uid != b.grid.frame_of_reference_uid


def test_explicit_shape_is_centred_on_the_levels() -> None:
    phantom = make_spine_phantom(levels=("L2",), spacing_mm=(2.0, 2.0, 2.0), shape=(30, 80, 90))
    assert phantom.grid.shape == (30, 80, 90)
    assert not phantom.vertebrae["L2"].is_empty


def test_parse_levels() -> None:
    assert parse_levels("T12-L2") == ("T12", "L1", "L2")
    assert parse_levels("l5, s1") == ("L5", "S1")
    assert parse_levels(["L3", "L2"]) == ("L2", "L3")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"levels": ("L1", "L3")}, "consecutive"),
        ({"levels": ("X1",)}, "unknown vertebral level"),
        ({"lordosis_deg": 45.0}, "lordosis"),
        ({"axial_rotation_deg": 25.0}, "axial_rotation"),
        ({"tilt_deg": 61.0}, "tilt"),
        ({"orientation": "LPS"}, "orientation"),
        ({"spacing_mm": (1.0, 0.0, 1.0)}, "spacing"),
        ({"gtv": GtvSpec("T4", (1,))}, "not in the phantom"),
    ],
)
def test_bad_input_is_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(SpinetvError, match=match):
        make_spine_phantom(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sectors": (0, 7)}, "subset of 1..6"),
        ({"sectors": ()}, "subset"),
        ({"body_side": "up"}, "body_side"),
        ({"epidural_mm": -1.0}, "epidural_mm"),
        ({"kind": "sclerotic"}, "kind"),
    ],
)
def test_bad_gtv_spec_is_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(SpinetvError, match=match):
        GtvSpec("L2", **kwargs)  # type: ignore[arg-type]


def test_ground_truth_rule_limits_the_body_to_its_width_and_breaks_ties_posteriorly() -> None:
    from spinetv.phantom._shapes import label_parts

    u = np.array([5.0, 30.0, -30.0, 30.0, -30.0, 12.0])
    v = np.array([-10.0, -10.0, -10.0, 0.0, 0.0, -8.0])
    parts = label_parts(
        u, v, np.ones(u.size, dtype=bool), np.full(u.size, 11.0), np.full(u.size, 8.0),
        body_half_width=20.0,
    )
    # body; beside the body in front of the canal -> pedicle side; on c -> lamina side;
    # on a (the wall row) -> pedicle.
    assert parts.tolist() == [1, 2, 6, 3, 5, 2]
    unlimited = label_parts(
        u, v, np.ones(u.size, dtype=bool), np.full(u.size, 11.0), np.full(u.size, 8.0)
    )
    assert unlimited.tolist()[:3] == [1, 1, 1]


@pytest.mark.parametrize("levels", ["L2-L4", "C3-C5"])
def test_canal_is_constant_over_each_level_and_lined_by_bone(levels: str) -> None:
    # The canal of a level is the space its bony ring encloses: one cross-section over the
    # level's height, and at the pedicles' height bone right against it all the way round.
    spine = make_spine_phantom(levels=levels)
    level = parse_levels(levels)[1]
    frame = spine.frames[level]
    canal = frame.to_local(spine.canal.points_lps())
    bone = frame.to_local(spine.vertebrae[level].points_lps())
    areas = [
        int((np.abs(canal[:, 2] - w) < 0.5).sum()) for w in np.arange(-4.0, 4.5, 1.0)
    ]
    assert max(areas) == min(areas)
    at_pedicles = canal[np.abs(canal[:, 2] - 2.0) < 0.5]
    shell = bone[np.abs(bone[:, 2] - 2.0) < 0.5]
    for angle in np.radians(np.arange(0.0, 360.0, 15.0)):
        direction = np.array([np.cos(angle), np.sin(angle)])
        reach = float((at_pedicles[:, :2] @ direction).max())
        beyond = shell[:, :2] @ direction
        across = np.abs(shell[:, :2] @ np.array([-direction[1], direction[0]])) <= 1.0
        assert ((beyond > reach) & (beyond <= reach + 1.5) & across).any(), np.degrees(angle)
