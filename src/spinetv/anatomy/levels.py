"""Which ROIs are which vertebrae; the level names themselves live in :mod:`spinetv.vocabulary`
(re-exported here).

Input ROI names vary (``L2``, ``Vertebra_L2``, ``vertebrae_L2`` from TotalSegmentator,
``Bone_L2``, ``VB_L2``, ``Th12``); every one is reduced to a canonical level (``"L2"``) or
``"Sacrum"`` for a whole (or remaining) sacrum. A user mapping overrides the names, because
automatic segmentations mix up neighbouring levels in about 1-2 % of cases.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from spinetv.errors import AnatomyError
from spinetv.vocabulary import (
    LEVELS,
    SACRUM,
    adjacent_levels,
    is_sacral,
    level_order,
    parse_level,
    region_of,
    require_level,
)

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
        assigned[roi] = require_level(level_text)
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
