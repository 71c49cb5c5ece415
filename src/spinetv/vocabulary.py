"""The words every layer shares, defined once: levels, sectors, organ roles, patient sides.

* **Levels.** ROI names vary (``L2``, ``Vertebra_L2``, ``vertebrae_L2`` from TotalSegmentator,
  ``Bone_L2``, ``VB_L2``, ``Th12``); :func:`parse_level` reduces each to a canonical level
  (``"L2"``) or :data:`SACRUM` for a whole (or remaining) sacrum, and refuses names that only
  contain a level (``PTV_L2``, ``GTV_L3``: structures *at* a level, not vertebrae).
  :func:`level_order` sorts from the top of the spine down; :func:`region_of` names the region.
* **Sectors.** :class:`Sector` numbers the six ISRC sectors (Cox 2012) and, for sacral segments,
  the compartments of the sacral consensus (Dunne 2020), with their names and ROI suffixes.
* **Organ roles.** :class:`OrganRole`: the organs spinetv reads or derives, with the TG-263 name
  written and the input ROI names recognised.
* **Patient sides.** :data:`PATIENT_SIDES` in the order margins are written
  (left, right, anterior, posterior, superior, inferior) with their one-letter abbreviations.
* **Names or files.** :func:`names_a_file`: whether a value given where a shipped preset's name or
  a file is accepted names a file.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Mapping
from types import MappingProxyType

from spinetv.errors import AnatomyError

__all__ = [
    "BodyClass",
    "TextEnum",
    "Side",
    "LEVELS",
    "SACRUM",
    "REGIONS",
    "PATIENT_SIDES",
    "SIDE_LETTERS",
    "OrganRole",
    "Sector",
    "adjacent_levels",
    "is_sacral",
    "level_order",
    "names_a_file",
    "parse_level",
    "region_of",
    "require_level",
    "sector_names",
]

#: The name of a whole (or remaining, below a given S1) sacrum; not a level of its own.
SACRUM = "Sacrum"

_COUNTS = {"C": 7, "T": 12, "L": 5, "S": 5}
_REGION_OF_LETTER = {"C": "cervical", "T": "thoracic", "L": "lumbar", "S": "sacral"}
#: The regions, from the top down.
REGIONS: tuple[str, ...] = ("cervical", "thoracic", "lumbar", "sacral")

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


def require_level(name: str) -> str:
    """:func:`parse_level`, refusing a name that is not a level.

    Parameters
    ----------
    name : str
        A level or vertebra ROI name.

    Returns
    -------
    str
        The canonical level or :data:`SACRUM`.

    Raises
    ------
    AnatomyError
        Naming the value and the levels that exist.
    """
    canonical = parse_level(str(name))
    if canonical is None:
        raise AnatomyError(
            f"{name!r} is not a vertebral level: expected C1-C7, T1-T12, L1-L5, S1-S5 or Sacrum"
        )
    return canonical


def level_order(level: str) -> int:
    """A sort key running from the top of the spine down.

    Parameters
    ----------
    level : str
        A level or vertebra ROI name.

    Returns
    -------
    int
        C1 is 0, C7 6, T1 7, T12 18, L1 19, L5 23, S1 24, ``Sacrum`` 25 (the remaining sacrum
        starts where S1 ends, so it sorts right after S1), S2 26 ... S5 29.

    Raises
    ------
    AnatomyError
        When ``level`` is not a level name.
    """
    canonical = require_level(level)
    if canonical == SACRUM:
        return LEVELS.index("S1") + 1
    index = LEVELS.index(canonical)
    return index + 1 if canonical[0] == "S" and canonical != "S1" else index


def adjacent_levels(one: str, other: str) -> bool:
    """Whether two level names are anatomical neighbours (L5 and S1, S1 and S2...).

    Parameters
    ----------
    one, other : str
        Level or vertebra ROI names.

    Returns
    -------
    bool
        True for neighbours. ``Sacrum`` (a whole or remaining sacrum) is nobody's neighbour;
        names that are not levels are not either.
    """
    first, second = parse_level(one), parse_level(other)
    if first is None or second is None or SACRUM in (first, second):
        return False
    return abs(LEVELS.index(first) - LEVELS.index(second)) == 1


def region_of(level: str) -> str:
    """The region of a level.

    Parameters
    ----------
    level : str
        A level or vertebra ROI name.

    Returns
    -------
    str
        ``"cervical"``, ``"thoracic"``, ``"lumbar"`` or ``"sacral"``.

    Raises
    ------
    AnatomyError
        When ``level`` is not a level name.
    """
    canonical = require_level(level)
    return "sacral" if canonical == SACRUM else _REGION_OF_LETTER[canonical[0]]


def is_sacral(level: str) -> bool:
    """Whether a level is sacral.

    Parameters
    ----------
    level : str
        A level or vertebra ROI name.

    Returns
    -------
    bool
        True for S1-S5 and the sacrum.

    Raises
    ------
    AnatomyError
        When ``level`` is not a level name.
    """
    return region_of(level) == "sacral"


class Sector(enum.IntEnum):
    """The six sectors of a vertebra (ISRC, Cox 2012), numbered as the consensus numbers them.

    A sacral segment has six compartments in the same places (Dunne 2020): the body, the alae
    (lateral masses) where a vertebra has its pedicles, the laminae where it has transverse
    process and lamina, and the median crest where it has the spinous process.
    """

    BODY = 1
    LEFT_PEDICLE = 2
    LEFT_TRANSVERSE_LAMINA = 3
    SPINOUS = 4
    RIGHT_TRANSVERSE_LAMINA = 5
    RIGHT_PEDICLE = 6

    def title(self, *, sacral: bool = False) -> str:
        """The sector's name (``"left pedicle"``; sacral: ``"left ala"``).

        Parameters
        ----------
        sacral : bool, default False
            Use the sacral segment's names (ala, lamina, median crest).

        Returns
        -------
        str
            The name, lower case.
        """
        return (_SACRAL_NAMES if sacral else _SPINE_NAMES)[self]

    def roi_suffix(self, *, sacral: bool = False) -> str:
        """The suffix of its ROI name (``L2_Sector2``; sacral: ``S1_Ala_L``).

        Parameters
        ----------
        sacral : bool, default False
            Use the sacral suffixes (``Body``, ``Ala_L``, ``Lamina_L``, ``Crest``...).

        Returns
        -------
        str
            ``"Sector<n>"``, or the sacral suffix; without the level and its underscore.
        """
        return _SACRAL_SUFFIXES[self] if sacral else f"Sector{int(self)}"

    @property
    def side(self) -> str | None:
        """``"left"``, ``"right"`` or None (body, spinous process / median crest): the
        patient's side."""
        if self in (Sector.LEFT_PEDICLE, Sector.LEFT_TRANSVERSE_LAMINA):
            return "left"
        if self in (Sector.RIGHT_PEDICLE, Sector.RIGHT_TRANSVERSE_LAMINA):
            return "right"
        return None


_SPINE_NAMES = {
    Sector.BODY: "body",
    Sector.LEFT_PEDICLE: "left pedicle",
    Sector.LEFT_TRANSVERSE_LAMINA: "left transverse process and lamina",
    Sector.SPINOUS: "spinous process",
    Sector.RIGHT_TRANSVERSE_LAMINA: "right transverse process and lamina",
    Sector.RIGHT_PEDICLE: "right pedicle",
}
_SACRAL_NAMES = {
    Sector.BODY: "body",
    Sector.LEFT_PEDICLE: "left ala",
    Sector.LEFT_TRANSVERSE_LAMINA: "left lamina",
    Sector.SPINOUS: "median crest",
    Sector.RIGHT_TRANSVERSE_LAMINA: "right lamina",
    Sector.RIGHT_PEDICLE: "right ala",
}
_SACRAL_SUFFIXES = {
    Sector.BODY: "Body",
    Sector.LEFT_PEDICLE: "Ala_L",
    Sector.LEFT_TRANSVERSE_LAMINA: "Lamina_L",
    Sector.SPINOUS: "Crest",
    Sector.RIGHT_TRANSVERSE_LAMINA: "Lamina_R",
    Sector.RIGHT_PEDICLE: "Ala_R",
}


def sector_names(*, sacral: bool = False) -> Mapping[int, str]:
    """The sector names by number.

    Parameters
    ----------
    sacral : bool
        The names of a sacral segment's compartments (alae, laminae, median crest).

    Returns
    -------
    mapping of int to str
        Read-only ``{1: "body", 2: "left pedicle", ...}``.
    """
    return MappingProxyType({int(s): s.title(sacral=sacral) for s in Sector})


class OrganRole(enum.Enum):
    """An organ spinetv reads or derives: its role, TG-263 name and the input names known.

    The value is the role's key (``"cord"``), used in options and the case's sources.
    """

    CORD = "cord"
    CANAL = "canal"
    THECAL_SAC = "thecal_sac"
    SACRAL_CANAL = "sacral_canal"
    SACRAL_FORAMINA = "sacral_foramina"

    @property
    def tg263(self) -> str:
        """The TG-263 structure name written and named in protocols (``"SpinalCord"``)."""
        return _TG263[self]

    @property
    def aliases(self) -> tuple[str, ...]:
        """Input ROI names recognised for the role (compared case-insensitively)."""
        return _ALIASES[self]

    @classmethod
    def from_tg263(cls, name: str) -> OrganRole:
        """The role whose TG-263 name is ``name`` (ValueError naming the known ones)."""
        for role in cls:
            if role.tg263 == name:
                return role
        known = ", ".join(role.tg263 for role in cls)
        raise ValueError(f"{name!r} is not an organ spinetv knows; known: {known}")


_TG263 = {
    OrganRole.CORD: "SpinalCord",
    OrganRole.CANAL: "SpinalCanal",
    OrganRole.THECAL_SAC: "ThecalSac",
    OrganRole.SACRAL_CANAL: "SacralCanal",
    OrganRole.SACRAL_FORAMINA: "SacralForamina",
}
_ALIASES = {
    OrganRole.CORD: ("SpinalCord", "Spinal_Cord", "Cord", "spinal_cord"),
    OrganRole.CANAL: ("SpinalCanal", "Spinal_Canal", "Canal", "spinal_canal"),
    # Not CaudaEquina: the cauda equina is the roots inside the sac, a separate structure.
    OrganRole.THECAL_SAC: ("ThecalSac", "Thecal_Sac"),
    OrganRole.SACRAL_CANAL: ("SacralCanal", "Sacral_Canal"),
    OrganRole.SACRAL_FORAMINA: ("SacralForamina", "Sacral_Foramina"),
}

class TextEnum(str, enum.Enum):
    """A string enum that prints and formats as its value (as ``enum.StrEnum`` of 3.11)."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class Side(TextEnum):
    """A side of the patient (never of the image)."""

    LEFT = "left"
    RIGHT = "right"


class Modality(TextEnum):
    """The kind of image a case is planned on (DICOM Modality, C.7.3.1.1.1)."""

    CT = "CT"
    MR = "MR"
    #: An image of another DICOM modality (PET, a secondary capture...), kept as DICOM's "other".
    OTHER = "OT"
    #: Not known: an image file that does not say (NIfTI, MetaImage).
    UNKNOWN = ""

    @classmethod
    def parse(cls, text: str) -> Modality:
        """The modality a DICOM Modality value (any case, blanks ignored) names.

        Parameters
        ----------
        text : str
            "CT", "MR", another DICOM modality (OTHER), or "" (UNKNOWN).

        Returns
        -------
        Modality
            The member; every modality other than CT and MR is OTHER.
        """
        value = str(text).strip().upper()
        if not value:
            return cls.UNKNOWN
        for member in cls:
            if member.value == value:
                return member
        return cls.OTHER


class BodyClass(TextEnum):
    """How a GTV involves the vertebral body (ISRC 2012): its class decides the CTV's rows."""

    FOCAL = "focal"
    LATERALIZED = "lateralized"
    DIFFUSE = "diffuse"


#: The patient's sides, in the order margins are written everywhere.
PATIENT_SIDES: tuple[str, ...] = ("left", "right", "anterior", "posterior", "superior", "inferior")
#: One-letter abbreviation of each side (L, R, A, P, S, I).
SIDE_LETTERS: Mapping[str, str] = MappingProxyType(
    {side: side[0].upper() for side in PATIENT_SIDES}
)


def names_a_file(value: str | os.PathLike[str], *, suffixes: tuple[str, ...] = (".toml",)) -> bool:
    """Whether a value given for "a shipped name or a file" names a file.

    A value is a file when it is a path object, ends with one of ``suffixes`` or holds a path
    separator (``/``, or the system's own). A bare word is a shipped name even when a file or
    folder of that name sits in the working directory, which must not shadow the preset.

    Parameters
    ----------
    value : str or path-like
        The value given.
    suffixes : tuple of str
        File endings that make a value a file.

    Returns
    -------
    bool
        True for a file.
    """
    if not isinstance(value, str):
        return True
    separators = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return value.endswith(suffixes) or any(sep in value for sep in separators)
