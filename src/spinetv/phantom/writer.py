"""Writing a phantom as a DICOM CT series plus an RTSTRUCT."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from spinetv.io.atomic import check_writable
from spinetv.io.dicom_write import write_dicom_series
from spinetv.io.rtstruct_write import write_rtstruct
from spinetv.phantom.generator import SpinePhantom

__all__ = ["write_phantom", "CT_FOLDER", "RTSTRUCT_FILE"]

CT_FOLDER = "CT"
RTSTRUCT_FILE = "RTSTRUCT.dcm"

_PATIENT = {
    "PatientName": "SPINETV^PHANTOM",
    "PatientID": "SPINETV-PHANTOM",
    "PatientBirthDate": "",
    "PatientSex": "O",
}


def write_phantom(
    phantom: SpinePhantom,
    out_dir: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    sacrum_names: Literal["split_s1", "segments"] = "split_s1",
) -> tuple[Path, Path]:
    """Write ``phantom`` as ``out_dir/CT/`` (one file per slice) and ``out_dir/RTSTRUCT.dcm``.

    Parameters
    ----------
    phantom : SpinePhantom
        The phantom to write.
    out_dir : path-like
        Folder to write into (created if needed).
    overwrite : bool
        Replace an existing CT folder and RTSTRUCT file.
    sacrum_names : {"split_s1", "segments"}
        How sacral ROIs are named (see :meth:`SpinePhantom.structures`).

    Returns
    -------
    (Path, Path)
        The CT folder and the RTSTRUCT file.
    """
    out = Path(out_dir)
    ct_dir = out / CT_FOLDER
    rtstruct_path = out / RTSTRUCT_FILE
    check_writable(rtstruct_path, overwrite=overwrite)
    description = f"spinetv phantom {phantom.levels[0]}-{phantom.levels[-1]}"
    reference = write_dicom_series(
        phantom.hu,
        phantom.grid,
        ct_dir,
        modality="CT",
        patient=_PATIENT,
        study={"StudyDescription": "spinetv synthetic spine phantom", "StudyID": "PHANTOM"},
        series_description=description,
        overwrite=overwrite,
    )
    structures = phantom.structures(sacrum_names=sacrum_names)
    # The written series names the grid's frame of reference; masks must sit on that grid.
    structures = [
        type(s)(s.name, s.mask.with_grid(reference.grid), s.roi_type, s.color_rgb, s.provenance)
        for s in structures
    ]
    path = write_rtstruct(
        structures,
        reference,
        rtstruct_path,
        overwrite=overwrite,
        label="spinetv phantom",
        description=description,
        series_description="spinetv phantom ground truth",
    )
    return ct_dir, Path(path)
