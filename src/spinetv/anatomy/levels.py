"""Vertebral level names: parse ROI names, order levels, and find the vertebrae among ROIs.

Input ROI names vary (``L2``, ``Vertebra_L2``, ``vertebrae_L2`` from TotalSegmentator,
``Bone_L2``, ``VB_L2``, ``Th12``); every one is reduced to a canonical level (``"L2"``) or
``"Sacrum"`` for a whole (or remaining) sacrum. A user mapping overrides the names, because
automatic segmentations mix up neighbouring levels in about 1-2 % of cases.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from spinetv.errors import AnatomyError

__all__ = [
    "adjacent_levels",
    "LEVELS",
    "SACRUM",
    "parse_level",
    "level_order",
    "region_of",
    "find_vertebrae",
    "is_sacral",
]

SACRUM = "Sacrum"

_COUNTS = {"C": 7, "T": 12, "L": 5, "S": 5}
_REGIONS = {"C": "cervical", "T": "thoracic", "L": "lumbar", "S": "sacral"}

#: Every canonical level from the top down (the whole-sacrum name is not a level of its own).
LEVELS: tuple[str, ...] = tuple(
    f"{letter}{number}" for letter in "CTLS" for number in range(1, _COUNTS[letter] + 1)
)

# A known prefix (optional), then the level; separators "_", "-", " " or none.
_PREFIX = r"(?:(?:vertebrae|vertebra|vert|bone|vb|v|body)[\s_\-]*)?"
_LEVEL_RE = re.compile(rf"^{_PREFIX}(c|th|t|l|s)[\s_\-]*0*(\d{{1,2}})$", re.IGNORECASE)
_SACRUM_RE = re.compile(rf"^{_PREFIX}(?:sacrum|os[\s_\-]*sacrum|sacral)$", re.IGNORECASE)


def parse_level(name: str) -> str | None:
    """The canonical vertebral level an ROI name stands for, or ``None``.

    Parameters
    ----------
    name : str
        An ROI name such as ``"L2"``, ``"Vertebra_L2"``, ``"vertebrae_L2"``, ``"Bone_L2"``,
        ``"VB_L2"``, ``"l2"``, ``"Th12"``, ``"S1"`` or ``"Sacrum"`` (case-insensitive,
        surrounding blanks ignored).

    Returns
    -------
    str or None
        ``"C1"``..``"C7"``, ``"T1"``..``"T12"``, ``"L1"``..``"L5"``, ``"S1"``..``"S5"``,
        ``"Sacrum"``; ``None`` for a name that is not a vertebra (``"SpinalCord"``, ``"L6"``,
        ``"PTV_L2"``).
    """
    text = name.strip()
    if _SACRUM_RE.match(text):
        return SACRUM
    match = _LEVEL_RE.match(text)
    if match is None:
        return None
    letter = match.group(1).upper()[0]
    number = int(match.group(2))
    if not 1 <= number <= _COUNTS[letter]:
        return None
    return f"{letter}{number}"


def _require_level(level: str) -> str:
    canonical = parse_level(level)
    if canonical is None:
        raise AnatomyError(
            f"{level!r} is not a vertebral level: expected C1-C7, T1-T12, L1-L5, S1-S5 or Sacrum"
        )
    return canonical


def level_order(level: str) -> int:
    """A sort key running from the top of the spine down.

    C1 is 0, C7 6, T1 7, T12 18, L1 19, L5 23, S1 24, ``Sacrum`` 25 (the remaining sacrum
    starts where S1 ends, so it sorts right after S1), S2 26 ... S5 29.

    Raises
    ------
    AnatomyError
        When ``level`` is not a level name.
    """
    canonical = _require_level(level)
    if canonical == SACRUM:
        return LEVELS.index("S1") + 1
    index = LEVELS.index(canonical)
    return index + 1 if canonical[0] == "S" and canonical != "S1" else index


def adjacent_levels(one: str, other: str) -> bool:
    """Whether two level names are anatomical neighbours (L5 and S1, S1 and S2...).

    ``Sacrum`` (a whole or remaining sacrum) is nobody's neighbour; names that are not
    levels are not either.
    """
    first, second = parse_level(one), parse_level(other)
    if first is None or second is None or SACRUM in (first, second):
        return False
    return abs(LEVELS.index(first) - LEVELS.index(second)) == 1


def region_of(level: str) -> str:
    """``"cervical"``, ``"thoracic"``, ``"lumbar"`` or ``"sacral"`` for a level name."""
    canonical = _require_level(level)
    return "sacral" if canonical == SACRUM else _REGIONS[canonical[0]]


def is_sacral(level: str) -> bool:
    """True for S1-S5 and the sacrum."""
    return region_of(level) == "sacral"


def find_vertebrae(
    names: Iterable[str], *, mapping: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Which ROI is which vertebra.

    Parameters
    ----------
    names : iterable of str
        The ROI names available (for example every ROI of an RTSTRUCT).
    mapping : mapping of str to str, optional
        User overrides, either level -> ROI name (``{"L4": "vertebrae_L5"}``) or ROI name ->
        level (``{"vertebrae_L5": "L4"}``); the direction is recognised per entry (an entry
        whose key is an available ROI name is ROI -> level). A mapped ROI takes the given
        level whatever its name says.

    Returns
    -------
    dict of str to str
        Level -> ROI name, ordered from the top of the spine down. ROIs whose names are not
        levels (``SpinalCord``...) are left out.

    Raises
    ------
    AnatomyError
        When a mapping entry names an ROI that is absent or a level that is not one, or when
        two ROIs claim the same level (the message names both).
    """
    available = list(dict.fromkeys(names))
    available_set = set(available)
    assigned: dict[str, str] = {}  # ROI name -> level
    sources: dict[str, str] = {}
    for key, value in (mapping or {}).items():
        if key in available_set:
            roi, level_text = key, value
        elif value in available_set:
            roi, level_text = value, key
        else:
            raise AnatomyError(
                f"level mapping entry {key!r}: {value!r} names no available ROI; "
                f"expected one of {sorted(available_set)}"
            )
        assigned[roi] = _require_level(level_text)
        sources[roi] = "mapping"
    for roi in available:
        if roi in assigned:
            continue
        level = parse_level(roi)
        if level is not None:
            assigned[roi] = level
            sources[roi] = "name"
    by_level: dict[str, str] = {}
    for roi, level in assigned.items():
        if level in by_level:
            other = by_level[level]
            raise AnatomyError(
                f"two ROIs claim level {level}: {other!r} (by {sources[other]}) and {roi!r} "
                f"(by {sources[roi]}); map the levels explicitly"
            )
        by_level[level] = roi
    return {level: by_level[level] for level in sorted(by_level, key=level_order)}
