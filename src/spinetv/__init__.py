"""spinetv: consensus spine SBRT target volumes.

The public API is re-exported here; see ``__all__``. Each name is imported from its module on
first use (PEP 562), so that ``import spinetv`` and the command line load only what a job
uses: the figure stack, SimpleITK and the anatomy code cost most of a cold start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from spinetv.version import __version__

if TYPE_CHECKING:
    from spinetv.anatomy import derive_canal, label_sectors, label_spine, parse_level
    from spinetv.case import Case, load_case
    from spinetv.dose import dvh
    from spinetv.errors import (
        AnatomyError,
        DicomInputError,
        GeometryError,
        GeometryMismatchError,
        GuidelineError,
        ImageInputError,
        OptionsError,
        OutputExistsError,
        ProtocolError,
        RtstructError,
        SpinetvError,
        SpinetvWarning,
    )
    from spinetv.evaluation import evaluate
    from spinetv.geometry import BoundingBox, ImageGrid, LabelMap, Mask
    from spinetv.geometry.booleans import contains, dice, intersection, overlap_cc, subtract, union
    from spinetv.geometry.margins import Margin, expand, shrink
    from spinetv.guidelines import audit_ctv, build_ctv, list_guidelines, load_guideline
    from spinetv.io.dicom_read import read_dicom_series
    from spinetv.io.dicom_write import write_dicom_series
    from spinetv.io.image import Image
    from spinetv.io.images import read_image, read_label_map, write_mask_image
    from spinetv.io.rtdose import read_rtdose
    from spinetv.io.rtstruct import (
        append_rtstruct,
        read_rtstruct,
        read_structures,
        write_rtstruct,
    )
    from spinetv.io.totalsegmentator import read_totalsegmentator
    from spinetv.pipeline import Anatomy, PlanOptions, PlanResult, plan
    from spinetv.planning.protocols import list_protocols, load_protocol
    from spinetv.structure import Provenance, RoiType, Structure

#: Public name -> the module that defines it.
_SOURCES: dict[str, str] = {
    "derive_canal": "spinetv.anatomy",
    "label_sectors": "spinetv.anatomy",
    "label_spine": "spinetv.anatomy",
    "parse_level": "spinetv.anatomy",
    "Case": "spinetv.case",
    "load_case": "spinetv.case",
    "dvh": "spinetv.dose",
    "evaluate": "spinetv.evaluation",
    "read_rtdose": "spinetv.io.rtdose",
    "AnatomyError": "spinetv.errors",
    "DicomInputError": "spinetv.errors",
    "GeometryError": "spinetv.errors",
    "GeometryMismatchError": "spinetv.errors",
    "GuidelineError": "spinetv.errors",
    "ImageInputError": "spinetv.errors",
    "OptionsError": "spinetv.errors",
    "OutputExistsError": "spinetv.errors",
    "ProtocolError": "spinetv.errors",
    "RtstructError": "spinetv.errors",
    "SpinetvError": "spinetv.errors",
    "SpinetvWarning": "spinetv.errors",
    "BoundingBox": "spinetv.geometry",
    "ImageGrid": "spinetv.geometry",
    "LabelMap": "spinetv.geometry",
    "Mask": "spinetv.geometry",
    "contains": "spinetv.geometry.booleans",
    "dice": "spinetv.geometry.booleans",
    "intersection": "spinetv.geometry.booleans",
    "overlap_cc": "spinetv.geometry.booleans",
    "subtract": "spinetv.geometry.booleans",
    "union": "spinetv.geometry.booleans",
    "Margin": "spinetv.geometry.margins",
    "expand": "spinetv.geometry.margins",
    "shrink": "spinetv.geometry.margins",
    "audit_ctv": "spinetv.guidelines",
    "build_ctv": "spinetv.guidelines",
    "list_guidelines": "spinetv.guidelines",
    "load_guideline": "spinetv.guidelines",
    "read_dicom_series": "spinetv.io.dicom_read",
    "write_dicom_series": "spinetv.io.dicom_write",
    "Image": "spinetv.io.image",
    "read_image": "spinetv.io.images",
    "read_label_map": "spinetv.io.images",
    "write_mask_image": "spinetv.io.images",
    "append_rtstruct": "spinetv.io.rtstruct",
    "read_rtstruct": "spinetv.io.rtstruct",
    "read_structures": "spinetv.io.rtstruct",
    "write_rtstruct": "spinetv.io.rtstruct",
    "read_totalsegmentator": "spinetv.io.totalsegmentator",
    "Anatomy": "spinetv.pipeline",
    "PlanOptions": "spinetv.pipeline",
    "PlanResult": "spinetv.pipeline",
    "plan": "spinetv.pipeline",
    "list_protocols": "spinetv.planning.protocols",
    "load_protocol": "spinetv.planning.protocols",
    "Provenance": "spinetv.structure",
    "RoiType": "spinetv.structure",
    "Structure": "spinetv.structure",
}


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
    "dvh",
    "evaluate",
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
    "read_rtdose",
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
    "OptionsError",
    "OutputExistsError",
    "ProtocolError",
    "Provenance",
    "RoiType",
    "RtstructError",
    "SpinetvError",
    "SpinetvWarning",
    "Structure",
]


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use, and keep it here."""
    module = _SOURCES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SOURCES))
