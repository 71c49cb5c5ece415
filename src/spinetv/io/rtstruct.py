"""DICOM RT Structure Sets in and out (see :mod:`spinetv.io.rtstruct_read` and
:mod:`spinetv.io.rtstruct_write`)."""

from spinetv.io.rtstruct_read import (
    RTSTRUCT_SOP_CLASS_UID,
    RoiContour,
    RoiInfo,
    RoiReadReport,
    RtstructData,
    rasterize_roi,
    rasterize_roi_with_report,
    read_rtstruct,
    read_structures,
)
from spinetv.io.rtstruct_write import append_rtstruct, contour_data_lps, write_rtstruct

__all__ = [
    "RTSTRUCT_SOP_CLASS_UID",
    "RoiContour",
    "RoiInfo",
    "RoiReadReport",
    "RtstructData",
    "append_rtstruct",
    "contour_data_lps",
    "rasterize_roi",
    "rasterize_roi_with_report",
    "read_rtstruct",
    "read_structures",
    "write_rtstruct",
]
