"""The raw ContourSequence reader gives exactly the contours pydicom's Datasets give."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from spinetv.io import _raw_sequence, rtstruct_read
from spinetv.io.rtstruct_read import RoiContour, read_rtstruct

SAMPLE_RS = Path(__file__).resolve().parents[2] / "data" / "sample_rtstruct" / "RS_sample.dcm"
PYDICOM_3 = int(pydicom.__version__.split(".")[0]) >= 3


def _roi_items(path: Path) -> list[Dataset]:
    return list(pydicom.dcmread(path).ROIContourSequence)


def _assert_same(fast: tuple[RoiContour, ...], slow: tuple[RoiContour, ...]) -> None:
    assert len(fast) == len(slow)
    for a, b in zip(fast, slow, strict=True):
        assert a.geometric_type == b.geometric_type
        assert a.points_lps_mm.shape == b.points_lps_mm.shape
        assert a.points_lps_mm.tobytes() == b.points_lps_mm.tobytes()
        assert a.referenced_sop_instance_uids == b.referenced_sop_instance_uids


def _compare_file(path: Path) -> tuple[int, int]:
    """(items read by the raw walker, items left to pydicom), after checking both agree."""
    fast_items, slow_items = _roi_items(path), _roi_items(path)
    used = fallback = 0
    for fast_item, slow_item in zip(fast_items, slow_items, strict=True):
        fast = rtstruct_read._raw_contours(fast_item)
        if fast is None:
            fallback += 1
            continue
        used += 1
        _assert_same(fast, rtstruct_read._dataset_contours(slow_item))
    return used, fallback


def _transcode(
    tmp_path: Path,
    syntax: str,
    *,
    undefined_rois: bool = False,
    undefined_items: bool = False,
    n_rois: int = 3,
) -> Path:
    """RS_sample with its first ROIs, written in ``syntax`` with the chosen length encodings."""
    ds = pydicom.dcmread(SAMPLE_RS)
    del ds.ROIContourSequence[n_rois:]
    ds["ROIContourSequence"].is_undefined_length = undefined_rois
    for roi_item in ds.ROIContourSequence:
        roi_item.is_undefined_length_sequence_item = undefined_items
        # The ContourSequence keeps a defined length: pydicom parses undefined-length
        # sequences itself while reading, so only defined ones reach the raw walker.
        roi_item["ContourSequence"].is_undefined_length = False
        for contour in roi_item.ContourSequence:
            contour.is_undefined_length_sequence_item = undefined_items
            if "ContourImageSequence" in contour:
                contour["ContourImageSequence"].is_undefined_length = undefined_items
                for image in contour.ContourImageSequence:
                    image.is_undefined_length_sequence_item = undefined_items
    for _ in ds.iterall():  # converts every raw element, so any byte order can be written
        pass
    ds.file_meta.TransferSyntaxUID = syntax
    out = tmp_path / f"rs_{undefined_rois:d}{undefined_items:d}.dcm"
    pydicom.dcmwrite(out, ds, enforce_file_format=True)
    return out


def test_sample_and_phantom_files_use_the_raw_walker() -> None:
    used, fallback = _compare_file(SAMPLE_RS)
    assert used == 11 and fallback == 0


def test_spinetv_written_phantom_agrees(tmp_path: Path) -> None:
    from spinetv.phantom import GtvSpec, make_spine_phantom, write_phantom

    phantom = make_spine_phantom(
        levels=("L1", "L2"),
        spacing_mm=(2.0, 2.0, 2.0),
        shape=(40, 64, 64),
        gtv=GtvSpec(level="L1", sectors=(1,), body_side="left"),
        seed=0,
    )
    write_phantom(phantom, tmp_path / "ph")
    used, fallback = _compare_file(tmp_path / "ph" / "RTSTRUCT.dcm")
    assert used > 0 and fallback == 0


def test_real_rtstructs_agree(shared_data: Path) -> None:
    files = sorted((shared_data / "rtstruct_pairs").glob("**/*.dcm"))
    checked = 0
    for path in files:
        if pydicom.dcmread(path, stop_before_pixels=True).get("Modality") != "RTSTRUCT":
            continue
        used, fallback = _compare_file(path)
        assert used + fallback > 0
        checked += 1
    assert checked >= 3
    # Varian ARIA writes implicit VR little endian with defined lengths: the raw walker reads it.
    varian = shared_data / "rtstruct_pairs" / "visible_human_dicomrttool" / "RS_Body_SpinalCord.dcm"
    assert _compare_file(varian) == (2, 0)


@pytest.mark.skipif(not PYDICOM_3, reason="writes with pydicom 3's save_as")
@pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, ExplicitVRLittleEndian])
@pytest.mark.parametrize(("undefined_rois", "undefined_items"), [(False, True), (True, True)])
def test_undefined_length_items_agree(
    tmp_path: Path, syntax: str, undefined_rois: bool, undefined_items: bool
) -> None:
    path = _transcode(
        tmp_path, syntax, undefined_rois=undefined_rois, undefined_items=undefined_items
    )
    raw = pydicom.dcmread(path).ROIContourSequence[0].get_item(0x30060040)
    assert isinstance(raw.value, bytes)
    contour_bytes = raw.value
    assert b"\xfe\xff\x0d\xe0" in contour_bytes  # item delimiters inside: undefined items
    assert b"\xfe\xff\xdd\xe0" in contour_bytes  # sequence delimiters: ContourImageSequence
    assert _compare_file(path) == (3, 0)
    data = read_rtstruct(path)
    first = data.contours[data.rois[0].number][0]
    assert first.referenced_sop_instance_uids
    assert first.referenced_sop_instance_uids[0].startswith("1.2.826.0.1.3680043")


@pytest.mark.skipif(not PYDICOM_3, reason="writes with pydicom 3's save_as")
def test_big_endian_falls_back_to_pydicom(tmp_path: Path) -> None:
    path = _transcode(tmp_path, ExplicitVRBigEndian)
    item = pydicom.dcmread(path).ROIContourSequence[0]
    assert rtstruct_read._raw_contours(item) is None
    expected = read_rtstruct(SAMPLE_RS)
    found = read_rtstruct(path)
    number = found.rois[0].number
    _assert_same(found.contours[number], expected.contours[number])


def test_unusual_values_fall_back_to_pydicom() -> None:
    (item,) = _roi_items(SAMPLE_RS)[:1]
    raw = item.get_item(0x30060040)
    # A trailing NUL in ContourGeometricType: pydicom's CS rules decide, not the raw walker.
    padded = raw.value.replace(b"CLOSED_PLANAR", b"CLOSED_PLANA\x00", 1)
    assert padded != raw.value
    item._dict[raw.tag] = raw._replace(value=padded)
    assert rtstruct_read._raw_contours(item) is None
    assert rtstruct_read._dataset_contours(item)[0].geometric_type == "CLOSED_PLANA"


def test_truncated_sequence_is_refused_by_the_walker() -> None:
    (item,) = _roi_items(SAMPLE_RS)[:1]
    raw = item.get_item(0x30060040)
    item._dict[raw.tag] = raw._replace(value=raw.value[:-5], length=raw.length - 5)
    assert rtstruct_read._raw_contours(item) is None
    with pytest.raises(_raw_sequence.RawWalkError):
        _raw_sequence.sequence_items(raw.value[:-5], 0, len(raw.value) - 5, False, False)


def test_read_rtstruct_contours_match_pydicom_values() -> None:
    data = read_rtstruct(SAMPLE_RS)
    ds = pydicom.dcmread(SAMPLE_RS)
    roi_item = ds.ROIContourSequence[1]
    number = int(roi_item.ReferencedROINumber)
    contours = data.contours[number]
    assert len(contours) == len(roi_item.ContourSequence)
    for contour, item in zip(contours, roi_item.ContourSequence, strict=True):
        expected = np.array([float(v) for v in item.ContourData]).reshape(-1, 3)
        np.testing.assert_array_equal(contour.points_lps_mm, expected)
        assert contour.geometric_type == item.ContourGeometricType


def _plane_edges_one_by_one(
    rows_cols: list[np.ndarray], planes: list[int], n_rows: int, n_cols: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """The per-contour computation _plane_edges replaces."""
    edge_parts, plane_parts, clipped = [], [], 0
    for part, plane in zip(rows_cols, planes, strict=True):
        if (
            part[:, 0].min() < -0.5
            or part[:, 0].max() > n_rows - 0.5
            or part[:, 1].min() < -0.5
            or part[:, 1].max() > n_cols - 0.5
        ):
            clipped += 1
        edges = np.concatenate([part, np.roll(part, -1, axis=0)], axis=1)
        edges = edges[edges[:, 0] != edges[:, 2]]
        edge_parts.append(edges)
        plane_parts.append(np.full(len(edges), plane, dtype=np.intp))
    return np.concatenate(edge_parts), np.concatenate(plane_parts), clipped


def test_plane_edges_equal_the_per_contour_computation() -> None:
    rng = np.random.default_rng(3)
    rows_cols = [rng.uniform(-2.0, 12.0, size=(n, 2)).round(1) for n in (3, 7, 4, 12, 5)]
    rows_cols[1][2, 0] = rows_cols[1][3, 0]  # a horizontal edge, dropped
    rows_cols[2] = np.array([[1.0, 1.0], [1.0, 5.0], [4.0, 5.0], [4.0, 1.0]])  # inside
    planes = [0, 2, 2, 5, 1]
    edges, edge_planes, clipped = rtstruct_read._plane_edges(rows_cols, planes, 10, 10)
    expected_edges, expected_planes, expected_clipped = _plane_edges_one_by_one(
        rows_cols, planes, 10, 10
    )
    assert edges.tobytes() == expected_edges.tobytes()
    np.testing.assert_array_equal(edge_planes, expected_planes)
    assert clipped == expected_clipped
    assert 0 < clipped < len(rows_cols)
    empty_edges, empty_planes, none_clipped = rtstruct_read._plane_edges([], [], 10, 10)
    assert empty_edges.shape == (0, 4) and empty_planes.shape == (0,) and none_clipped == 0
