"""What the node does with one C-STORE: check the object, spool it or set it aside.

Kept apart from the networking so that the checks are plain functions of a dataset.

Statuses answered (PS3.4 Annex B.2.3, PS3.7 Annex C):

- ``0x0000`` stored in the spool;
- ``0xA900`` the dataset does not match its SOP class: another SOP class than the presentation
  context's, a Modality that is not the SOP class's (an RT Dose sent as CT), a SOP class the
  node does not plan on, a SOP Instance UID
  that is not the request's, or a missing attribute the node needs (UIDs, image geometry,
  pixel data, the structure set's sequences);
- ``0xC000`` cannot understand: the dataset cannot be decoded, or its pixel data is shorter
  than its rows, columns and bits say (a truncated object);
- ``0xA700`` out of resources: the spool cannot be written (disk full).

Objects of other SOP classes do not get this far: their presentation contexts are rejected at
association ("abstract syntax not supported"), and pynetdicom answers ``0x0122`` (SOP class
not supported) to a C-STORE sent without an accepted context.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spinetv.node.spool import (
    ACCEPTED_SOP_CLASSES,
    CT_IMAGE_STORAGE,
    MR_IMAGE_STORAGE,
    RT_STRUCTURE_SET_STORAGE,
    is_uid,
)

__all__ = [
    "STATUS_CANNOT_UNDERSTAND",
    "STATUS_DOES_NOT_MATCH",
    "STATUS_OUT_OF_RESOURCES",
    "STATUS_SUCCESS",
    "Checked",
    "check_object",
]

STATUS_SUCCESS = 0x0000
STATUS_DOES_NOT_MATCH = 0xA900
STATUS_CANNOT_UNDERSTAND = 0xC000
STATUS_OUT_OF_RESOURCES = 0xA700

_IMAGE_ATTRIBUTES = (
    "Rows",
    "Columns",
    "BitsAllocated",
    "PixelData",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
)
_STRUCTURE_SET_ATTRIBUTES = ("StructureSetROISequence", "ROIContourSequence")
#: The Modality each accepted SOP class must carry (an enumerated value of its IOD's modules).
_MODALITY = {CT_IMAGE_STORAGE: "CT", MR_IMAGE_STORAGE: "MR", RT_STRUCTURE_SET_STORAGE: "RTSTRUCT"}

#: Transfer syntaxes whose pixel data is stored uncompressed, so its length can be checked.
_NATIVE_SYNTAXES = frozenset(
    {
        "1.2.840.10008.1.2",
        "1.2.840.10008.1.2.1",
        "1.2.840.10008.1.2.1.99",
        "1.2.840.10008.1.2.2",
    }
)


@dataclass(frozen=True)
class Checked:
    """The verdict on one received object.

    Parameters
    ----------
    status : int
        The C-STORE status to answer.
    reason : str
        Why it is refused ("" when accepted).
    sop_class, study, series, sop_instance : str
        The object's UIDs (as far as known).
    """

    status: int
    reason: str
    sop_class: str = ""
    study: str = ""
    series: str = ""
    sop_instance: str = ""

    @property
    def accepted(self) -> bool:
        """Whether the object goes to the spool."""
        return self.status == STATUS_SUCCESS


def _text(dataset: Any, keyword: str) -> str:
    value = getattr(dataset, keyword, "")
    return str(value).strip() if value is not None else ""


def check_object(
    dataset: Any, *, context_sop_class: str, request_sop_instance: str, transfer_syntax: str
) -> Checked:
    """Decide whether a decoded C-STORE dataset may be spooled.

    Parameters
    ----------
    dataset : pydicom.Dataset
        The decoded dataset (every element is read here, so a damaged value raises).
    context_sop_class : str
        The abstract syntax of the presentation context it came on.
    request_sop_instance : str
        The request's Affected SOP Instance UID.
    transfer_syntax : str
        The transfer syntax it was sent in.

    Returns
    -------
    Checked
        The status, the reason for a refusal, and the UIDs.
    """
    sop_class = _text(dataset, "SOPClassUID")
    sop_instance = _text(dataset, "SOPInstanceUID")
    study = _text(dataset, "StudyInstanceUID")
    series = _text(dataset, "SeriesInstanceUID")
    uids = {"sop_class": sop_class, "study": study, "series": series, "sop_instance": sop_instance}

    def refuse(status: int, reason: str) -> Checked:
        return Checked(status, reason, **uids)

    if sop_class != context_sop_class:
        return refuse(
            STATUS_DOES_NOT_MATCH,
            f"SOP Class UID {sop_class or '(none)'} is not the presentation context's "
            f"{context_sop_class}",
        )
    if sop_class not in ACCEPTED_SOP_CLASSES:
        return refuse(STATUS_DOES_NOT_MATCH, f"SOP class {sop_class} is not CT, MR or RTSTRUCT")
    if sop_instance != request_sop_instance.strip():
        return refuse(
            STATUS_DOES_NOT_MATCH,
            f"SOP Instance UID {sop_instance or '(none)'} is not the request's "
            f"{request_sop_instance}",
        )
    modality = _text(dataset, "Modality")
    expected_modality = _MODALITY[sop_class]
    if modality != expected_modality:
        return refuse(
            STATUS_DOES_NOT_MATCH,
            f"Modality {modality or '(none)'} in a {expected_modality} object",
        )
    for name, value in (("SOP Instance", sop_instance), ("Study Instance", study),
                        ("Series Instance", series)):
        if not is_uid(value):
            return refuse(STATUS_DOES_NOT_MATCH, f"{name} UID {value!r} is not a valid UID")
    structure_set = sop_class == RT_STRUCTURE_SET_STORAGE
    needed = _STRUCTURE_SET_ATTRIBUTES if structure_set else _IMAGE_ATTRIBUTES
    missing = [keyword for keyword in needed if keyword not in dataset]
    if missing:
        return refuse(STATUS_DOES_NOT_MATCH, f"missing {', '.join(missing)}")
    if sop_class != RT_STRUCTURE_SET_STORAGE and transfer_syntax in _NATIVE_SYNTAXES:
        expected = (
            int(dataset.Rows)
            * int(dataset.Columns)
            * int(getattr(dataset, "SamplesPerPixel", 1) or 1)
            * int(getattr(dataset, "NumberOfFrames", 1) or 1)
            * int(dataset.BitsAllocated)
            // 8
        )
        found = len(dataset.PixelData)
        if found < expected:
            return refuse(
                STATUS_CANNOT_UNDERSTAND,
                f"pixel data holds {found} bytes, {expected} expected (truncated)",
            )
    return Checked(STATUS_SUCCESS, "", **uids)
