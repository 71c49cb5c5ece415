"""Walking undecoded DICOM bytes: sequence items and their elements, without pydicom Datasets.

pydicom keeps a structure set's ContourSequence as raw bytes until it is used, then builds a
Dataset per contour item and converts every DS string of its ContourData to Python numbers:
about 0.3 ms per contour, most of the time it takes to read an RTSTRUCT. For the common
encodings (little endian, implicit or explicit VR) the RTSTRUCT reader walks the items here
instead, finding each element's value by its offsets (:func:`sequence_items`), so ContourData
bytes are parsed by numpy directly and a ContourImageSequence stays undecoded
(:class:`UndecodedSequence`) until someone asks for it. Anything unusual raises
:class:`RawWalkError` and the caller uses pydicom instead, so the result never depends on
which path ran.

The same walk over element and item headers, without decoding any value, tells where a file
ends before its data set does (:func:`truncation_problem`): pydicom reads a file cut inside a
sequence without complaint.

Writing goes the other way for the same reason: :func:`encode_element` and
:func:`encode_item` build a new ROI's contour items as bytes (defined lengths, little endian),
which pydicom then writes unchanged as one raw sequence element, instead of a Dataset per
contour that it would build, check and encode again.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator

from pydicom.charset import default_encoding
from pydicom.dataset import Dataset

__all__ = [
    "ITEM_TAG",
    "ITEM_DELIMITER_TAG",
    "SEQUENCE_DELIMITER_TAG",
    "UNDEFINED_LENGTH",
    "RawWalkError",
    "PastEndError",
    "RawElement",
    "element_header",
    "sequence_items",
    "item_elements",
    "truncation_problem",
    "UndecodedSequence",
    "encode_element",
    "encode_item",
]

ITEM_TAG = 0xFFFEE000
ITEM_DELIMITER_TAG = 0xFFFEE00D
SEQUENCE_DELIMITER_TAG = 0xFFFEE0DD
UNDEFINED_LENGTH = 0xFFFFFFFF
#: Explicit VRs whose length is a 4-byte field after 2 reserved bytes (PS3.5 7.1.2).
_LONG_LENGTH_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
_TAG_LENGTH = struct.Struct("<HHI")
_TAG_VR_SHORT_LENGTH = struct.Struct("<HH2sH")
_TAG_VR_LONG_LENGTH = struct.Struct("<HH2s2xI")
#: Explicit VRs whose values are padded with NUL rather than a space (PS3.5 6.2).
_NUL_PADDED_VRS = frozenset({b"UI", b"OB", b"UN"})


class RawWalkError(Exception):
    """The bytes are not in the simple form the raw walker reads; use pydicom instead."""


class PastEndError(RawWalkError):
    """An element, item or sequence needs bytes up to ``needed``, past the end it was given."""

    def __init__(self, what: str, needed: int) -> None:
        super().__init__(what)
        self.needed = needed


#: (VR or None when implicit, value start, value end, undefined length)
RawElement = tuple[bytes | None, int, int, bool]


def element_header(
    buffer: bytes, position: int, end: int, implicit: bool
) -> tuple[int, bytes | None, int, int]:
    """(tag, VR, length, value start) of the element or item header at ``position``."""
    if position + 8 > end:
        raise PastEndError("truncated element header", position + 8)
    group, element, length = _TAG_LENGTH.unpack_from(buffer, position)
    if implicit or group == 0xFFFE:
        return (group << 16) | element, None, length, position + 8
    group, element, vr, short_length = _TAG_VR_SHORT_LENGTH.unpack_from(buffer, position)
    if not (vr.isalpha() and vr.isupper()):
        raise RawWalkError("not an explicit VR")
    if vr in _LONG_LENGTH_VRS:
        if position + 12 > end:
            raise PastEndError("truncated element header", position + 12)
        (length,) = struct.unpack_from("<I", buffer, position + 8)
        return (group << 16) | element, vr, length, position + 12
    return (group << 16) | element, vr, short_length, position + 8


def sequence_items(
    buffer: bytes, start: int, end: int, implicit: bool, undefined: bool
) -> tuple[list[dict[int, RawElement]], int]:
    """The items of a sequence value: their elements by tag, and where the value ends."""
    items: list[dict[int, RawElement]] = []
    position = start
    while position < end:
        tag, _, length, value_start = element_header(buffer, position, end, True)
        if tag == SEQUENCE_DELIMITER_TAG and undefined:
            return items, value_start
        if tag != ITEM_TAG:
            raise RawWalkError("expected a sequence item")
        if length == UNDEFINED_LENGTH:
            elements, position = item_elements(buffer, value_start, end, implicit, True)
        else:
            item_end = value_start + length
            if item_end > end:
                raise PastEndError("item runs past its sequence", item_end)
            elements, position = item_elements(buffer, value_start, item_end, implicit, False)
        items.append(elements)
    if undefined:
        raise PastEndError("sequence not closed", end + 8)
    if position != end:
        raise RawWalkError("sequence not closed")
    return items, position


def item_elements(
    buffer: bytes, start: int, end: int, implicit: bool, undefined: bool
) -> tuple[dict[int, RawElement], int]:
    """An item's elements by tag (the last one wins, as in pydicom), and where the item ends."""
    elements: dict[int, RawElement] = {}
    position = start
    while position < end:
        tag, vr, length, value_start = element_header(buffer, position, end, implicit)
        if tag == ITEM_DELIMITER_TAG and undefined:
            return elements, value_start
        if tag >> 16 == 0xFFFE:
            raise RawWalkError("unexpected delimiter")
        if length == UNDEFINED_LENGTH:
            if vr not in (None, b"SQ"):
                raise RawWalkError("undefined length outside a sequence")
            _, position = sequence_items(buffer, value_start, end, implicit, True)
            elements[tag] = (vr, value_start, position, True)
            continue
        position = value_start + length
        if position > end:
            raise PastEndError("element runs past its item", position)
        elements[tag] = (vr, value_start, position, False)
    if undefined:
        raise PastEndError("item not closed", end + 8)
    if position != end:
        raise RawWalkError("item not closed")
    return elements, position


def encode_element(tag: int, vr: str, value: bytes, implicit: bool) -> bytes:
    """One little-endian data element: its header and ``value``, padded to an even length.

    Parameters
    ----------
    tag : int
        The element's tag, ``(group << 16) | element``.
    vr : str
        Its value representation, two capital letters; written only for explicit VR.
    value : bytes
        The encoded value (an encoded sequence's items, for ``"SQ"``).
    implicit : bool
        Implicit VR little endian; explicit VR otherwise.

    Returns
    -------
    bytes
        The element as it stands in a file.

    Notes
    -----
    A value too long for an explicit VR's 2-byte length field is written as UN, as PS3.5
    6.2.2 prescribes and pydicom does.
    """
    code = vr.encode("ascii")
    if len(value) % 2:
        value += b"\0" if code in _NUL_PADDED_VRS else b" "
    group, element = tag >> 16, tag & 0xFFFF
    if implicit:
        return _TAG_LENGTH.pack(group, element, len(value)) + value
    if code not in _LONG_LENGTH_VRS and len(value) > 0xFFFF:
        code = b"UN"
    if code in _LONG_LENGTH_VRS:
        return _TAG_VR_LONG_LENGTH.pack(group, element, code, len(value)) + value
    return _TAG_VR_SHORT_LENGTH.pack(group, element, code, len(value)) + value


def encode_item(elements: list[bytes]) -> bytes:
    """A sequence item of defined length holding already encoded ``elements``.

    Parameters
    ----------
    elements : list of bytes
        The item's elements from :func:`encode_element`, in ascending tag order.

    Returns
    -------
    bytes
        The item header (FFFE,E000 and its length) followed by the elements.
    """
    body = b"".join(elements)
    return _TAG_LENGTH.pack(0xFFFE, 0xE000, len(body)) + body


def truncation_problem(data: bytes, dataset: Dataset) -> str:
    """How the file ends before its data set does ("" when complete or not checkable).

    pydicom reads a file cut inside a sequence without complaint, returning fewer ROIs or
    contours; walking the element and item headers (no values are decoded) finds where the
    encoded data set needs more bytes than the file holds.
    """
    encoding = getattr(dataset, "original_encoding", None) or (None, None)
    implicit, little = encoding
    if implicit is None or not little:
        return ""  # big endian or deflated: not walked here
    meta = getattr(dataset, "file_meta", None) or Dataset()
    value = meta.get("TransferSyntaxUID", "")
    syntax = "" if value is None else str(value).strip()
    if syntax == "1.2.840.10008.1.2.1.99":
        return ""
    position, end = 0, len(data)
    try:
        if data[128:132] == b"DICM":
            position = 132
            while position + 8 <= end and data[position : position + 2] == b"\x02\x00":
                _, _, length, start = element_header(data, position, end, False)
                position = start + length
        while position < end:
            _, vr, length, start = element_header(data, position, end, bool(implicit))
            if length == UNDEFINED_LENGTH:
                _, position = sequence_items(data, start, end, bool(implicit), True)
            else:
                position = start + length
                if position > end:
                    raise PastEndError("element runs past the end of the file", position)
    except PastEndError as error:
        if error.needed > end:
            return (
                f"the file ends at byte {end} inside its data set ({error}; at least "
                f"{error.needed} bytes expected): truncated"
            )
    except (RawWalkError, struct.error):
        return ""
    return ""


class UndecodedSequence:
    """A ContourImageSequence kept as bytes, decoded by pydicom when first iterated."""

    def __init__(self, value: bytes, implicit: bool, undefined: bool) -> None:
        self._value = value
        self._implicit = implicit
        self._length = UNDEFINED_LENGTH if undefined else len(value)
        self._decoded: list[Dataset] | None = None

    def _items(self) -> list[Dataset]:
        if self._decoded is None:
            from pydicom.filereader import read_sequence

            self._decoded = list(
                read_sequence(
                    io.BytesIO(self._value), self._implicit, True, self._length, default_encoding
                )
            )
        return self._decoded

    def __iter__(self) -> Iterator[Dataset]:
        return iter(self._items())

    def __len__(self) -> int:
        return len(self._items())
