"""The whole job on phantoms with known answers: sectors -> CTV -> planning volumes."""

from __future__ import annotations

import pytest

from spinetv import AnatomyError
from spinetv.geometry.booleans import contains, dice, overlap_cc, union
from spinetv.phantom import GtvSpec, make_spine_phantom
from spinetv.pipeline import Anatomy, PlanOptions, plan
from spinetv.structure import check_tg263_name


def _anatomy(phantom) -> Anatomy:  # type: ignore[no-untyped-def]
    return Anatomy(phantom.grid, dict(phantom.vertebrae), cord=phantom.cord)


@pytest.fixture(scope="module")
def lumbar():  # type: ignore[no-untyped-def]
    return make_spine_phantom(
        levels=("L1", "L2", "L3"),
        spacing_mm=(2.0, 1.0, 1.0),
        gtv=GtvSpec(level="L2", sectors=(1, 2), body_side="left"),
        seed=3,
    )


def test_lumbar_plan_follows_isrc_row_d_and_builds_every_volume(lumbar) -> None:  # type: ignore[no-untyped-def]
    result = plan(lumbar.gtv, _anatomy(lumbar), PlanOptions(protocol="sib-sbrt-2025"))
    by_name = {s.name: s for s in result.structures}
    assert result.report["involved_levels"] == ["L2"]
    level = result.report["levels"][0]
    assert level["involved_sectors"] == [1, 2]
    assert level["ctv_sectors"] == [1, 2, 3]
    expected_ctv = union(lumbar.gtv, *(lumbar.parts["L2"][k] for k in (1, 2, 3)))
    assert dice(by_name["CTV"].mask, expected_ctv) >= 0.97
    assert contains(by_name["CTV"].mask, lumbar.gtv)
    assert contains(by_name["PTV"].mask, by_name["CTV"].mask)
    assert overlap_cc(by_name["PTV_Eval"].mask, by_name["SpinalCanal"].mask) == 0
    assert contains(by_name["SpinalCord_PRV02"].mask, lumbar.cord)
    for name in by_name:
        assert check_tg263_name(name) == [], name
    for name in ("CTV", "PTV", "PTV_Eval", "SpinalCord_PRV02"):
        assert result.report["structures"][name]["volume_cc"] > 0
        assert result.report["structures"][name]["made_by"]


def test_trial_arms_differ_as_the_protocols_say(lumbar) -> None:  # type: ignore[no-untyped-def]
    involved = plan(lumbar.gtv, _anatomy(lumbar), PlanOptions("chictr1900023401-involved"))
    whole = plan(lumbar.gtv, _anatomy(lumbar), PlanOptions("chictr1900023401-whole"))
    whole_ctv = next(s.mask for s in whole.structures if s.name == "CTV")
    assert dice(whole_ctv, union(lumbar.vertebrae["L2"], lumbar.gtv)) >= 0.97
    involved_ctv = next(s.mask for s in involved.structures if s.name == "CTV")
    assert involved_ctv.volume_cc < whole_ctv.volume_cc
    assert whole.report["levels"][0]["ctv_sectors"] == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("orientation", ["FFS", "HFP"])
def test_orientation_does_not_change_the_answer(lumbar, orientation: str) -> None:  # type: ignore[no-untyped-def]
    turned = make_spine_phantom(
        levels=("L1", "L2", "L3"),
        spacing_mm=(2.0, 1.0, 1.0),
        orientation=orientation,
        gtv=GtvSpec(level="L2", sectors=(1, 2), body_side="left"),
        seed=3,
    )
    reference = plan(lumbar.gtv, _anatomy(lumbar)).report
    other = plan(turned.gtv, _anatomy(turned)).report
    assert other["levels"][0]["ctv_sectors"] == reference["levels"][0]["ctv_sectors"]
    for name in ("CTV", "PTV", "PTV_Eval"):
        assert other["structures"][name]["volume_cc"] == pytest.approx(
            reference["structures"][name]["volume_cc"], rel=0.02
        )


def test_sacral_ptv_eval_excludes_canal_and_foramina() -> None:
    phantom = make_spine_phantom(
        levels=("L5", "S1", "S2", "S3", "S4", "S5"),
        spacing_mm=(2.0, 1.0, 1.0),
        gtv=GtvSpec(level="S2", sectors=(1, 2), body_side="left"),
        seed=5,
    )
    result = plan(phantom.gtv, _anatomy(phantom), PlanOptions(protocol="sib-sbrt-2025"))
    by_name = {s.name: s for s in result.structures}
    assert "S2" in result.report["involved_levels"]
    steps = result.report["structures"]["PTV_Eval"]["made_by"]
    assert "minus SacralCanal" in steps and "minus SacralForamina" in steps
    assert overlap_cc(by_name["PTV_Eval"].mask, by_name["SacralCanal"].mask) == 0
    assert overlap_cc(by_name["PTV_Eval"].mask, by_name["SacralForamina"].mask) == 0
    assert any(name.startswith("S2_") for name in by_name)


def test_gtv_far_from_any_vertebra_is_a_clear_error(lumbar) -> None:  # type: ignore[no-untyped-def]
    far = make_spine_phantom(
        levels=("T10", "T11"),
        spacing_mm=(2.0, 1.0, 1.0),
        gtv=GtvSpec(level="T10", sectors=(1,)),
        seed=1,
    )
    only_lumbar = Anatomy(far.grid, {"T11": far.vertebrae["T11"]})
    with pytest.raises(AnatomyError, match="touches none of the vertebrae T11"):
        plan(far.gtv, only_lumbar)


def test_missing_requested_level_is_named(lumbar) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AnatomyError, match="L4"):
        plan(lumbar.gtv, _anatomy(lumbar), PlanOptions(levels=("L2", "L4")))


def test_coarse_pixels_get_the_full_margin_on_a_refined_grid(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from spinetv.geometry.margins import Margin, expand
    from spinetv.geometry.resample import refine_in_plane
    from spinetv.io.rtstruct import read_structures, write_rtstruct
    from spinetv.phantom import write_phantom

    coarse = make_spine_phantom(
        levels=("L1", "L2", "L3"),
        spacing_mm=(3.0, 3.0, 3.0),
        gtv=GtvSpec(level="L2", sectors=(1, 2), body_side="left"),
        seed=3,
    )
    result = plan(coarse.gtv, _anatomy(coarse), PlanOptions(protocol="sib-sbrt-2025"))
    assert result.report["options"]["planning_grid"]["in_plane_refinement"] == 3
    effective = result.report["structures"]["PTV"]["effective_margin_mm"]
    assert effective["left"] == effective["anterior"] == pytest.approx(2.0)
    by_name = {s.name: s for s in result.structures}
    ptv, ctv = by_name["PTV"].mask, by_name["CTV"].mask
    assert ptv.grid.spacing_mm[1:] == pytest.approx((1.0, 1.0))
    # 5 mm superior-inferior on 3 mm slices: two whole slices (margin_rounding = at_least).
    assert effective["superior"] == effective["inferior"] == pytest.approx(6.0)
    expected = expand(refine_in_plane(ctv, 3), Margin.axial_si(2.0, 6.0))
    assert dice(ptv, expected) == 1.0
    # On the image's own pixels the 2 mm margin would have added nothing in-plane.
    assert ptv.volume_cc > expand(ctv, Margin.axial_si(2.0, 5.0)).volume_cc * 1.15

    ct, _ = write_phantom(coarse, tmp_path / "case")
    from spinetv.io.dicom_series import read_dicom_series

    reference = read_dicom_series(ct).reference
    assert reference is not None
    out = write_rtstruct([by_name["PTV"]], reference, tmp_path / "ptv.dcm")
    back = read_structures(out, ptv.grid)["PTV"].mask
    assert dice(back, ptv) == 1.0


def test_epidural_gtv_still_gets_the_canal_excluded_from_ptv_eval(lumbar) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from spinetv import Mask

    # Epidural disease inside the canal at L2's height, plus one voxel of bone: no sector
    # reaches min_overlap_cc, yet the PTV_Eval must still leave the canal out.
    canal_points = np.argwhere(lumbar.canal.box_array) + np.asarray(lumbar.canal.box.start)
    l2_z = lumbar.vertebrae["L2"].centroid_lps()[2]
    z_mm = lumbar.grid.index_to_lps(canal_points)[:, 2]
    epidural = canal_points[np.abs(z_mm - l2_z) < 6]
    bone = np.argwhere(lumbar.parts["L2"][1].box_array)[0] + np.asarray(
        lumbar.parts["L2"][1].box.start
    )
    array = np.zeros(lumbar.grid.shape, dtype=bool)
    array[tuple(epidural[: len(epidural) // 3].T)] = True
    array[tuple(bone)] = True
    gtv = Mask.from_array(lumbar.grid, array)
    anatomy = Anatomy(lumbar.grid, dict(lumbar.vertebrae), cord=lumbar.cord)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = plan(gtv, anatomy)
    # No sector is involved by overlap; the epidural GTV abuts L2's bone, so L2's rows apply
    # to the sectors it abuts (abutting_mm, the library's choice; issue 11).
    assert result.report["involved_levels"] == ["L2"]
    l2 = result.report["ctv"]["levels"]
    assert any(lv["level"] == "L2" and lv["involvement_decisions"] for lv in l2)
    assert "minus SpinalCanal" in result.report["structures"]["PTV_Eval"]["made_by"]
    assert overlap_cc(result.structure("PTV_Eval").mask, result.structure("SpinalCanal").mask) == 0


def test_missing_cord_is_said_and_sacral_ctv_names_its_guideline() -> None:
    phantom = make_spine_phantom(
        levels=("L5", "S1", "S2", "S3", "S4", "S5"),
        spacing_mm=(2.0, 1.0, 1.0),
        gtv=GtvSpec(level="S2", sectors=(1, 6), body_side="right"),
        seed=5,
    )
    result = plan(phantom.gtv, Anatomy(phantom.grid, dict(phantom.vertebrae)))
    notes = " ".join(result.report["notes"])
    assert "SpinalCord_PRV02 not made" in notes and "SpinalCord_Eval not made" in notes
    ctv = result.report["structures"]["CTV"]
    assert any(g.startswith("ccr-sacrum-2020") for g in ctv["guidelines_used"])


def test_prv_reach_is_reported(lumbar) -> None:  # type: ignore[no-untyped-def]
    result = plan(lumbar.gtv, _anatomy(lumbar))
    reach = result.report["structures"]["SpinalCord_PRV02"]["effective_margin_mm"]
    assert reach["left"] == pytest.approx(2.0)
    assert reach["superior"] == pytest.approx(2.0)  # 2 mm slices


def test_derived_canal_grows_by_at_least_a_voxel_for_ptv_eval() -> None:
    import numpy as np

    from spinetv.geometry.grid import ImageGrid
    from spinetv.pipeline import canal_safety_margin

    fine = canal_safety_margin(ImageGrid((10, 10, 10), (1.0, 1.0, 1.0), (0, 0, 0)), 1.5)
    assert (fine.left_mm, fine.anterior_mm, fine.superior_mm) == (1.5, 1.5, 1.5)
    thick = canal_safety_margin(ImageGrid((10, 10, 10), (3.0, 0.6, 0.6), (0, 0, 0)), 1.5)
    assert (thick.left_mm, thick.posterior_mm, thick.inferior_mm) == (1.5, 1.5, 3.0)
    coarse = canal_safety_margin(ImageGrid((10, 10, 10), (2.0, 2.5, 2.5), (0, 0, 0)), 1.5)
    assert (coarse.right_mm, coarse.superior_mm) == (2.5, 2.0)
    # A grid tilted 30 deg about x: a voxel's extent along z mixes slice and row spacing.
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    tilted = np.array([[0, 0, 1.0], [s, c, 0], [c, -s, 0]])  # columns: slice, row, column
    grid = ImageGrid((10, 10, 10), (3.0, 1.0, 1.0), (0, 0, 0), tilted)
    margin = canal_safety_margin(grid, 1.5)
    assert margin.superior_mm == pytest.approx(3.0 * c + 1.0 * s)
