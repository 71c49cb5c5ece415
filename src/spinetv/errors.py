"""Errors and warnings raised by spinetv.

Every error a user can cause derives from :class:`SpinetvError`; its message names the input,
what was expected and what was found. The command line turns it into one line on stderr.
"""

from __future__ import annotations

__all__ = [
    "SpinetvError",
    "DicomInputError",
    "ImageInputError",
    "RtstructError",
    "GeometryMismatchError",
    "GeometryError",
    "AnatomyError",
    "GuidelineError",
    "ProtocolError",
    "OptionsError",
    "OutputExistsError",
    "SpinetvWarning",
    "RtstructWarning",
    "GeometryWarning",
    "AnatomyWarning",
]


class SpinetvError(Exception):
    """Base class of every error spinetv raises on bad input or an impossible request."""


class DicomInputError(SpinetvError):
    """A DICOM image series cannot be read as one consistent volume."""


class ImageInputError(SpinetvError):
    """A NIfTI, NRRD or MHA image or label map cannot be read or does not fit."""


class RtstructError(SpinetvError):
    """An RTSTRUCT cannot be read, does not match its image, or cannot be written."""


class GeometryMismatchError(SpinetvError):
    """Two masks or images that must share a grid (or frame of reference) do not."""


class GeometryError(SpinetvError):
    """A geometric request is invalid (negative margin, empty crop, bad spacing...)."""


class AnatomyError(SpinetvError):
    """The anatomy needed for a rule is missing or cannot be derived (no vertebra, no canal)."""


class GuidelineError(SpinetvError):
    """A guideline file is malformed, or a guideline cannot be applied."""


class ProtocolError(SpinetvError):
    """A protocol preset file is malformed, or a preset cannot be applied."""


class OptionsError(SpinetvError):
    """A planning option is out of its range (negative tolerance, absurd margin, unknown level)."""


class OutputExistsError(SpinetvError):
    """An output file exists and overwriting was not allowed."""


class SpinetvWarning(UserWarning):
    """Base class of the warnings spinetv emits for tolerated but suspicious input."""


class RtstructWarning(SpinetvWarning):
    """A tolerated problem in an RTSTRUCT (contour off the image, degenerate contour...)."""


class GeometryWarning(SpinetvWarning):
    """A tolerated geometric problem (a margin reaching the image edge...)."""


class AnatomyWarning(SpinetvWarning):
    """A level labelled by a fallback, outside the usual anatomy, or left out as not needed."""
