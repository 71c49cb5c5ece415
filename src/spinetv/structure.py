"""Named structures: a mask plus what a planning system needs to show it and how it was made."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from spinetv.errors import SpinetvError
from spinetv.frozen import FrozenMap, frozen_json
from spinetv.geometry.mask import Mask

__all__ = ["RoiType", "Structure", "Provenance", "TG263_MAX_LENGTH", "check_tg263_name"]

TG263_MAX_LENGTH = 16
_TG263_CHARS = re.compile(r"^[A-Za-z0-9_^~\-]+$")


class RoiType(str, enum.Enum):
    """DICOM RTROIInterpretedType values spinetv writes (the enum value is the DICOM string)."""

    EXTERNAL = "EXTERNAL"
    PTV = "PTV"
    CTV = "CTV"
    GTV = "GTV"
    ORGAN = "ORGAN"
    AVOIDANCE = "AVOIDANCE"
    CONTROL = "CONTROL"
    TREATED_VOLUME = "TREATED_VOLUME"
    IRRAD_VOLUME = "IRRAD_VOLUME"
    CAVITY = "CAVITY"
    SUPPORT = "SUPPORT"
    FIXATION = "FIXATION"
    DOSE_REGION = "DOSE_REGION"
    CONTRAST_AGENT = "CONTRAST_AGENT"
    MARKER = "MARKER"
    REGISTRATION = "REGISTRATION"
    ISOCENTER = "ISOCENTER"
    BOLUS = "BOLUS"
    BRACHY_CHANNEL = "BRACHY_CHANNEL"
    BRACHY_ACCESSORY = "BRACHY_ACCESSORY"
    BRACHY_SRC_APP = "BRACHY_SRC_APP"
    BRACHY_CHNL_SHLD = "BRACHY_CHNL_SHLD"

    @classmethod
    def parse(cls, value: RoiType | str) -> RoiType:
        """Accept an enum member or its DICOM string (any case).

        Parameters
        ----------
        value : RoiType or str
            A member, or a DICOM RTROIInterpretedType string (surrounding spaces ignored).

        Returns
        -------
        RoiType
            The member.

        Raises
        ------
        SpinetvError
            When the string is not a known ROI type (the base class itself, no subclass).
        """
        if isinstance(value, RoiType):
            return value
        try:
            return cls(str(value).strip().upper())
        except ValueError:
            allowed = ", ".join(m.value for m in cls)
            raise SpinetvError(f"unknown ROI type {value!r}; expected one of {allowed}") from None


def check_tg263_name(name: str) -> list[str]:
    """Problems with ``name`` as an AAPM TG-263 structure name (an empty list when none).

    Parameters
    ----------
    name : str
        A candidate ROI name.

    Returns
    -------
    list of str
        Each problem found (empty, longer than :data:`TG263_MAX_LENGTH` characters, characters
        other than letters, digits, ``_ ^ ~ -``); empty when the name is acceptable.
    """
    problems = []
    if not name:
        problems.append("empty name")
    if len(name) > TG263_MAX_LENGTH:
        problems.append(f"longer than {TG263_MAX_LENGTH} characters")
    if name and not _TG263_CHARS.match(name):
        problems.append("contains characters other than letters, digits, _ ^ ~ -")
    return problems


@dataclass(frozen=True)
class Provenance:
    """How a structure was made, written into the RTSTRUCT and the JSON report.

    Parameters
    ----------
    algorithm : str
        "MANUAL" for input contours, "AUTOMATIC" for what spinetv made (DICOM
        ROIGenerationAlgorithm).
    description : str
        One line a planner reads in the planning system (ROI description).
    details : mapping
        Machine-readable details (guideline, rule rows, margins in mm) for the report; kept as
        a read-only copy.
    """

    algorithm: str = "AUTOMATIC"
    description: str = ""
    details: Mapping[str, Any] = field(default_factory=FrozenMap)

    def __post_init__(self) -> None:
        object.__setattr__(self, "details", frozen_json(dict(self.details)))


@dataclass(frozen=True)
class Structure:
    """A named region of interest.

    Parameters
    ----------
    name : str
        ROI name (TG-263 style for what spinetv writes).
    mask : Mask
        The voxels of the structure.
    roi_type : RoiType or str
        DICOM RTROIInterpretedType.
    color_rgb : tuple of int
        Display colour, 0-255 per channel.
    provenance : Provenance
        How the structure was made.
    """

    name: str
    mask: Mask
    roi_type: RoiType = RoiType.ORGAN
    color_rgb: tuple[int, int, int] = (255, 255, 0)
    provenance: Provenance = field(default_factory=Provenance)

    def __post_init__(self) -> None:
        if not self.name or not self.name.strip():
            raise SpinetvError("a structure needs a non-empty name")
        object.__setattr__(self, "roi_type", RoiType.parse(self.roi_type))
        color = tuple(int(c) for c in self.color_rgb)
        if len(color) != 3 or any(c < 0 or c > 255 for c in color):
            raise SpinetvError(
                f"structure {self.name!r}: colour must be 3 values 0-255, got {self.color_rgb}"
            )
        object.__setattr__(self, "color_rgb", color)

    @property
    def volume_cc(self) -> float:
        """Volume of the structure's mask in cc."""
        return self.mask.volume_cc
