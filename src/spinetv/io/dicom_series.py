"""DICOM image series in and out: one consistent single-frame CT or MR volume per series.

The public names of :mod:`spinetv.io.dicom_read` (reading: series scan, headers, geometry,
lazily decoded pixels) and :mod:`spinetv.io.dicom_write` (writing one file per slice), kept
here so that ``from spinetv.io.dicom_series import read_dicom_series`` goes on working.
"""

from __future__ import annotations

from spinetv.io.dicom_read import (
    DicomInputWarning,
    SeriesSummary,
    dicomdir_image_files,
    list_series,
    read_dicom_series,
)
from spinetv.io.dicom_write import patient_position_of, write_dicom_series

__all__ = [
    "DicomInputWarning",
    "SeriesSummary",
    "list_series",
    "read_dicom_series",
    "dicomdir_image_files",
    "write_dicom_series",
    "patient_position_of",
]
