"""The bundled sample case (data/sample_rtstruct): read by spinetv, rt-utils and dicompyler-core.

These tests run on the committed files only (no ../shared/data needed).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from dicom_checks import dciodvfy_errors, dicompyler_volumes
from spinetv.geometry.booleans import contains, overlap_cc
from spinetv.io.dicom_series import read_dicom_series
from spinetv.io.image import Image
from spinetv.io.rtstruct import read_rtstruct, read_structures
from spinetv.sample import SAMPLE_DIR_ENV, SAMPLE_GTV_NAME, SampleDataError, sample_case_dir
from spinetv.structure import RoiType, Structure

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SAMPLE = PROJECT_ROOT / "data" / "sample_rtstruct"
RS = SAMPLE / "RS_sample.dcm"
LEVELS = ("T12", "L1", "L2", "L3", "L4", "L5", "S1")
EXPECTED = ("BODY", SAMPLE_GTV_NAME, *LEVELS, "Sacrum", "SpinalCord")
DEMO = "demonstration lesion, not a patient's"

pytestmark = pytest.mark.skipif(not RS.is_file(), reason=f"sample case not built: {RS} absent")


@pytest.fixture(scope="module")
def image() -> Image:
    return read_dicom_series(SAMPLE / "CT")


@pytest.fixture(scope="module")
def structures(image: Image) -> dict[str, Structure]:
    assert image.reference is not None
    return read_structures(RS, image.reference)


# ---- the files ---------------------------------------------------------------------------------


def test_sample_folder_is_small_and_carries_its_licence() -> None:
    total_mb = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file()) / 1e6
    assert total_mb < 8.0
    assert "Apache License" in (SAMPLE / "LICENSE").read_text()
    notice = (SAMPLE / "NOTICE.md").read_text()
    for needed in (
        "TotalSegmentator",
        "2.18.0",
        "Apache",
        "not a patient's",
        "make_sample_case.py",
        "not manual ground truth",
    ):
        assert needed in notice, needed


def test_ct_identity_is_synthetic_and_hu_are_int16(image: Image) -> None:
    ref = image.reference
    assert ref is not None
    assert ref.patient["PatientName"] == "SPINETV^SAMPLE"
    assert ref.patient["PatientID"] == "SPINETV-SAMPLE-001"
    assert "TotalSegmentator" in ref.study["StudyDescription"]
    assert image.grid.shape == (112, 101, 122)
    assert image.grid.spacing_mm == pytest.approx((3.0, 3.0, 3.0))
    # Axial head-first supine: rows run to patient left, columns posterior, slices superior.
    np.testing.assert_allclose(image.grid.direction, np.eye(3)[:, ::-1], atol=1e-6)
    voxels = image.voxels
    assert voxels.dtype == np.int16
    assert -1300 < int(voxels.min()) < -900 and 2000 < int(voxels.max()) < 4000


# ---- spinetv reads it --------------------------------------------------------------------------


def test_every_roi_present_non_empty_and_typed(structures: dict[str, Structure]) -> None:
    assert list(structures) == list(EXPECTED)
    for name, structure in structures.items():
        assert not structure.mask.is_empty, name
    assert structures["BODY"].roi_type is RoiType.EXTERNAL
    assert structures[SAMPLE_GTV_NAME].roi_type is RoiType.GTV
    for name in (*LEVELS, "Sacrum", "SpinalCord"):
        assert structures[name].roi_type is RoiType.ORGAN, name
    # Plausible adult lumbar vertebrae (TotalSegmentator's spine report: L1-L5 about 55-70 ml).
    for name in LEVELS[1:6]:
        assert 45.0 < structures[name].volume_cc < 80.0, name


def test_vertebrae_run_from_t12_down_to_the_sacrum(structures: dict[str, Structure]) -> None:
    z_mm = [structures[name].mask.centroid_lps()[2] for name in (*LEVELS, "Sacrum")]
    assert all(upper > lower + 15.0 for upper, lower in zip(z_mm, z_mm[1:])), z_mm


def test_gtv_is_a_left_sided_l2_lesion(structures: dict[str, Structure]) -> None:
    gtv = structures[SAMPLE_GTV_NAME].mask
    l2 = structures["L2"].mask
    assert contains(l2, gtv)
    assert overlap_cc(gtv, structures["L1"].mask) == 0.0
    assert overlap_cc(gtv, structures["L3"].mask) == 0.0
    assert 5.0 < gtv.volume_cc < 15.0
    # Patient left is +x in LPS: the lesion sits left of the vertebra and of the canal.
    l2_box = l2.box
    cord = structures["SpinalCord"].mask.to_array()[l2_box.start[0] : l2_box.stop[0]]
    cord_x_mm = l2.grid.index_to_lps(np.argwhere(cord).mean(axis=0) + [l2_box.start[0], 0, 0])[0]
    gtv_x_mm = gtv.centroid_lps()[0]
    assert gtv_x_mm > l2.centroid_lps()[0] + 5.0
    assert gtv_x_mm > cord_x_mm + 8.0
    # Every GTV voxel is left of the canal centre line.
    assert gtv.points_lps()[:, 0].min() > cord_x_mm


def test_gtv_reaches_the_body_and_left_pedicle_sectors(structures: dict[str, Structure]) -> None:
    """The point of the demonstration: the ISRC rows for body + one pedicle apply."""
    from spinetv.anatomy.sectors import label_spine

    vertebrae = {name: structures[name].mask for name in ("T12", "L1", "L2", "L3", "L4", "L5")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sectors = label_spine(vertebrae, cord=structures["SpinalCord"].mask)["L2"]
    gtv = structures[SAMPLE_GTV_NAME].mask
    touched = {k: overlap_cc(gtv, sectors.sector(k)) for k in range(1, 7)}
    # Measured when the sample was made: 7.32 cc body, 0.62 cc left pedicle, nothing else.
    assert touched[1] > 5.0, touched
    assert touched[2] > 0.2, touched
    assert touched[4] == touched[5] == touched[6] == 0.0, touched


def test_descriptions_say_what_is_real_and_what_is_not() -> None:
    data = read_rtstruct(RS)
    gtv = data.roi(SAMPLE_GTV_NAME)
    assert DEMO in gtv.description
    for name in LEVELS:
        roi = data.roi(name)
        assert roi.generation_algorithm == "AUTOMATIC", name
        assert "TotalSegmentator v2.18.0 prediction" in roi.description, name
    import pydicom

    ds = pydicom.dcmread(RS, stop_before_pixels=True)
    assert DEMO in ds.StructureSetDescription
    assert "DEMO" in ds.StructureSetLabel
    assert ds.PatientID == "SPINETV-SAMPLE-001"


# ---- other readers ------------------------------------------------------------------------------


def test_rt_utils_reads_gtv_and_l2(image: Image, structures: dict[str, Structure]) -> None:
    rt_utils = pytest.importorskip("rt_utils")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rtstruct = rt_utils.RTStructBuilder.create_from(
            dicom_series_path=str(SAMPLE / "CT"), rt_struct_path=str(RS)
        )
    assert set(rtstruct.get_roi_names()) == set(EXPECTED)
    n_rows, n_cols = image.grid.shape[1:]
    in_plane = np.zeros((1, 3, 3), bool)
    in_plane[0] = True
    for name in (SAMPLE_GTV_NAME, "L2"):
        raw = rtstruct.get_roi_mask_by_name(name)
        # rt-utils 1.2.7 allocates (Columns, Rows, slices) but fills it as (row, column): on
        # this 101-row, 122-column image it cuts columns >= 101 (BODY loses 109045 voxels).
        # GTV and L2 lie left of that cut, checked here so the comparison stays fair.
        rows, cols = min(raw.shape[0], n_rows), min(raw.shape[1], n_cols)
        ours = structures[name].mask.to_array()
        assert not ours[:, :, cols:].any(), name
        theirs = np.zeros(image.grid.shape, bool)
        theirs[:, :rows, :cols] = np.transpose(raw[:rows, :cols], (2, 0, 1))
        # rt-utils rounds vertices to whole pixels and fills the boundary pixels: it holds our
        # voxels plus at most a one-pixel ring in-plane, which at 3 mm pixels is a lot.
        assert not np.any(ours & ~theirs), name
        assert not np.any(theirs & ~ndimage.binary_dilation(ours, in_plane)), name
        ratio = theirs.sum() / ours.sum()
        # Measured: GTV 10.45 / 7.94 cc = 1.32, L2 75.17 / 60.53 cc = 1.24. Not the ~10 % one
        # might hope for: at 3 mm the ring of boundary pixels is a quarter of the volume.
        assert 1.05 < ratio < 1.45, (name, ratio)


def test_dicompyler_core_reads_every_roi(
    tmp_path: Path, image: Image, structures: dict[str, Structure]
) -> None:
    volumes = dicompyler_volumes(RS, image.grid, tmp_path)
    assert set(volumes) == set(EXPECTED)
    assert volumes[SAMPLE_GTV_NAME]["type"] == "GTV"
    assert volumes["BODY"]["type"] == "EXTERNAL"
    for name in EXPECTED:
        # Point-in-polygon at pixel centres finds exactly spinetv's voxels.
        assert volumes[name]["volume_mask_cc"] == pytest.approx(
            structures[name].volume_cc, rel=1e-9
        ), name


@pytest.mark.parametrize("relative", ["RS_sample.dcm", "CT/CT0056.dcm"])
def test_dciodvfy_finds_no_error(relative: str) -> None:
    assert dciodvfy_errors(SAMPLE / relative) == []


# ---- locating the sample ------------------------------------------------------------------


def test_sample_case_dir_finds_the_checkout_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SAMPLE_DIR_ENV, raising=False)
    assert sample_case_dir() == SAMPLE.resolve()


def test_sample_case_dir_prefers_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "sample"
    (copy / "CT").mkdir(parents=True)
    (copy / "RS_sample.dcm").write_bytes(b"")
    monkeypatch.setenv(SAMPLE_DIR_ENV, str(copy))
    assert sample_case_dir() == copy


def test_sample_case_dir_names_a_missing_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nowhere"
    monkeypatch.setenv(SAMPLE_DIR_ENV, str(missing))
    with pytest.raises(SampleDataError, match=rf"{SAMPLE_DIR_ENV}=.*nowhere.*does not exist"):
        sample_case_dir()


def test_sample_case_dir_names_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "CT").mkdir()
    monkeypatch.setenv(SAMPLE_DIR_ENV, str(tmp_path))
    with pytest.raises(SampleDataError, match="no RS\\*.dcm"):
        sample_case_dir()
