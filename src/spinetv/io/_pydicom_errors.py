"""What pydicom raises on a damaged file, shared by the DICOM readers."""

from __future__ import annotations

import struct

from pydicom.errors import BytesLengthException, InvalidDicomError

__all__ = ["PYDICOM_PARSE_ERRORS"]

#: What pydicom raises while parsing a damaged file or converting a damaged value (it has no
#: single base class for these).
PYDICOM_PARSE_ERRORS: tuple[type[BaseException], ...] = (
    InvalidDicomError,
    BytesLengthException,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    NotImplementedError,
    OverflowError,
    EOFError,
    OSError,
    struct.error,
    UnicodeError,
)
