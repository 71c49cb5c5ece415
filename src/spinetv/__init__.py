"""spinetv: consensus spine SBRT target volumes.

The public API is re-exported here; see ``__all__``.
"""

from __future__ import annotations

__version__ = "0.1.0"

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
from spinetv.geometry import BoundingBox, ImageGrid, Mask
from spinetv.structure import Provenance, RoiType, Structure

__all__ = [
    "__version__",
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
