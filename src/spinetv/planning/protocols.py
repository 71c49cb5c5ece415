"""Protocol presets: which guideline makes the CTV and how PTV, PTV_Eval, PRVs are made.

Presets are TOML files in ``spinetv/planning/data``; a user's own file works the same way.
Every section of a preset cites its source and says whether it was checked against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from spinetv.dose.metrics import parse_metric
from spinetv.errors import ProtocolError, SpinetvError
from spinetv.geometry.margins import MARGIN_ROUNDINGS
from spinetv.io.toml_file import read_toml
from spinetv.structure import check_tg263_name
from spinetv.vocabulary import PATIENT_SIDES, OrganRole, names_a_file

__all__ = [
    "CordEvaluationRule",
    "MarginSpec",
    "PrvRule",
    "Protocol",
    "PtvEvalRule",
    "PtvRule",
    "ThecalSacRule",
    "list_protocols",
    "load_protocol",
    "DEFAULT_PROTOCOL",
    "KNOWN_STRUCTURES",
    "DoseConstraint",
    "DoseSpec",
    "PRIORITIES",
]

DEFAULT_PROTOCOL = "sib-sbrt-2025"

#: Structures a preset may name (to trim the PTV at, exclude from PTV_Eval, or expand into a
#: PRV): the organ roles spinetv reads or derives.
KNOWN_STRUCTURES = tuple(role.tg263 for role in OrganRole)
_DIRECTIONS = PATIENT_SIDES
#: Largest margin (PTV, PRV, thecal sac) a preset may state, mm: published spine SBRT margins
#: are 0-5 mm; beyond this a value is a typo (cm for mm), not a protocol.
MAX_MARGIN_MM = 20.0
#: Largest cord-evaluation extent above or below the target, mm (Ryu: 6 mm).
MAX_EXTENT_MM = 100.0


def _check_mm(value: float, what: str, maximum: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        0.0 <= value <= maximum
    ):
        raise ProtocolError(f"{what}: {value!r} mm; expected a number from 0 to {maximum:g} mm")


@dataclass(frozen=True)
class MarginSpec:
    """A margin in mm per patient direction, as written in a preset."""

    left: float
    right: float
    anterior: float
    posterior: float
    superior: float
    inferior: float

    def __post_init__(self) -> None:
        for direction, value in zip(_DIRECTIONS, self.as_tuple()):
            _check_mm(value, f"margin {direction}", MAX_MARGIN_MM)

    def as_tuple(self) -> tuple[float, float, float, float, float, float]:
        """(left, right, anterior, posterior, superior, inferior) in mm.

        Returns
        -------
        tuple of 6 float
            The six margins in mm, in :data:`~spinetv.geometry.margins.PATIENT_SIDES` order.
        """
        return (self.left, self.right, self.anterior, self.posterior, self.superior, self.inferior)


@dataclass(frozen=True)
class PtvRule:
    """PTV = CTV expanded by ``margin``, minus the named structures (for example the cord)."""

    margin: MarginSpec
    subtract: tuple[str, ...]
    source: str
    verified: bool


@dataclass(frozen=True)
class PtvEvalRule:
    """PTV_Eval = PTV minus ``spine_subtract`` (C, T, L levels) or ``sacrum_subtract`` (sacrum)."""

    name: str
    spine_subtract: tuple[str, ...]
    sacrum_subtract: tuple[str, ...]
    source: str
    verified: bool


@dataclass(frozen=True)
class PrvRule:
    """A planning organ-at-risk volume: ``structure`` expanded isotropically by ``margin_mm``."""

    structure: str
    margin_mm: float
    name: str
    source: str
    verified: bool

    def __post_init__(self) -> None:
        _check_mm(self.margin_mm, f"PRV {self.name} margin", MAX_MARGIN_MM)


@dataclass(frozen=True)
class ThecalSacRule:
    """Below ``below_level`` the thecal sac is the organ at risk, with ``margin_mm``."""

    below_level: str
    margin_mm: float
    name: str
    source: str
    verified: bool

    def __post_init__(self) -> None:
        _check_mm(self.margin_mm, f"{self.name} margin", MAX_MARGIN_MM)


@dataclass(frozen=True)
class CordEvaluationRule:
    """The cord from ``above_mm`` above to ``below_mm`` below the target (Ryu)."""

    above_mm: float
    below_mm: float
    name: str
    source: str
    verified: bool

    def __post_init__(self) -> None:
        _check_mm(self.above_mm, f"{self.name} extent above the target", MAX_EXTENT_MM)
        _check_mm(self.below_mm, f"{self.name} extent below the target", MAX_EXTENT_MM)


#: Priorities a dose constraint may have (SIB-SBRT Table 1: optimal, mandatory).
PRIORITIES = ("mandatory", "optimal")


@dataclass(frozen=True)
class DoseConstraint:
    """One dose limit of a protocol: a DVH metric of a structure within bounds.

    Parameters
    ----------
    structure : str
        The structure's ROI name (``PTV_Eval``, ``SpinalCord_PRV02``, ``GTV``...).
    metric : str
        The metric's notation (``D2%``, ``D0.03cm³``, ``V20Gy``; see
        :mod:`spinetv.dose.metrics`).
    minimum, maximum : float or None
        Bounds on the metric's value, in its unit (Gy for D metrics, % or cm³ for V metrics);
        at least one is given.
    priority : str
        ``"mandatory"`` or ``"optimal"``.
    source : str
        Where the limit is stated (document, table, row).
    verified : bool
        Transcribed from the source text itself.
    """

    structure: str
    metric: str
    minimum: float | None
    maximum: float | None
    priority: str
    source: str
    verified: bool

    def __post_init__(self) -> None:
        parse_metric(self.metric)  # refuses notation it cannot evaluate
        if self.minimum is None and self.maximum is None:
            raise ProtocolError(f"dose constraint {self.structure} {self.metric}: no limit given")
        if (
            self.minimum is not None
            and self.maximum is not None
            and self.minimum > self.maximum
        ):
            raise ProtocolError(
                f"dose constraint {self.structure} {self.metric}: minimum {self.minimum:g} above "
                f"maximum {self.maximum:g}"
            )
        if self.priority not in PRIORITIES:
            raise ProtocolError(
                f"dose constraint {self.structure} {self.metric}: priority {self.priority!r}; "
                f"expected {' or '.join(PRIORITIES)}"
            )

    def describe(self) -> str:
        """The limit as written in a table (``<= 25 Gy``, ``>= 42 and <= 48 Gy``).

        Returns
        -------
        str
            The bounds followed by the metric's unit (``Gy``, ``%`` or ``cc``, cm³).
        """
        unit = parse_metric(self.metric).unit
        parts = []
        if self.minimum is not None:
            parts.append(f">= {self.minimum:g}")
        if self.maximum is not None:
            parts.append(f"<= {self.maximum:g}")
        return " and ".join(parts) + f" {unit}"


@dataclass(frozen=True)
class DoseSpec:
    """A protocol's prescription and dose limits.

    Parameters
    ----------
    prescription_gy : float
        The prescribed dose, Gy (total over the fractions).
    fractions : int
        Number of fractions.
    constraints : tuple of DoseConstraint
        The limits, each with its source.
    source : str
        Where the prescription is stated.
    verified : bool
        Transcribed from the source text itself.
    """

    prescription_gy: float
    fractions: int
    constraints: tuple[DoseConstraint, ...]
    source: str
    verified: bool

    def __post_init__(self) -> None:
        if not 0 < self.prescription_gy <= 100:
            raise ProtocolError(f"prescription {self.prescription_gy:g} Gy: expected 0-100 Gy")
        if isinstance(self.fractions, bool) or not isinstance(self.fractions, int) or not (
            1 <= self.fractions <= 50
        ):
            raise ProtocolError(f"fractions {self.fractions!r}: expected a whole number 1-50")
        object.__setattr__(self, "constraints", tuple(self.constraints))


@dataclass(frozen=True)
class Protocol:
    """A protocol preset: guideline plus planning-volume rules, each with its source.

    ``margin_rounding`` (``at_least``, ``nearest`` or ``at_most``; default ``at_least``) says
    how the PTV margin and every PRV and thecal-sac margin are made whole voxels on the
    planning grid (superior-inferior: whole slices), see
    :func:`spinetv.geometry.margins.round_to_grid`. ``at_least`` never reaches less than asked.
    """

    id: str
    title: str
    version: str
    guideline: str
    citation: str
    ctv_source: str
    ptv: PtvRule
    ptv_eval: PtvEvalRule | None
    prvs: tuple[PrvRule, ...]
    thecal_sac: ThecalSacRule | None
    cord_evaluation: CordEvaluationRule | None
    path: str
    margin_rounding: str = "at_least"
    dose: DoseSpec | None = None

    def __post_init__(self) -> None:
        if self.margin_rounding not in MARGIN_ROUNDINGS:
            raise ProtocolError(
                f"protocol {self.id}: margin_rounding {self.margin_rounding!r}; expected one of "
                f"{', '.join(MARGIN_ROUNDINGS)}"
            )

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready description of the preset for reports.

        Returns
        -------
        dict of str to Any
            Identity, file and citation; ``ptv_margin_mm`` (side to mm), ``margin_rounding``,
            ``ptv_subtract``, ``ptv_eval`` (or None), ``prv`` (structure and ``margin_mm``),
            ``thecal_sac_below`` (a level, or None) and ``cord_evaluation_mm`` (``[above,
            below]`` in mm, or None).
        """
        return {
            "id": self.id,
            "title": self.title,
            "version": self.version,
            "guideline": self.guideline,
            "citation": self.citation,
            "file": self.path,
            "ptv_margin_mm": dict(zip(_DIRECTIONS, self.ptv.margin.as_tuple())),
            "margin_rounding": self.margin_rounding,
            "ptv_subtract": list(self.ptv.subtract),
            "ptv_eval": None
            if self.ptv_eval is None
            else {
                "spine_subtract": list(self.ptv_eval.spine_subtract),
                "sacrum_subtract": list(self.ptv_eval.sacrum_subtract),
            },
            "prv": [{"structure": p.structure, "margin_mm": p.margin_mm} for p in self.prvs],
            "thecal_sac_below": None if self.thecal_sac is None else self.thecal_sac.below_level,
            "cord_evaluation_mm": None
            if self.cord_evaluation is None
            else [self.cord_evaluation.above_mm, self.cord_evaluation.below_mm],
            "dose": None
            if self.dose is None
            else {
                "prescription_gy": self.dose.prescription_gy,
                "fractions": self.dose.fractions,
                "constraints": len(self.dose.constraints),
            },
        }


def _data_dir() -> Path:
    return Path(str(resources.files("spinetv.planning") / "data"))


def list_protocols() -> tuple[str, ...]:
    """Names of the shipped protocol presets, sorted.

    Returns
    -------
    tuple of str
        The preset names (file stems), as :func:`load_protocol` accepts them.
    """
    return tuple(sorted(p.stem for p in _data_dir().glob("*.toml")))


def load_protocol(name_or_path: str | Path | Protocol) -> Protocol:
    """Load a shipped preset by name, or a user's preset file by path.

    Parameters
    ----------
    name_or_path : str, Path or Protocol
        A shipped preset's name (see :func:`list_protocols`), a ``.toml`` file, or a loaded
        preset (returned as is, so that callers load once and pass the value).

    Returns
    -------
    Protocol
        The preset.

    Raises
    ------
    ProtocolError
        Unknown name, unreadable file, or a malformed section (the message names the file,
        the section and the field).
    """
    if isinstance(name_or_path, Protocol):
        return name_or_path
    text = str(name_or_path)
    # A value is a file only when it looks like one: a folder or file in the working
    # directory named like a preset must not shadow the shipped preset.
    if names_a_file(text):
        path = Path(text)
    else:
        path = _data_dir() / f"{text}.toml"
        if not path.exists():
            known = ", ".join(list_protocols())
            raise ProtocolError(f"unknown protocol {text!r}; shipped presets: {known}")
    data = read_toml(path, ProtocolError, kind="protocol file")
    return _parse(data, str(path))


class _Reader:
    """Typed access to one table of a preset, with errors that name file, section and field."""

    def __init__(self, table: Mapping[str, Any], path: str, section: str) -> None:
        self.table, self.path, self.section = table, path, section

    def fail(self, field: str, problem: str) -> ProtocolError:
        where = f"[{self.section}] " if self.section else ""
        return ProtocolError(f"{self.path}: {where}field {field!r}: {problem}")

    def text(self, field: str, default: str | None = None) -> str:
        value = self.table.get(field, default)
        if not isinstance(value, str) or (default is None and not value.strip()):
            raise self.fail(field, f"expected a non-empty string, found {value!r}")
        return value

    def number(self, field: str, *, maximum: float = MAX_MARGIN_MM) -> float:
        value = self.table.get(field)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not 0.0 <= value <= maximum
        ):
            raise self.fail(
                field, f"expected a number from 0 to {maximum:g} (mm), found {value!r}"
            )
        return float(value)

    def flag(self, field: str) -> bool:
        value = self.table.get(field)
        if not isinstance(value, bool):
            raise self.fail(field, f"expected true or false, found {value!r}")
        return value

    def names(self, field: str) -> tuple[str, ...]:
        value = self.table.get(field, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(field, f"expected a list of structure names, found {value!r}")
        for name in value:
            self.known(field, name)
        return tuple(value)

    def known(self, field: str, name: str) -> str:
        if name not in KNOWN_STRUCTURES:
            raise self.fail(
                field,
                f"{name!r} is not a structure spinetv knows; use one of "
                + ", ".join(KNOWN_STRUCTURES),
            )
        return name

    def level(self, field: str) -> str:
        from spinetv.anatomy.levels import parse_level

        raw = self.text(field)
        level = parse_level(raw)
        if level is None or level == "Sacrum":
            raise self.fail(field, f"{raw!r} is not a vertebral level (e.g. L2)")
        return level

    def roi_name(self, field: str) -> str:
        name = self.text(field)
        problems = check_tg263_name(name)
        if problems:
            raise self.fail(field, f"{name!r} is not a TG-263 name: {'; '.join(problems)}")
        return name

    def sub(self, field: str, *, required: bool) -> _Reader | None:
        value = self.table.get(field)
        if value is None and not required:
            return None
        if not isinstance(value, dict):
            raise self.fail(field, f"expected a table, found {value!r}")
        return _Reader(value, self.path, field if not self.section else f"{self.section}.{field}")


def _margin(reader: _Reader) -> MarginSpec:
    table = reader.sub("margin_mm", required=True)
    assert table is not None
    unknown = set(table.table) - set(_DIRECTIONS)
    if unknown:
        raise table.fail(
            ", ".join(sorted(unknown)), f"unknown direction; use {', '.join(_DIRECTIONS)}"
        )
    return MarginSpec(*(table.number(d) for d in _DIRECTIONS))


def _parse(data: Mapping[str, Any], path: str) -> Protocol:
    top = _Reader(data, path, "")
    ptv = top.sub("ptv", required=True)
    ctv = top.sub("ctv", required=True)
    assert ptv is not None and ctv is not None
    ptv_rule = PtvRule(
        _margin(ptv), ptv.names("subtract"), ptv.text("source"), ptv.flag("verified")
    )

    ptv_eval_rule = None
    ptv_eval = top.sub("ptv_eval", required=False)
    if ptv_eval is not None:
        ptv_eval_rule = PtvEvalRule(
            ptv_eval.roi_name("name"),
            ptv_eval.names("spine_subtract"),
            ptv_eval.names("sacrum_subtract"),
            ptv_eval.text("source"),
            ptv_eval.flag("verified"),
        )

    prv_tables = data.get("prv", [])
    if not isinstance(prv_tables, list):
        raise top.fail("prv", "expected an array of tables ([[prv]])")
    prvs = []
    for index, table in enumerate(prv_tables):
        if not isinstance(table, dict):
            raise top.fail(f"prv[{index}]", "expected a table")
        reader = _Reader(table, path, f"prv[{index}]")
        prvs.append(
            PrvRule(
                reader.known("structure", reader.text("structure")),
                reader.number("margin_mm"),
                reader.roi_name("name"),
                reader.text("source"),
                reader.flag("verified"),
            )
        )

    thecal_rule = None
    thecal = top.sub("thecal_sac", required=False)
    if thecal is not None:
        thecal_rule = ThecalSacRule(
            thecal.level("below_level"),
            thecal.number("margin_mm"),
            thecal.roi_name("name"),
            thecal.text("source"),
            thecal.flag("verified"),
        )

    cord_rule = None
    cord = top.sub("cord_evaluation", required=False)
    if cord is not None:
        cord_rule = CordEvaluationRule(
            cord.number("above_mm", maximum=MAX_EXTENT_MM),
            cord.number("below_mm", maximum=MAX_EXTENT_MM),
            cord.roi_name("name"),
            cord.text("source"),
            cord.flag("verified"),
        )

    dose_spec = _dose_spec(data, path)
    rounding = top.text("margin_rounding", "at_least")
    if rounding not in MARGIN_ROUNDINGS:
        raise top.fail(
            "margin_rounding", f"expected one of {', '.join(MARGIN_ROUNDINGS)}, found {rounding!r}"
        )

    return Protocol(
        margin_rounding=rounding,
        id=top.text("id"),
        title=top.text("title"),
        version=str(data.get("version", "1")),
        guideline=top.text("guideline"),
        citation=top.text("citation"),
        ctv_source=ctv.text("source"),
        ptv=ptv_rule,
        ptv_eval=ptv_eval_rule,
        prvs=tuple(prvs),
        thecal_sac=thecal_rule,
        cord_evaluation=cord_rule,
        path=path,
        dose=dose_spec,
    )


def _optional_number(reader: _Reader, field: str) -> float | None:
    if field not in reader.table:
        return None
    value = reader.table[field]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not -1e6 < value < 1e6:
        raise reader.fail(field, f"expected a number, found {value!r}")
    return float(value)


def _dose_spec(data: Mapping[str, Any], path: str) -> DoseSpec | None:
    top = _Reader(data, path, "")
    dose = top.sub("dose", required=False)
    if dose is None:
        return None
    fractions = dose.table.get("fractions")
    if isinstance(fractions, bool) or not isinstance(fractions, int):
        raise dose.fail("fractions", f"expected a whole number, found {fractions!r}")
    tables = dose.table.get("constraint", [])
    if not isinstance(tables, list):
        raise dose.fail("constraint", "expected an array of tables ([[dose.constraint]])")
    constraints = []
    for index, table in enumerate(tables):
        if not isinstance(table, dict):
            raise dose.fail(f"constraint[{index}]", "expected a table")
        reader = _Reader(table, path, f"dose.constraint[{index}]")
        try:
            constraints.append(
                DoseConstraint(
                    structure=reader.text("structure"),
                    metric=reader.text("metric"),
                    minimum=_optional_number(reader, "min"),
                    maximum=_optional_number(reader, "max"),
                    priority=reader.text("priority"),
                    source=reader.text("source"),
                    verified=reader.flag("verified"),
                )
            )
        except (ProtocolError, SpinetvError) as error:
            if isinstance(error, ProtocolError) and str(error).startswith(path):
                raise
            raise reader.fail("metric", str(error)) from None
    try:
        return DoseSpec(
            prescription_gy=_optional_number(dose, "prescription_gy") or 0.0,
            fractions=fractions,
            constraints=tuple(constraints),
            source=dose.text("source"),
            verified=dose.flag("verified"),
        )
    except ProtocolError as error:
        raise dose.fail("prescription_gy", str(error)) from None
