"""The JSON sidecar that keeps ROI names, types and colours beside NIfTI masks.

A NIfTI file has no place for an ROI's name, RTROIInterpretedType or display colour, and a file
name cannot hold every ROI name (``FemoralHead (Left)_MBS``, names differing only in case). When
``spinetv convert`` writes one mask per ROI it also writes ``spinetv_structures.json`` listing,
for each file, the ROI exactly as it was; converting the folder back reads it, so the round trip
keeps names, types and colours.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spinetv.errors import ImageInputError, SpinetvError
from spinetv.io.atomic import write_text_atomic
from spinetv.structure import RoiType

__all__ = [
    "SIDECAR_NAME",
    "SIDECAR_FORMAT",
    "SidecarEntry",
    "mask_file_names",
    "read_sidecar",
    "sidecar_text",
    "write_sidecar",
]

SIDECAR_NAME = "spinetv_structures.json"
SIDECAR_FORMAT = "spinetv-structures/1"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+\-]+")


@dataclass(frozen=True)
class SidecarEntry:
    """One mask file and the ROI it holds.

    Parameters
    ----------
    file : str
        The mask file's name (in the sidecar's folder).
    name : str
        The ROI name exactly as in the RTSTRUCT.
    roi_type : RoiType
        RTROIInterpretedType.
    color_rgb : tuple of int
        ROIDisplayColor, three values 0-255.
    description : str
        ROIDescription ("" when none).
    """

    file: str
    name: str
    roi_type: RoiType
    color_rgb: tuple[int, int, int]
    description: str = ""

    def __post_init__(self) -> None:
        if not self.file or "/" in self.file or "\\" in self.file or self.file in (".", ".."):
            raise SpinetvError(f"sidecar entry: file {self.file!r} is not a plain file name")
        if not self.name.strip():
            raise SpinetvError(f"sidecar entry for {self.file}: empty ROI name")
        color = tuple(self.color_rgb)
        if len(color) != 3 or not all(isinstance(c, int) and 0 <= c <= 255 for c in color):
            raise SpinetvError(
                f"sidecar entry for {self.file}: colour {list(color)}; expected three whole "
                "numbers 0-255"
            )
        object.__setattr__(self, "color_rgb", color)
        object.__setattr__(self, "roi_type", RoiType.parse(self.roi_type))


def mask_file_names(roi_names: Sequence[str], *, suffix: str = ".nii.gz") -> list[str]:
    """Readable, unique file names for ROI names, in the same order.

    Runs of characters other than letters, digits, ``. + -`` become one ``_`` (leading and
    trailing ones dropped): ``FemoralHead (Left)_MBS`` -> ``FemoralHead_Left_MBS``. Names that
    would collide (also when they differ only in case, for case-insensitive file systems) get
    ``_2``, ``_3``... in order.

    Parameters
    ----------
    roi_names : sequence of str
        The ROI names.
    suffix : str
        The file name ending.

    Returns
    -------
    list of str
    """
    taken: set[str] = set()
    names: list[str] = []
    for roi_name in roi_names:
        stem = re.sub("_+", "_", _UNSAFE.sub("_", roi_name.strip())).strip("_.") or "ROI"
        candidate, number = stem, 1
        while (
            f"{candidate}{suffix}".casefold() in taken
            or candidate.casefold() == "spinetv_structures"
        ):
            number += 1
            candidate = f"{stem}_{number}"
        taken.add(f"{candidate}{suffix}".casefold())
        names.append(f"{candidate}{suffix}")
    return names


def sidecar_text(entries: Iterable[SidecarEntry], *, source: str = "") -> str:
    """The sidecar's JSON text for ``entries``.

    Parameters
    ----------
    entries : iterable of SidecarEntry
        The structures, in the order they are to be listed.
    source : str, default ""
        What the masks came from, stored as ``"source"``.

    Returns
    -------
    str
        JSON (indented by 2, non-ASCII kept) with a final newline.
    """
    document = {
        "format": SIDECAR_FORMAT,
        "source": source,
        "structures": [
            {
                "file": entry.file,
                "name": entry.name,
                "roi_type": entry.roi_type.value,
                "color_rgb": list(entry.color_rgb),
                "description": entry.description,
            }
            for entry in entries
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write_sidecar(
    folder: str | os.PathLike[str],
    entries: Iterable[SidecarEntry],
    *,
    source: str = "",
    overwrite: bool = False,
) -> Path:
    """Write ``spinetv_structures.json`` into ``folder`` (atomically); returns its path.

    Parameters
    ----------
    folder : path-like
        The mask folder (made when missing).
    entries : iterable of SidecarEntry
        The structures, in the order they are to be listed.
    source : str, default ""
        What the masks came from.
    overwrite : bool, default False
        Replace an existing sidecar.

    Returns
    -------
    Path
        The sidecar's path.

    Raises
    ------
    OutputExistsError
        When the sidecar exists and ``overwrite`` is false, or it cannot be written as a file.
    """
    path = Path(folder) / SIDECAR_NAME
    return write_text_atomic(path, sidecar_text(entries, source=source), overwrite=overwrite)


def read_sidecar(path: str | os.PathLike[str]) -> dict[str, SidecarEntry]:
    """The entries of a sidecar file, by mask file name.

    Parameters
    ----------
    path : path-like
        The sidecar JSON file (``spinetv_structures.json``).

    Returns
    -------
    dict of str to SidecarEntry
        Each entry by its mask file name, in file order.

    Raises
    ------
    ImageInputError
        The file is not UTF-8 JSON in the sidecar format, or an entry is malformed (the
        message names the file and the entry).
    """
    source = Path(path)
    try:
        document = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ImageInputError(f"{source}: not a readable JSON sidecar ({error})") from None
    if not isinstance(document, Mapping) or document.get("format") != SIDECAR_FORMAT:
        raise ImageInputError(
            f"{source}: expected a JSON object with \"format\": \"{SIDECAR_FORMAT}\""
        )
    structures = document.get("structures")
    if not isinstance(structures, list):
        raise ImageInputError(f"{source}: \"structures\" must be a list")
    entries: dict[str, SidecarEntry] = {}
    for index, raw in enumerate(structures, start=1):
        entry = _entry(source, index, raw)
        if entry.file in entries:
            raise ImageInputError(f"{source}: file {entry.file} is listed twice")
        entries[entry.file] = entry
    names = [e.name for e in entries.values()]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ImageInputError(f"{source}: ROI name(s) {', '.join(repeated)} listed twice")
    return entries


def _entry(source: Path, index: int, raw: Any) -> SidecarEntry:
    if not isinstance(raw, Mapping):
        raise ImageInputError(f"{source}: structure #{index} is not a JSON object")
    try:
        color = raw.get("color_rgb", [255, 255, 0])
        return SidecarEntry(
            file=str(raw["file"]),
            name=str(raw["name"]),
            roi_type=RoiType.parse(str(raw.get("roi_type", "ORGAN"))),
            color_rgb=tuple(color) if isinstance(color, list) else color,
            description=str(raw.get("description", "")),
        )
    except KeyError as error:
        raise ImageInputError(f"{source}: structure #{index} lacks {error}") from None
    except SpinetvError as error:
        raise ImageInputError(f"{source}: structure #{index}: {error}") from None
