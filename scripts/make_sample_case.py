"""Build the bundled sample case ``data/sample_rtstruct/`` from TotalSegmentator's test data.

Usage::

    python scripts/make_sample_case.py [--source ../shared/data/totalsegmentator_v2.18.0]
                                       [--out data/sample_rtstruct] [--force]

Input (TotalSegmentator v2.18.0 ``tests/reference_files``, Apache-2.0):

* ``example_ct.nii.gz``: a real abdominal/pelvic CT, 122x101x112 voxels of 3 mm, RAS, int32 HU;
* ``spine_report/totalseg_vertebrae.nii.gz``: TotalSegmentator ``total`` vertebra labels on it
  (26 S1, 27..31 L5..L1, 32 T12, 33 T11);
* ``example_seg_fast_force_split.nii.gz``: the full ``total`` labels (25 sacrum, 79 spinal cord).

Output:

* ``CT/CT0001.dcm ...``: the CT re-indexed onto an axial head-first-supine grid (a flip of the
  row and column axes, no resampling), int16 HU, synthetic patient and study identity;
* ``RS_sample.dcm``: BODY, GTV (a demonstration lesion, not a patient's), T12, L1..L5, S1,
  Sacrum (the rest of the sacrum) and SpinalCord; T11 is cut by the image top and left out;
* ``LICENSE`` (TotalSegmentator's Apache-2.0 text) and ``NOTICE.md``.

Everything except the DICOM UIDs of the series, slices and structure set and the creation
dates/times is deterministic: the FrameOfReferenceUID and StudyInstanceUID are derived from
fixed strings.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydicom.uid import generate_uid
from scipy import ndimage

from spinetv.errors import SpinetvError
from spinetv.geometry.booleans import intersection, subtract
from spinetv.geometry.grid import AXIAL_HFS_DIRECTION, ImageGrid
from spinetv.geometry.mask import Mask
from spinetv.io.dicom_series import write_dicom_series
from spinetv.io.images import read_image
from spinetv.io.reference import SeriesReference
from spinetv.io.rtstruct import write_rtstruct
from spinetv.io.totalsegmentator import read_totalsegmentator
from spinetv.structure import Provenance, RoiType, Structure

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "data" / "totalsegmentator_v2.18.0"
DEFAULT_OUT = REPO_ROOT / "data" / "sample_rtstruct"

TOTALSEG_VERSION = "TotalSegmentator v2.18.0"
PREDICTION = f"{TOTALSEG_VERSION} prediction"
DEMO_NOTE = "demonstration lesion, not a patient's"
#: Fixed seeds of the UIDs that other files may want to match across regenerations.
_UID_SEED = "spinetv sample case v1 (TotalSegmentator v2.18.0 example_ct)"

VERTEBRA_LEVELS = ("T12", "L1", "L2", "L3", "L4", "L5", "S1")
#: TotalSegmentator ``total`` label of each level, for the ROI descriptions.
_TOTAL_LABELS = {"T12": 32, "L1": 31, "L2": 30, "L3": 29, "L4": 28, "L5": 27, "S1": 26}

#: Demonstration GTV: a sphere in the left posterior part of the L2 body, clipped to L2.
GTV_LEVEL = "L2"
GTV_RADIUS_MM = 13.0
#: Sphere centre relative to the canal centre (x, patient left) and to the posterior edge of
#: the body (y, anterior is negative), in mm. Chosen so that spinetv's ISRC sectors of L2 see
#: body (7.3 cc) and left pedicle (0.6 cc, about 60 % of it) and nothing else: 2 mm further
#: back, or 3 mm more radius, and the left lamina (sector 3) is touched too.
GTV_LEFT_OF_CANAL_MM = 12.0
GTV_ANTERIOR_OF_BODY_BACK_MM = 3.0
BODY_THRESHOLD_HU = -500.0

PATIENT = {
    "PatientName": "SPINETV^SAMPLE",
    "PatientID": "SPINETV-SAMPLE-001",
    "PatientBirthDate": "",
    "PatientSex": "",
}
STUDY = {
    "StudyDate": "20000101",
    "StudyTime": "000000",
    "StudyID": "SAMPLE",
    "AccessionNumber": "",
    "ReferringPhysicianName": "",
    # LO: at most 64 characters.
    "StudyDescription": "spinetv sample, derived from TotalSegmentator 2.18.0 test data",
}

_COLORS = {
    "BODY": (0, 160, 0),
    "GTV": (255, 0, 0),
    "Sacrum": (200, 160, 120),
    "SpinalCord": (255, 255, 0),
}
_VERTEBRA_COLORS = ((80, 160, 255), (255, 140, 0))


@dataclass(frozen=True)
class SampleCase:
    """The sample CT and its structures before writing."""

    voxels_hu: NDArray[np.int16]
    grid: ImageGrid
    structures: tuple[Structure, ...]


def uid(*parts: str) -> str:
    """A UID derived from the fixed seed and ``parts`` (the same on every run)."""
    return str(generate_uid(entropy_srcs=[_UID_SEED, *parts]))


def to_axial_hfs(
    voxels: NDArray[np.generic], grid: ImageGrid
) -> tuple[NDArray[np.generic], ImageGrid]:
    """Re-index an axis-aligned volume so its rows run to patient left and columns posterior.

    Only axis swaps and flips are done (no resampling), so every voxel keeps its value and its
    position in LPS mm. A NIfTI file in RAS order becomes a grid a DICOM viewer shows as a
    head-first supine axial series.
    """
    if not grid.is_axis_aligned:
        raise SpinetvError(
            f"{grid.describe()}: expected an axis-aligned grid, found an oblique one"
        )
    # Target array axes (slice, row, column) run along LPS z, y, x.
    axes_signs = [grid.axis_of(lps_axis) for lps_axis in (2, 1, 0)]
    source_axes = [axis for axis, _ in axes_signs]
    moved = np.transpose(voxels, source_axes)
    flips = tuple(t for t, (_, sign) in enumerate(axes_signs) if sign < 0)
    if flips:
        moved = np.flip(moved, axis=flips)
    corner_ijk = np.zeros(3)
    for t in flips:
        corner_ijk[source_axes[t]] = grid.shape[source_axes[t]] - 1
    origin = grid.index_to_lps(corner_ijk)
    hfs = ImageGrid(
        shape=moved.shape,
        spacing_mm=tuple(grid.spacing_mm[a] for a in source_axes),  # type: ignore[arg-type]
        origin_lps_mm=(float(origin[0]), float(origin[1]), float(origin[2])),
        direction=AXIAL_HFS_DIRECTION.copy(),
        frame_of_reference_uid=grid.frame_of_reference_uid,
    )
    return np.ascontiguousarray(moved), hfs


def body_mask(voxels_hu: NDArray[np.generic], grid: ImageGrid) -> Mask:
    """The external contour: HU above the threshold, opened, largest component, holes filled.

    The opening (one voxel, 6-connected) cuts the thin blanket and table shell that touch the
    patient's back in this CT; without it they join the largest component.
    """
    inside = ndimage.binary_opening(
        np.asarray(voxels_hu) > BODY_THRESHOLD_HU, ndimage.generate_binary_structure(3, 1)
    )
    labels, count = ndimage.label(inside)
    if count == 0:
        return Mask.empty(grid)
    sizes = np.bincount(labels.ravel())[1:]
    body = labels == (int(np.argmax(sizes)) + 1)
    for k in range(body.shape[0]):  # axial slices (the grid is axial HFS)
        body[k] = ndimage.binary_fill_holes(body[k])
    return Mask.from_array(grid, body)


def _canal_centre_lps(vertebra: Mask, cord: Mask) -> NDArray[np.float64]:
    """Centre of the cord (thecal sac) within the vertebra's slices, LPS mm."""
    box = vertebra.box
    slices = slice(box.start[0], box.stop[0])
    cord_array = cord.to_array()
    ijk = np.argwhere(cord_array[slices]) + np.array([box.start[0], 0, 0])
    if ijk.size == 0:
        raise SpinetvError(
            f"no spinal cord voxel within {GTV_LEVEL}'s slices; cannot place the GTV"
        )
    return vertebra.grid.index_to_lps(ijk.mean(axis=0))


def demonstration_gtv(vertebra: Mask, cord: Mask) -> tuple[Mask, NDArray[np.float64]]:
    """A sphere in the left posterior part of the vertebral body, clipped to the vertebra.

    The canal centre is the cord's centroid within the vertebra's slices. The body's back wall
    is the most posterior bone within 8 mm of the midline that lies more than 6 mm in front of
    that centre (the thecal sac is about 12 mm deep here); the sphere is placed relative to
    the canal centre (left-right) and that wall (front-back), at the body's mid-height.

    Returns
    -------
    (Mask, ndarray)
        The GTV and the sphere centre in LPS mm.
    """
    grid = vertebra.grid
    canal_lps = _canal_centre_lps(vertebra, cord)
    points = vertebra.points_lps()
    # Bone within 8 mm of the canal centre in x and in front of it: the body's back wall.
    in_front = points[(np.abs(points[:, 0] - canal_lps[0]) < 8.0) & (points[:, 1] < canal_lps[1])]
    canal_front_y = canal_lps[1] - 6.0
    body_back = in_front[in_front[:, 1] < canal_front_y]
    body_back_y = float(body_back[:, 1].max())
    centre_z = float(np.median(body_back[:, 2]))
    centre_lps = np.array(
        [
            canal_lps[0] + GTV_LEFT_OF_CANAL_MM,
            body_back_y - GTV_ANTERIOR_OF_BODY_BACK_MM,
            centre_z,
        ]
    )
    reach = grid.voxels_for_distance(GTV_RADIUS_MM)
    centre_ijk = np.rint(grid.lps_to_index(centre_lps)).astype(int)
    start = np.maximum(centre_ijk - np.array(reach), 0)
    stop = np.minimum(centre_ijk + np.array(reach) + 1, np.array(grid.shape))
    ijk = np.stack(
        np.meshgrid(*(np.arange(a, b) for a, b in zip(start, stop)), indexing="ij"), axis=-1
    )
    distance = np.linalg.norm(grid.index_to_lps(ijk.reshape(-1, 3)) - centre_lps, axis=1)
    sphere = np.zeros(grid.shape, dtype=bool)
    sphere[tuple(slice(a, b) for a, b in zip(start, stop))] = (
        distance.reshape(ijk.shape[:3]) <= GTV_RADIUS_MM
    )
    return intersection(Mask.from_array(grid, sphere), vertebra), centre_lps


def build_case(source: Path) -> SampleCase:
    """Read the TotalSegmentator files and make the sample's CT and structures."""
    ct = read_image(source / "example_ct.nii.gz", modality="CT")
    voxels, grid = to_axial_hfs(ct.voxels, ct.grid)
    low, high = int(voxels.min()), int(voxels.max())
    if low < np.iinfo(np.int16).min or high > np.iinfo(np.int16).max:
        raise SpinetvError(f"{source}/example_ct.nii.gz: HU {low}..{high} do not fit int16")
    grid = grid.with_frame_of_reference(uid("FrameOfReferenceUID"))
    hu = voxels.astype(np.int16)

    vertebrae = read_totalsegmentator(
        source / "spine_report" / "totalseg_vertebrae.nii.gz", task="total", grid=grid
    )
    full = read_totalsegmentator(
        source / "example_seg_fast_force_split.nii.gz", task="total", grid=grid
    )
    missing = [name for name in VERTEBRA_LEVELS if name not in vertebrae] + [
        name for name in ("Sacrum", "SpinalCord") if name not in full
    ]
    if missing:
        raise SpinetvError(
            f"{source}: labels {missing} not found; expected TotalSegmentator 2.18.0 files"
        )
    # "Sacrum" is the rest of the sacrum: S1 (from the vertebra file) is its own ROI.
    sacrum = subtract(full["Sacrum"], vertebrae["S1"])
    cord = full["SpinalCord"]
    gtv, centre_lps = demonstration_gtv(vertebrae[GTV_LEVEL], cord)

    structures: list[Structure] = [
        Structure(
            "BODY",
            body_mask(hu, grid),
            RoiType.EXTERNAL,
            _COLORS["BODY"],
            Provenance(
                "spinetv make_sample_case.py",
                f"External contour: HU > {BODY_THRESHOLD_HU:g}, opened by one voxel, largest "
                "connected component, holes filled per axial slice",
            ),
        ),
        Structure(
            "GTV",
            gtv,
            RoiType.GTV,
            _COLORS["GTV"],
            Provenance(
                "spinetv make_sample_case.py (synthetic)",
                f"Synthetic {DEMO_NOTE}: sphere of radius {GTV_RADIUS_MM:g} mm centred at LPS "
                f"({centre_lps[0]:.1f}, {centre_lps[1]:.1f}, {centre_lps[2]:.1f}) mm in the left "
                f"posterior {GTV_LEVEL} body, clipped to the {GTV_LEVEL} contour; reaches the "
                "left pedicle",
            ),
        ),
    ]
    for k, level in enumerate(VERTEBRA_LEVELS):
        structures.append(
            Structure(
                level,
                vertebrae[level],
                RoiType.ORGAN,
                _VERTEBRA_COLORS[k % 2],
                Provenance(
                    PREDICTION,
                    f"{PREDICTION} (task total, label {_TOTAL_LABELS[level]}); not manual "
                    "ground truth",
                ),
            )
        )
    structures.append(
        Structure(
            "Sacrum",
            sacrum,
            RoiType.ORGAN,
            _COLORS["Sacrum"],
            Provenance(
                PREDICTION,
                f"{PREDICTION} (task total, label 25 sacrum) minus S1: the sacrum below S1",
            ),
        )
    )
    structures.append(
        Structure(
            "SpinalCord",
            cord,
            RoiType.ORGAN,
            _COLORS["SpinalCord"],
            Provenance(
                PREDICTION,
                f"{PREDICTION} (task total, label 79 spinal_cord); below the conus it follows "
                "the thecal sac",
            ),
        )
    )
    return SampleCase(hu, grid, tuple(structures))


def write_case(case: SampleCase, out: Path, *, overwrite: bool) -> tuple[SeriesReference, Path]:
    """Write the CT series and the RTSTRUCT into ``out`` (``out/CT``, ``out/RS_sample.dcm``)."""
    study = {**STUDY, "StudyInstanceUID": uid("StudyInstanceUID")}
    reference = write_dicom_series(
        case.voxels_hu,
        case.grid,
        out / "CT",
        modality="CT",
        patient=PATIENT,
        study=study,
        series_description="spinetv sample CT (TotalSegmentator example_ct, 3 mm)",
        overwrite=overwrite,
        rescale_intercept=0.0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an empty ROI here would be a bug, not a tolerated case
        rs = write_rtstruct(
            case.structures,
            reference,
            out / "RS_sample.dcm",
            overwrite=overwrite,
            label="DEMO not patient",
            description=(
                f"spinetv sample case: GTV is a synthetic {DEMO_NOTE}; vertebrae, sacrum and "
                f"spinal cord are {PREDICTION}s on TotalSegmentator's example_ct"
            ),
            series_description=f"spinetv sample structures ({DEMO_NOTE})",
        )
    return reference, rs


NOTICE = """\
# spinetv sample case (`data/sample_rtstruct/`)

A small real-anatomy case for `spinetv demo`, the examples and the tests: a CT of the abdomen
and pelvis (T12 to the coccyx) as a DICOM CT series, and an RTSTRUCT with the vertebrae, the
sacrum, the spinal cord, the body outline and a **demonstration GTV**.

## Origin and licence

* Source: TotalSegmentator (Wasserthal et al.), `tests/reference_files/` as shipped in the PyPI
  sdist `totalsegmentator-2.18.0.tar.gz` (GitHub `wasserth/TotalSegmentator`).
* Licence: Apache License 2.0 (the repository's; it has no separate data licence); the full
  text is in `LICENSE` beside this file.
* Files used: `example_ct.nii.gz` (CT, 122x101x112 voxels of 3 mm),
  `spine_report/totalseg_vertebrae.nii.gz` (vertebra labels) and
  `example_seg_fast_force_split.nii.gz` (sacrum label 25, spinal cord label 79).

## What was converted, and how

* `CT/CT0001.dcm` ... `CT/CT0112.dcm`: the NIfTI CT re-indexed to an axial head-first-supine
  grid (axis flips only, no resampling; positions in mm unchanged), written as CT Image Storage,
  int16 Hounsfield units (RescaleIntercept 0). Patient and study identity are synthetic:
  PatientName `SPINETV^SAMPLE`, PatientID `SPINETV-SAMPLE-001`, StudyDate 20000101.
* `RS_sample.dcm`: RT Structure Set on that series.
  * `T12`, `L1`-`L5`, `S1`, `Sacrum` (sacrum minus S1), `SpinalCord`: **TotalSegmentator
    v2.18.0 model predictions, not manual ground truth** (ROIGenerationAlgorithm AUTOMATIC).
    T11 is cut by the top of the image and left out; T12 reaches the top slice.
  * `BODY` (EXTERNAL): HU > -500, opened by one voxel (drops the blanket and table shell),
    largest connected component, holes filled per axial slice.
  * `GTV`: **synthetic, a demonstration lesion, not a patient's**: a {radius:g} mm sphere in
    the left posterior part of the L2 vertebral body, clipped to L2, reaching the left pedicle
    (ISRC sectors 1 and 2). There is no tumour in this CT.

ROI volumes (cc, spinetv rasterisation of the written contours):

{volumes}

## Regenerate

```
python scripts/make_sample_case.py --force
```

reads `../shared/data/totalsegmentator_v2.18.0` (or `--source DIR`) and rewrites this folder.
The output is the same apart from the series, instance and structure-set UIDs and the creation
dates (the FrameOfReferenceUID and StudyInstanceUID are derived from fixed seeds).
"""


def write_notice(case: SampleCase, reference: SeriesReference, rs: Path, out: Path) -> Path:
    """Write NOTICE.md with the ROI volumes read back from the written RTSTRUCT."""
    from spinetv.io.rtstruct import read_structures

    read = read_structures(rs, reference)
    rows = ["| ROI | type | volume cc |", "|---|---|---|"]
    rows += [f"| {s.name} | {s.roi_type.value} | {s.volume_cc:.1f} |" for s in read.values()]
    path = out / "NOTICE.md"
    path.write_text(NOTICE.format(radius=GTV_RADIUS_MM, volumes="\n".join(rows)), encoding="utf-8")
    return path


def _normal_permissions(folder: Path) -> None:
    """Give ``folder`` and its content the umask's usual modes.

    Temporary folders and atomically written files are created private (0700/0600); the
    sample is meant to be shared and committed.
    """
    umask = os.umask(0)
    os.umask(umask)
    for path in [folder, *folder.rglob("*")]:
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


def main(argv: list[str] | None = None) -> int:
    """Run the script; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=DEFAULT_SOURCE,
        help=f"TotalSegmentator reference files (default {DEFAULT_SOURCE})",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing sample")
    args = parser.parse_args(argv)
    source, out = args.source, args.out
    if not (source / "example_ct.nii.gz").is_file():
        print(f"error: {source}/example_ct.nii.gz not found; pass --source", file=sys.stderr)
        return 2
    if out.exists() and any(out.iterdir()) and not args.force:
        print(f"error: {out} is not empty; pass --force to replace it", file=sys.stderr)
        return 1
    case = build_case(source)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Build next to the target and swap it in, so a failure leaves the old sample intact.
    temp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        reference, rs = write_case(case, temp, overwrite=False)
        shutil.copyfile(source / "LICENSE", temp / "LICENSE")
        write_notice(case, reference, rs, temp)
        _normal_permissions(temp)
        if out.exists():
            shutil.rmtree(out)
        temp.rename(out)
    finally:
        if temp.exists():
            shutil.rmtree(temp, ignore_errors=True)
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(
        f"wrote {out}: {len(list((out / 'CT').iterdir()))} CT slices, RS_sample.dcm, "
        f"LICENSE, NOTICE.md ({total / 1e6:.2f} MB)"
    )
    for structure in case.structures:
        print(f"  {structure.name:<11}{structure.roi_type.value:<9}{structure.volume_cc:8.1f} cc")
    return 0


if __name__ == "__main__":
    sys.exit(main())
