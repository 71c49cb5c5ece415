"""spinetv: consensus spine SBRT target volumes.

The public API is re-exported here; see ``__all__``.
"""

from __future__ import annotations

__version__ = "0.1.0"

from spinetv.anatomy import derive_canal, label_sectors, label_spine, parse_level  # noqa: E402
from spinetv.case import Case, load_case  # noqa: E402
from spinetv.errors import (
    AnatomyError,
    DicomInputError,
    GeometryError,
    GeometryMismatchError,
    GuidelineError,
    ImageInputError,
    OutputExistsError,
    ProtocolError,
    RtstructError,
    SpinetvError,
    SpinetvWarning,
)
from spinetv.geometry import BoundingBox, ImageGrid, LabelMap, Mask
from spinetv.geometry.booleans import contains, dice, intersection, overlap_cc, subtract, union
from spinetv.geometry.margins import Margin, expand, shrink
from spinetv.guidelines import audit_ctv, build_ctv, list_guidelines, load_guideline  # noqa: E402
from spinetv.io.dicom_series import read_dicom_series, write_dicom_series  # noqa: E402
from spinetv.io.image import Image  # noqa: E402
from spinetv.io.images import read_image, read_label_map, write_mask_image  # noqa: E402
from spinetv.io.rtstruct import (  # noqa: E402
    append_rtstruct,
    read_rtstruct,
    read_structures,
    write_rtstruct,
)
from spinetv.io.totalsegmentator import read_totalsegmentator  # noqa: E402
from spinetv.pipeline import Anatomy, PlanOptions, PlanResult, plan  # noqa: E402
from spinetv.planning.protocols import list_protocols, load_protocol  # noqa: E402
from spinetv.structure import Provenance, RoiType, Structure

__all__ = [
    "__version__",
    "Anatomy",
    "Case",
    "Image",
    "LabelMap",
    "Margin",
    "PlanOptions",
    "PlanResult",
    "append_rtstruct",
    "audit_ctv",
    "build_ctv",
    "contains",
    "derive_canal",
    "dice",
    "expand",
    "intersection",
    "label_sectors",
    "label_spine",
    "list_guidelines",
    "list_protocols",
    "load_case",
    "load_guideline",
    "load_protocol",
    "overlap_cc",
    "parse_level",
    "plan",
    "read_dicom_series",
    "read_image",
    "read_label_map",
    "read_rtstruct",
    "read_structures",
    "read_totalsegmentator",
    "shrink",
    "subtract",
    "union",
    "write_dicom_series",
    "write_mask_image",
    "write_rtstruct",
    "AnatomyError",
    "BoundingBox",
    "DicomInputError",
    "GeometryError",
    "GeometryMismatchError",
    "GuidelineError",
    "ImageGrid",
    "ImageInputError",
    "Mask",
    "OutputExistsError",
    "ProtocolError",
    "Provenance",
    "RoiType",
    "RtstructError",
    "SpinetvError",
    "SpinetvWarning",
    "Structure",
]
