"""Vertebral levels, the spinal canal, the local frame, ISRC sectors and sacral compartments."""

from spinetv.anatomy.canal import CanalOptions, CanalResult, ProjectedCanal, derive_canal
from spinetv.anatomy.frame import LocalFrame, local_frame
from spinetv.anatomy.levels import (
    LEVELS,
    find_vertebrae,
    level_order,
    parse_level,
    region_of,
)
from spinetv.anatomy.sacrum import (
    derive_sacral_canal,
    derive_sacral_foramina,
    label_sacral_segment,
    split_sacrum,
)
from spinetv.anatomy.sectors import (
    SACRAL_SECTOR_NAMES,
    SECTOR_NAMES,
    CanalWalls,
    SectorOptions,
    VertebraSectors,
    label_sectors,
    label_spine,
)

__all__ = [
    "LEVELS",
    "SACRAL_SECTOR_NAMES",
    "SECTOR_NAMES",
    "CanalOptions",
    "CanalResult",
    "CanalWalls",
    "LocalFrame",
    "ProjectedCanal",
    "SectorOptions",
    "VertebraSectors",
    "derive_canal",
    "derive_sacral_canal",
    "derive_sacral_foramina",
    "find_vertebrae",
    "label_sacral_segment",
    "label_sectors",
    "label_spine",
    "level_order",
    "local_frame",
    "parse_level",
    "region_of",
    "split_sacrum",
]
