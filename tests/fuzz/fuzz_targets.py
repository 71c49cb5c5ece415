"""The fuzz targets: spinetv's readers (and ``spinetv convert``) on written and real files."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import fuzz_harness as fh
import numpy as np

from spinetv.batch import read_manifest
from spinetv.cli import main
from spinetv.errors import SpinetvError
from spinetv.geometry.grid import ImageGrid
from spinetv.geometry.labels import LabelMap
from spinetv.geometry.mask import Mask
from spinetv.guidelines.loader import Guideline, load_guideline
from spinetv.io.dicom_series import read_dicom_series, write_dicom_series
from spinetv.io.images import read_label_map, write_label_image
from spinetv.io.reference import SeriesReference
from spinetv.io.rtstruct import read_rtstruct, read_structures, write_rtstruct
from spinetv.planning.protocols import Protocol, load_protocol
from spinetv.structure import RoiType, Structure

FRAME_UID = "1.2.826.0.1.3680043.8.498.1212"
AXIAL = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=float).T
TRUNCATIONS = ("truncate@", "nifti_truncate@")
PACKAGE = Path(__file__).resolve().parents[2] / "src" / "spinetv"


class CliFailedError(SpinetvError):
    """``spinetv`` exited with status 2 (its one stderr line is the message)."""


# ---- written inputs ------------------------------------------------------------------------


def write_inputs(folder: Path) -> dict[str, Any]:
    """A small CT series, an RTSTRUCT on it, a label map, a mask file and a manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    grid = ImageGrid((5, 24, 20), (2.5, 1.0, 1.2), (-10.0, -12.0, 40.0), AXIAL, FRAME_UID)
    ramp = np.arange(np.prod(grid.shape)).reshape(grid.shape) % 700 - 200
    reference = write_dicom_series(
        ramp, grid, folder / "ct", patient={"PatientID": "FUZZ"}, study={"StudyID": "F1"}
    )
    body = np.zeros(grid.shape, dtype=bool)
    body[:, 2:22, 1:19] = True
    gtv = np.zeros(grid.shape, dtype=bool)
    gtv[1:4, 8:14, 6:12] = True
    cord = np.zeros(grid.shape, dtype=bool)
    cord[:, 15:18, 9:11] = True
    structures = [
        Structure("BODY", Mask.from_array(grid, body), roi_type=RoiType.EXTERNAL),
        Structure("GTV", Mask.from_array(grid, gtv), roi_type=RoiType.GTV, color_rgb=(255, 0, 0)),
        Structure("SpinalCord", Mask.from_array(grid, cord), roi_type=RoiType.ORGAN),
    ]
    rtstruct = write_rtstruct(structures, reference, folder / "RS.dcm")
    labels = np.zeros(grid.shape, dtype=np.uint8)
    labels[gtv] = 30
    labels[cord] = 79
    label_map = write_label_image(LabelMap.from_array(grid, labels), folder / "labels.nii.gz")
    from dicom_checks import write_rtdose_on

    dose = write_rtdose_on(grid, 30.0 + ramp / 100.0, folder / "RD.dcm")
    manifest = folder / "cohort.csv"
    manifest.write_text(
        "case_id,image,rtstruct,gtv,vertebrae,protocols\n"
        "case00,case00/CT,case00/RS.dcm,GTV,auto,isrc-2012\n"
        "case01,case01/CT,case01/RS.dcm,GTV,L1;L2,chictr1900023401-involved|isrc-2012\n"
        "# a comment row,,,,,\n"
        "case02,case02/CT,,GTV,auto,rtog-0631\n",
        encoding="utf-8",
    )
    return {
        "reference": reference,
        "rtstruct": rtstruct,
        "label_map": label_map,
        "manifest": manifest,
        "dose": dose,
    }


# ---- readers and judges ----------------------------------------------------------------------


def _read_series(root: Path, copies: list[Path], out: Path) -> tuple[ImageGrid, np.ndarray]:
    image = read_dicom_series(root)
    return image.grid, np.asarray(image.voxels)


def _judge_series(result: Any, baseline: Any, label: str) -> str:
    grid, voxels = result
    if voxels.shape != grid.shape:
        return f"voxels of shape {voxels.shape} on {grid.describe()}"
    if not np.all(np.isfinite(voxels)):
        return "non-finite voxels"
    if label.startswith(TRUNCATIONS) and (
        grid != baseline[0] or not np.array_equal(voxels, baseline[1])
    ):
        return "a truncated file was read as a different volume"
    return ""


def _rtstruct_reader(grid: ImageGrid | SeriesReference) -> Any:
    def read(root: Path, copies: list[Path], out: Path) -> dict[str, np.ndarray]:
        structures = read_structures(copies[0], grid)
        return {name: s.mask.to_array() for name, s in structures.items()}

    return read


def _read_rtstruct_only(root: Path, copies: list[Path], out: Path) -> dict[str, int]:
    data = read_rtstruct(copies[0])
    return {roi.name: sum(len(c.points_lps_mm) for c in data.contours_of(roi.name)) for roi in
            data.rois if sum(r.name == roi.name for r in data.rois) == 1}


def _judge_rasterized(result: Any, baseline: Any, label: str) -> str:
    """Masks of every ROI were made: damaged coordinates must have been refused."""
    damaged = ("bad_coordinates:NaN", "bad_coordinates:inf", "bad_coordinates:-inf",
               "bad_coordinates:odd", "bad_coordinates:text")
    if label.startswith(damaged):
        return "damaged ContourData accepted"
    return _judge_same_on_truncation(result, baseline, label)


def _judge_same_on_truncation(result: Any, baseline: Any, label: str) -> str:
    if not label.startswith(TRUNCATIONS):
        return ""
    if set(result) != set(baseline):
        return f"a truncated file gave ROIs {sorted(result)}, not {sorted(baseline)}"
    for name, value in result.items():
        if not np.array_equal(value, baseline[name]):
            return f"a truncated file gave a different {name!r}"
    return ""


def _read_labels(root: Path, copies: list[Path], out: Path) -> tuple[ImageGrid, np.ndarray]:
    labels = read_label_map(copies[0])
    return labels.grid, labels.to_array(np.int64)


def _judge_labels(result: Any, baseline: Any, label: str) -> str:
    grid, array = result
    if array.size and int(array.min()) < 0:
        return "negative labels accepted"
    if label.startswith(TRUNCATIONS) and (
        grid.shape != baseline[0].shape or not np.array_equal(array, baseline[1])
    ):
        return "a truncated label map was read as different labels"
    return ""


def _read_guideline(root: Path, copies: list[Path], out: Path) -> Guideline:
    return load_guideline(copies[0])


def _read_protocol(root: Path, copies: list[Path], out: Path) -> Protocol:
    return load_protocol(copies[0])


def _read_manifest(root: Path, copies: list[Path], out: Path) -> tuple[Any, ...]:
    return read_manifest(copies[0])


def _judge_type(kind: type) -> fh.Judge:
    def judge(result: Any, baseline: Any, label: str) -> str:
        return "" if isinstance(result, kind) else f"returned {type(result).__name__}"

    return judge


def _read_dose(root: Path, copies: list[Path], out: Path) -> Any:
    from spinetv.io.rtdose import read_rtdose

    return read_rtdose(copies[0])


def _judge_dose(result: Any, baseline: Any, label: str) -> str:
    from spinetv.io.rtdose import DoseGrid

    if not isinstance(result, DoseGrid):
        return f"returned {type(result).__name__}"
    if result.values.shape != result.grid.shape or not np.isfinite(result.values).all():
        return "dose values that do not fill the grid, or are not finite"
    # A file cut short must not read as a smaller or different dose.
    cut = label.startswith(("truncate", "empty")) and baseline is not None
    if cut and result.grid.shape != baseline.grid.shape:
        return f"read a {result.grid.shape} dose from a file cut short"
    return ""


def _judge_nothing(result: Any, baseline: Any, label: str) -> str:
    return ""


def _run_cli(arguments: list[str]) -> int:
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = main(arguments)
    text = stderr.getvalue()
    errors = [line for line in text.splitlines() if not line.startswith("spinetv: warning")]
    if "Traceback" in text:
        raise RuntimeError(f"traceback printed:\n{text}")
    if code == 2:
        if len(errors) != 1:
            raise RuntimeError(f"expected one error line, found {len(errors)}: {text}")
        raise CliFailedError(errors[0])
    if code != 0:
        raise RuntimeError(f"exit status {code}: {text}")
    return code


def _convert_to_masks(root: Path, copies: list[Path], out: Path) -> int:
    rtstruct = next(p for p in copies if p.name == "RS.dcm")
    return _run_cli(["convert", str(rtstruct), "--image", str(root), "--out", str(out / "masks")])


def _convert_to_rtstruct(image_dir: Path) -> Any:
    def read(root: Path, copies: list[Path], out: Path) -> int:
        return _run_cli(
            ["convert", str(copies[0]), "--image", str(image_dir), "--out", str(out / "RS.dcm")]
        )

    return read


# ---- the target list -----------------------------------------------------------------------


def build_targets(folder: Path, shared_data: Path | None) -> list[fh.Target]:
    """Targets on files written into ``folder`` and, when present, on the real shared data."""
    written = write_inputs(folder)
    reference: SeriesReference = written["reference"]
    series_files = tuple(reference.paths)
    targets = [
        fh.Target("ct-series (written)", series_files, _read_series, _judge_series,
                  fh.SERIES_MUTATORS),
        fh.Target("rtstruct (written)", (written["rtstruct"],), _rtstruct_reader(reference),
                  _judge_rasterized, fh.RTSTRUCT_MUTATORS),
        fh.Target("label map (written)", (written["label_map"],), _read_labels, _judge_labels,
                  fh.NIFTI_MUTATORS),
        fh.Target("guideline toml", (PACKAGE / "guidelines" / "data" / "isrc-2012.toml",),
                  _read_guideline, _judge_type(Guideline), fh.TOML_MUTATORS),
        fh.Target("protocol toml", (PACKAGE / "planning" / "data" / "sib-sbrt-2025.toml",),
                  _read_protocol, _judge_type(Protocol), fh.TOML_MUTATORS),
        fh.Target("batch manifest", (written["manifest"],), _read_manifest, _judge_type(tuple),
                  fh.CSV_MUTATORS),
        fh.Target("rtdose (written)", (written["dose"],), _read_dose, _judge_dose,
                  fh.DICOM_MUTATORS),
        fh.Target("cli convert rtstruct->nifti", (*series_files, written["rtstruct"]),
                  _convert_to_masks, _judge_nothing, fh.RTSTRUCT_MUTATORS,
                  mutable=(len(series_files),)),
        fh.Target("cli convert nifti->rtstruct", (written["label_map"],),
                  _convert_to_rtstruct(reference.paths[0].parent), _judge_nothing,
                  fh.NIFTI_MUTATORS),
    ]
    if shared_data is not None and shared_data.is_dir():
        targets.extend(_real_targets(shared_data))
    return targets


def _real_targets(shared: Path) -> list[fh.Target]:
    exports = shared / "real_exports"
    codecs = exports / "dicom2nifti_codecs"
    vhp = shared / "rtstruct_pairs" / "visible_human_dicomrttool"
    vhp_rs = next(p for p in sorted(vhp.iterdir()) if _is_rtstruct(p))
    vhp_images = tuple(p for p in sorted(vhp.iterdir()) if p.suffix == ".dcm" and p != vhp_rs)
    vhp_grid = read_dicom_series(list(vhp_images)).grid
    cerr = exports / "cerr_ibsi1_ct"
    cerr_grid = read_dicom_series(cerr).grid
    matrad = exports / "matrad_export"
    matrad_grid = read_dicom_series(matrad).grid
    segmentator = shared / "totalsegmentator_v2.18.0"
    return [
        fh.Target("mr series jpeg-ls (real)", tuple(sorted((codecs / "compressed_jpegls" / "001")
                  .iterdir())), _read_series, _judge_series, fh.SERIES_MUTATORS),
        fh.Target("mr series native (real)", tuple(sorted((codecs / "anatomical" /
                  "002_non_isotropic").iterdir())), _read_series, _judge_series,
                  fh.SERIES_MUTATORS),
        fh.Target("rtstruct aria (real)", (vhp_rs,), _rtstruct_reader(vhp_grid),
                  _judge_rasterized, fh.RTSTRUCT_MUTATORS),
        fh.Target("rtstruct cerr (real)", (cerr / "DCM_RS_00060.dcm",),
                  _rtstruct_reader(cerr_grid), _judge_rasterized, fh.RTSTRUCT_MUTATORS),
        fh.Target("rtstruct matrad (real)", (matrad / "RTstruct.dcm",),
                  _rtstruct_reader(matrad_grid), _judge_rasterized, fh.RTSTRUCT_MUTATORS),
        fh.Target("rtstruct no meta (real)", (exports / "pydicom_files" / "rtstruct.dcm",),
                  _read_rtstruct_only, _judge_same_on_truncation, fh.RTSTRUCT_MUTATORS),
        fh.Target("label map totalsegmentator (real)", (segmentator / "example_seg.nii.gz",),
                  _read_labels, _judge_labels, fh.NIFTI_MUTATORS),
        fh.Target("rtdose dicompyler (real)",
                  (shared / "rtstruct_pairs" / "dicompyler_breast" / "rtdose.dcm",),
                  _read_dose, _judge_dose, fh.DICOM_MUTATORS),
    ]


def _is_rtstruct(path: Path) -> bool:
    import pydicom

    try:
        return pydicom.dcmread(path, stop_before_pixels=True).Modality == "RTSTRUCT"
    except Exception:  # noqa: BLE001 - probing file types
        return False
