"""TotalSegmentator label maps as named spine masks, on phantoms and on the real outputs."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from spinetv.errors import GeometryMismatchError, ImageInputError
from spinetv.geometry.grid import ImageGrid
from spinetv.geometry.labels import LabelMap
from spinetv.io.dicom_series import read_dicom_series
from spinetv.io.images import read_label_map, write_label_image
from spinetv.io.totalsegmentator import TotalSegmentator, read_totalsegmentator

TS = "totalsegmentator_v2.18.0"


def test_label_tables() -> None:
    total = TotalSegmentator.labels("total")
    assert (total[25], total[26], total[27], total[31]) == ("Sacrum", "S1", "L5", "L1")
    assert (total[32], total[43], total[44], total[50], total[79]) == (
        "T12",
        "T1",
        "C7",
        "C1",
        "SpinalCord",
    )
    assert len(total) == 27
    pp = TotalSegmentator.labels("vertebrae_pp")
    assert (pp[1], pp[7], pp[8], pp[19], pp[20], pp[24]) == ("C1", "C7", "T1", "T12", "L1", "L5")
    assert TotalSegmentator.label_of("l1") == 31
    assert TotalSegmentator.label_of("L1", task="vertebrae_pp") == 20
    with pytest.raises(ImageInputError, match="unknown TotalSegmentator task 'spine'"):
        TotalSegmentator.labels("spine")
    with pytest.raises(ImageInputError, match="'Liver' is not a spine label"):
        TotalSegmentator.label_of("Liver")


def test_phantom_labels_give_only_present_spine_masks(tmp_path: Path) -> None:
    grid = ImageGrid((10, 8, 8), (3.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    labels = np.zeros(grid.shape, dtype=np.uint8)
    labels[0:3, 2:5, 2:5] = 29  # L3
    labels[3:6, 2:5, 2:5] = 30  # L2
    labels[0:10, 6, 3] = 79  # spinal cord
    labels[7, 0, 0] = 5  # liver: not spine
    path = write_label_image(LabelMap.from_array(grid, labels), tmp_path / "seg.nii.gz")
    masks = read_totalsegmentator(path)
    assert list(masks) == ["L2", "L3", "SpinalCord"]
    assert masks["L3"].voxel_count == 27
    np.testing.assert_array_equal(masks["L2"].to_array(), labels == 30)
    assert masks["SpinalCord"].voxel_count == 10


def test_real_total_segmentation_on_its_ct(shared_data: Path) -> None:
    from spinetv.io.images import read_image

    ct = read_image(shared_data / TS / "example_ct.nii.gz", modality="CT")
    masks = read_totalsegmentator(
        shared_data / TS / "example_seg_fast_force_split.nii.gz", grid=ct.grid
    )
    assert list(masks) == [
        "T11",
        "T12",
        "L1",
        "L2",
        "L3",
        "L4",
        "L5",
        "S1",
        "Sacrum",
        "SpinalCord",
    ]
    assert all(m.grid is ct.grid for m in masks.values())
    z_of = {name: mask.centroid_lps()[2] for name, mask in masks.items()}
    assert z_of["T12"] > z_of["L1"] > z_of["L2"] > z_of["L5"] > z_of["S1"]
    assert 30 < masks["L1"].volume_cc < 120
    # LPS: the cord is posterior (+y) to the L1 vertebral body at the L1 levels.
    body = read_label_map(shared_data / TS / "spine_report" / "totalseg_vertebrae_body.nii.gz")
    l1_body = masks["L1"].to_array() & (body.to_array() == 1)
    l1_body_y = ct.grid.index_to_lps(np.argwhere(l1_body)).mean(axis=0)[1]
    cord = masks["SpinalCord"].to_array()
    l1_slices = np.unique(np.argwhere(masks["L1"].to_array())[:, 0])
    cord_at_l1 = np.argwhere(cord[l1_slices.min() : l1_slices.max() + 1])
    cord_at_l1[:, 0] += l1_slices.min()
    cord_y = ct.grid.index_to_lps(cord_at_l1).mean(axis=0)[1]
    assert cord_y > l1_body_y + 15.0
    # Vertebrae in the CT are bone (HU well above soft tissue).
    assert np.median(ct.voxels[masks["L3"].to_array()]) > 150


def test_real_vertebrae_pp_matches_total_levels(shared_data: Path) -> None:
    total = read_totalsegmentator(shared_data / TS / "spine_report" / "totalseg_vertebrae.nii.gz")
    pp = read_totalsegmentator(
        shared_data / TS / "spine_report" / "totalseg_vertebrae_pp_refined.nii.gz",
        task="vertebrae_pp",
    )
    assert list(pp) == ["T12", "L1", "L2", "L3", "L4", "L5"]
    for level in pp:
        distance_mm = np.linalg.norm(pp[level].centroid_lps() - total[level].centroid_lps())
        assert distance_mm < 15.0, level


def test_real_cropped_file_keeps_the_uncropped_origin(shared_data: Path) -> None:
    full = read_totalsegmentator(shared_data / TS / "example_seg_fast_force_split.nii.gz")
    small = read_totalsegmentator(shared_data / TS / "example_seg.nii.gz")
    # example_ct_sm / example_seg hold slices 82..111 but kept slice 0's origin: 82 * 3 mm lower.
    shift_mm = full["L1"].centroid_lps() - small["L1"].centroid_lps()
    np.testing.assert_allclose(shift_mm, [0.0, 0.0, 246.0], atol=3.0)
    assert small["T12"].centroid_lps()[2] > small["L1"].centroid_lps()[2]
    with pytest.raises(GeometryMismatchError, match="is not on the image"):
        read_totalsegmentator(shared_data / TS / "example_seg.nii.gz", grid=full["L1"].grid)


def test_real_segmentation_of_the_dicom_series(shared_data: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ct = read_dicom_series(shared_data / TS / "example_ct_dicom")
    # The label file stores the rows reversed; it is re-indexed onto the DICOM grid.
    masks = read_totalsegmentator(shared_data / TS / "example_seg_dicom.nii.gz", grid=ct.grid)
    assert list(masks) == ["T11", "T12", "SpinalCord"]
    assert masks["T12"].grid.frame_of_reference_uid == ct.grid.frame_of_reference_uid
    unaligned = read_totalsegmentator(shared_data / TS / "example_seg_dicom.nii.gz")
    np.testing.assert_allclose(
        masks["SpinalCord"].centroid_lps(), unaligned["SpinalCord"].centroid_lps(), atol=1e-6
    )
    assert np.median(ct.voxels[masks["T12"].to_array()]) > 150
