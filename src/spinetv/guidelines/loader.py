"""Guideline files: the vocabulary they are written in, loading and validation.

A guideline is data (a TOML file in ``spinetv/guidelines/data`` or the user's own), never code.
Each row says, in a small declarative vocabulary, which sectors the GTV must involve for the row
to fire and which sectors the CTV then takes, with the citation it was transcribed from and
whether that transcription was checked against the primary source (``verified``).

Vocabulary
----------
Sector symbols (also the integers 1-6). Sacral segments use the same numbers for their own
compartments, so each sacral name is an alias of the sector in the same position:

===================  ===============================  ======
symbol               aliases                          sector
===================  ===============================  ======
``body``             ``vertebral_body``               1
``left_pedicle``     ``left_ala``                     2
``left_tp_lamina``   ``left_lamina``                  3
``spinous``          ``spinous_process``,             4
                     ``median_crest``
``right_tp_lamina``  ``right_lamina``                 5
``right_pedicle``    ``right_ala``                    6
===================  ===============================  ======

Side-relative symbols ``ipsi_pedicle`` / ``ipsi_ala``, ``ipsi_tp_lamina`` / ``ipsi_lamina``,
``contra_pedicle`` / ``contra_ala``, ``contra_tp_lamina`` / ``contra_lamina``: a row that uses
any of them is *sided*, evaluated once for the patient's left and once for the right, with
``ipsi`` resolved to that side. In ``add`` two more symbols exist: ``involved`` (every involved
sector of the level) and ``all`` (sectors 1-6).

Row condition keys (all given keys must hold; at least one is required):
``involved_all`` (every listed sector involved), ``involved_any`` (at least one),
``involved_none`` (none), ``body`` (the body is involved and its class is one of ``focal``,
``lateralized``, ``diffuse``, ``any``; in a sided row ``lateralized`` means lateralized to the
ipsilateral side).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

from spinetv.errors import GuidelineError
from spinetv.vocabulary import names_a_file, sector_names

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "BODY_CLASSES",
    "Citation",
    "CircumferentialRule",
    "Condition",
    "CraniocaudalRule",
    "Guideline",
    "PARAMETER_DEFAULTS",
    "REGIONS",
    "Row",
    "SACRAL_SECTOR_NAMES",
    "SECTOR_NAMES",
    "SCHEMA_VERSION",
    "list_guidelines",
    "load_guideline",
    "resolve_parameters",
    "resolve_symbol",
]

SCHEMA_VERSION = 1

#: Regions a guideline may apply to; a level's letter gives its region.
REGIONS: tuple[str, ...] = ("cervical", "thoracic", "lumbar", "sacral")

#: Body involvement classes (see :mod:`spinetv.guidelines.involvement`).
BODY_CLASSES: tuple[str, ...] = ("focal", "lateralized", "diffuse")

SECTOR_NAMES: Mapping[int, str] = sector_names()
SACRAL_SECTOR_NAMES: Mapping[int, str] = sector_names(sacral=True)

_FIXED_SYMBOLS: Mapping[str, int] = MappingProxyType({
    "body": 1, "vertebral_body": 1,
    "left_pedicle": 2, "left_ala": 2,
    "left_tp_lamina": 3, "left_lamina": 3,
    "spinous": 4, "spinous_process": 4, "median_crest": 4,
    "right_tp_lamina": 5, "right_lamina": 5,
    "right_pedicle": 6, "right_ala": 6,
})
# (part, relation): the sector of a pedicle/ala or TP+lamina on the ipsi- or contralateral side.
_SIDED_SYMBOLS: Mapping[str, tuple[str, str]] = MappingProxyType({
    "ipsi_pedicle": ("pedicle", "ipsi"), "ipsi_ala": ("pedicle", "ipsi"),
    "contra_pedicle": ("pedicle", "contra"), "contra_ala": ("pedicle", "contra"),
    "ipsi_tp_lamina": ("lamina", "ipsi"), "ipsi_lamina": ("lamina", "ipsi"),
    "contra_tp_lamina": ("lamina", "contra"), "contra_lamina": ("lamina", "contra"),
})
_PART_SECTOR = {("pedicle", "left"): 2, ("pedicle", "right"): 6,
                ("lamina", "left"): 3, ("lamina", "right"): 5}
_ADD_ONLY_SYMBOLS = ("involved", "all")
_CONDITION_KEYS = ("involved_all", "involved_any", "involved_none", "body")


@dataclass(frozen=True)
class _ParameterSpec:
    kind: type
    default: float | bool
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False


_PARAMETER_SPECS: Mapping[str, _ParameterSpec] = MappingProxyType({
    # GTV-sector overlap (cc) from which a sector counts as involved [lib].
    "min_overlap_cc": _ParameterSpec(float, 0.02, 0.0),
    # Penetration (mm) of the GTV into a sector beyond the GTV outside it, from which the sector
    # counts as involved [lib]: keeps a contour's edge grazing a sector from deciding it, so
    # the decision does not follow the CT's voxel size (spinetv.guidelines.involvement).
    "min_penetration_mm": _ParameterSpec(float, 3.0, 0.0, 10.0),
    # A GTV that involves no sector at any level (purely epidural or paraspinal) is handled as
    # involving the sectors whose bone lies within this gap (mm, voxel to voxel) of it [lib].
    "abutting_mm": _ParameterSpec(float, 2.0, 0.0, 10.0),
    # Slack (mm) across the body's mid-sagittal plane for a lateralized body lesion [lib].
    "midline_tolerance_mm": _ParameterSpec(float, 2.0, 0.0),
    # Fraction of the body the GTV must fill to count as diffuse [lib].
    "diffuse_fraction": _ParameterSpec(float, 0.5, 0.0, 1.0, exclusive_minimum=True),
    # Soft-tissue margin (mm) around the GTV, kept out of the canal; 0 = none (Cox 2012).
    "soft_tissue_margin_mm": _ParameterSpec(float, 0.0, 0.0),
    # ISRC row f: add the body to a pedicle-only lesion ("+/- 1" in Cox Table 2).
    "pedicle_includes_body": _ParameterSpec(bool, False),
    # Audit: an involved or adjacent sector counts as uncovered when more than this many cc
    # AND more than this fraction of it lie outside the clinician's CTV [lib].
    "uncovered_tolerance_cc": _ParameterSpec(float, 0.1, 0.0),
    "uncovered_tolerance_fraction": _ParameterSpec(float, 0.05, 0.0, 1.0),
    # Audit: a sector is "substantially covered" for the ring check from this fraction [lib].
    "ring_coverage_fraction": _ParameterSpec(float, 0.8, 0.0, 1.0, exclusive_minimum=True),
})

#: Library defaults of every guideline parameter (a guideline file may override them).
PARAMETER_DEFAULTS: Mapping[str, float | bool] = MappingProxyType(
    {name: spec.default for name, spec in _PARAMETER_SPECS.items()}
)


# ---- values ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Citation:
    """A source a guideline row was transcribed from.

    Parameters
    ----------
    key : str
        Short key the rows refer to (``cox2012``).
    text : str
        Full reference.
    doi : str
        DOI without the ``https://doi.org/`` prefix ("" when unknown).
    """

    key: str
    text: str
    doi: str = ""


@dataclass(frozen=True)
class Condition:
    """When a row fires: sector symbols that must all / any / none be involved, body classes."""

    involved_all: tuple[str | int, ...] = ()
    involved_any: tuple[str | int, ...] = ()
    involved_none: tuple[str | int, ...] = ()
    body: tuple[str, ...] = ()

    def describe(self) -> str:
        """A short human-readable form of the condition.

        Returns
        -------
        str
            The non-empty clauses as ``key=value,value`` joined by ``"; "``
            (``"involved_all=body; body=diffuse"``); "" for a condition that always holds.
        """
        parts = []
        for key in _CONDITION_KEYS:
            values = getattr(self, key)
            if values:
                parts.append(f"{key}={','.join(str(v) for v in values)}")
        return "; ".join(parts)


@dataclass(frozen=True)
class Row:
    """One rule of a guideline table.

    Parameters
    ----------
    id : str
        Row id as in the source table (``a`` ... ``h``).
    title : str
        What the GTV involves, in the source's words.
    condition : Condition
        When the row fires.
    add : tuple
        Sector symbols the CTV takes when the row fires.
    add_if : tuple of (str, tuple)
        Extra sectors added when a boolean parameter is true (``pedicle_includes_body``).
    citation : str
        Key of the :class:`Citation` the row comes from.
    locator : str
        Where in the source (table, row, figure).
    verified : bool
        False when transcribed from a secondary source and not yet checked against the paper.
    note : str
        Anything a reviewer should know (library choices, extrapolations).
    """

    id: str
    title: str
    condition: Condition
    add: tuple[str | int, ...]
    add_if: tuple[tuple[str, tuple[str | int, ...]], ...]
    citation: str
    locator: str
    verified: bool
    note: str = ""

    @property
    def sided(self) -> bool:
        """True when the row uses ipsi-/contralateral symbols and is evaluated per side."""
        symbols = [*self.condition.involved_all, *self.condition.involved_any,
                   *self.condition.involved_none, *self.add]
        for _, extra in self.add_if:
            symbols.extend(extra)
        return any(isinstance(s, str) and s in _SIDED_SYMBOLS for s in symbols)


@dataclass(frozen=True)
class CircumferentialRule:
    """When the CTV becomes the full ring (sectors 1-6).

    Parameters
    ----------
    criteria : tuple of tuple
        Groups of sector symbols; the ring is indicated when every group has an involved sector.
    user_epidural : bool
        Whether the user's statement of circumferential epidural disease also gives the ring.
    citation, locator, verified, note
        As for :class:`Row`.
    """

    criteria: tuple[tuple[str | int, ...], ...]
    user_epidural: bool
    citation: str
    locator: str
    verified: bool
    note: str = ""


@dataclass(frozen=True)
class CraniocaudalRule:
    """Copies the sectors of some rows to neighbouring levels.

    ``mode = "involved_body_span"``: the sectors a listed row adds at one level are also added,
    on the same side, at every level from the most cranial to the most caudal level whose body
    is involved (the sacral consensus: where the ala is involved the CTV spans the involved body
    levels).
    """

    mode: str
    rows: tuple[str, ...]
    citation: str
    locator: str
    verified: bool
    note: str = ""


@dataclass(frozen=True)
class Guideline:
    """A loaded, validated guideline (immutable).

    Parameters
    ----------
    id, title, version : str
        Identity; ``version`` is the guideline file's own version.
    description : str
        Free text.
    gtv_meaning : str
        What the "GTV" input stands for (the preoperative extent for postoperative rules).
    applies_to : tuple of str
        Regions (cervical, thoracic, lumbar, sacral) the rows are written for.
    citations : tuple of Citation
    parameters : Mapping
        Parameter defaults of this guideline (library defaults filled in).
    rows : tuple of Row
    circumferential : CircumferentialRule or None
    craniocaudal : CraniocaudalRule or None
    source : str
        The file the guideline was read from.
    """

    id: str
    title: str
    version: str
    description: str
    gtv_meaning: str
    applies_to: tuple[str, ...]
    citations: tuple[Citation, ...]
    parameters: Mapping[str, float | bool]
    rows: tuple[Row, ...]
    circumferential: CircumferentialRule | None
    craniocaudal: CraniocaudalRule | None
    source: str

    def citation(self, key: str) -> Citation:
        """The citation with ``key``.

        Parameters
        ----------
        key : str
            The citation's short key (``cox2012``).

        Returns
        -------
        Citation
            The matching citation.

        Raises
        ------
        GuidelineError
            When the guideline has no citation with that key.
        """
        for citation in self.citations:
            if citation.key == key:
                return citation
        raise GuidelineError(f"guideline {self.id!r} has no citation {key!r}")

    def row(self, row_id: str) -> Row:
        """The row with ``row_id``.

        Parameters
        ----------
        row_id : str
            Row id as in the source table (``a`` ... ``h``).

        Returns
        -------
        Row
            The matching row.

        Raises
        ------
        GuidelineError
            When the guideline has no row with that id.
        """
        for row in self.rows:
            if row.id == row_id:
                return row
        raise GuidelineError(f"guideline {self.id!r} has no row {row_id!r}")

    @property
    def label(self) -> str:
        """``id@version``."""
        return f"{self.id}@{self.version}"


# ---- vocabulary -----------------------------------------------------------------------------
@lru_cache(maxsize=256)
def resolve_symbol(symbol: str | int, side: str | None) -> frozenset[int]:
    """The sectors a symbol of the vocabulary stands for.

    Every symbol of a guideline file is checked when the file is loaded; each (symbol, side)
    pair is then resolved once and remembered, not on every rule evaluation.

    Parameters
    ----------
    symbol : str or int
        A sector number 1-6 or a symbol (see the module docstring). ``involved`` is not resolved
        here (the engine knows the involved sectors).
    side : {"left", "right", None}
        The patient side ``ipsi`` refers to, for sided rows.
    """
    if not isinstance(symbol, str):
        if isinstance(symbol, int) and not isinstance(symbol, bool) and 1 <= symbol <= 6:
            return frozenset((symbol,))
        raise GuidelineError(f"sector number {symbol!r} is not 1-6")
    if symbol in _FIXED_SYMBOLS:
        return frozenset((_FIXED_SYMBOLS[symbol],))
    if symbol == "all":
        return frozenset(range(1, 7))
    if symbol in _SIDED_SYMBOLS:
        if side not in ("left", "right"):
            raise GuidelineError(f"symbol {symbol!r} needs a side, got {side!r}")
        part, relation = _SIDED_SYMBOLS[symbol]
        actual = side if relation == "ipsi" else ("right" if side == "left" else "left")
        return frozenset((_PART_SECTOR[(part, actual)],))
    raise GuidelineError(f"unknown sector symbol {symbol!r}")


def _known_symbols(allow_add_only: bool) -> tuple[str, ...]:
    names = [*_FIXED_SYMBOLS, *_SIDED_SYMBOLS]
    if allow_add_only:
        names.extend(_ADD_ONLY_SYMBOLS)
    return tuple(names)


# ---- parameters -----------------------------------------------------------------------------
def _check_parameter(name: str, value: Any, where: str) -> float | bool:
    spec = _PARAMETER_SPECS.get(name)
    if spec is None:
        known = ", ".join(_PARAMETER_SPECS)
        raise GuidelineError(f"{where}: unknown parameter {name!r}; known parameters: {known}")
    if spec.kind is bool:
        if not isinstance(value, bool):
            raise GuidelineError(
                f"{where}: parameter {name!r} must be true or false, got {value!r}"
            )
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GuidelineError(f"{where}: parameter {name!r} must be a number, got {value!r}")
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise GuidelineError(f"{where}: parameter {name!r} must be finite, got {value!r}")
    low, high = spec.minimum, spec.maximum
    if low is not None and (number < low or (spec.exclusive_minimum and number == low)):
        bound = ">" if spec.exclusive_minimum else ">="
        raise GuidelineError(f"{where}: parameter {name!r} must be {bound} {low:g}, got {number:g}")
    if high is not None and number > high:
        raise GuidelineError(f"{where}: parameter {name!r} must be <= {high:g}, got {number:g}")
    return number


def resolve_parameters(
    guideline: Guideline, overrides: Mapping[str, Any] | None = None
) -> dict[str, float | bool]:
    """The guideline's parameters with the caller's overrides applied and checked.

    Parameters
    ----------
    guideline : Guideline
        The guideline whose defaults are the starting point.
    overrides : mapping, optional
        Parameter name to value, in each parameter's own unit (``min_overlap_cc`` in cm³,
        ``*_mm`` in mm, fractions 0-1, flags bool); None or empty keeps the defaults.

    Returns
    -------
    dict of str to float or bool
        Every parameter of the guideline, overrides applied (numbers as float).

    Raises
    ------
    GuidelineError
        When an override names an unknown parameter, has the wrong type (a number for a flag,
        a flag for a number), is not finite or is out of range.
    """
    merged = dict(guideline.parameters)
    for name, value in (overrides or {}).items():
        merged[name] = _check_parameter(str(name), value, "parameters argument")
    return merged


# ---- parsing --------------------------------------------------------------------------------
class _Reader:
    """Reads fields of one table, naming file, place and field in every error."""

    def __init__(self, source: str, where: str, table: Any) -> None:
        self.source = source
        self.where = where
        if not isinstance(table, dict):
            self.fail("", f"expected a table, found {type(table).__name__}")
        self.table: dict[str, Any] = table

    def fail(self, field: str, message: str) -> NoReturn:
        place = f"{self.where}, field {field!r}" if field else self.where
        raise GuidelineError(f"guideline file {self.source}: {place}: {message}")

    def check_keys(self, allowed: Sequence[str]) -> None:
        for key in self.table:
            if key not in allowed:
                self.fail(key, f"unknown field; allowed fields: {', '.join(allowed)}")

    def string(self, field: str, *, required: bool = True, default: str = "") -> str:
        if field not in self.table:
            if required:
                self.fail(field, "missing")
            return default
        value = self.table[field]
        if not isinstance(value, str) or (required and not value.strip()):
            self.fail(field, f"expected a non-empty string, found {value!r}")
        return str(value)

    def boolean(self, field: str) -> bool:
        if field not in self.table:
            self.fail(field, "missing (true or false)")
        value = self.table[field]
        if not isinstance(value, bool):
            self.fail(field, f"expected true or false, found {value!r}")
        return bool(value)

    def string_list(
        self, field: str, allowed: Sequence[str], *, required: bool = True
    ) -> tuple[str, ...]:
        if field not in self.table:
            if required:
                self.fail(field, "missing")
            return ()
        value = self.table[field]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            self.fail(field, f"expected a non-empty list of strings, found {value!r}")
        for item in value:
            if item not in allowed:
                self.fail(field, f"unknown value {item!r}; allowed: {', '.join(allowed)}")
        return tuple(value)

    def symbols(self, field: str, value: Any, *, allow_add_only: bool) -> tuple[str | int, ...]:
        if not isinstance(value, list) or not value:
            self.fail(field, f"expected a non-empty list of sector symbols, found {value!r}")
        known = _known_symbols(allow_add_only)
        out: list[str | int] = []
        for item in value:
            if isinstance(item, bool) or not isinstance(item, (str, int)):
                self.fail(field, f"expected a sector symbol or number, found {item!r}")
            if isinstance(item, int):
                if not 1 <= item <= 6:
                    self.fail(field, f"sector number {item} is not 1-6")
            elif item not in known:
                self.fail(field, f"unknown sector symbol {item!r}; known: {', '.join(known)}")
            out.append(item)
        return tuple(out)


_TOP_KEYS = ("schema", "id", "title", "version", "description", "gtv_meaning", "applies_to",
             "citations", "parameters", "circumferential", "craniocaudal", "rows")
_ROW_KEYS = ("id", "title", "condition", "add", "add_if", "citation", "locator", "verified", "note")
_SOURCE_KEYS = ("citation", "locator", "verified", "note")


def _parse_citations(source: str, raw: Any) -> tuple[Citation, ...]:
    if not isinstance(raw, list) or not raw:
        raise GuidelineError(f"guideline file {source}: field 'citations' must be a non-empty "
                             f"array of tables ([[citations]]), found {raw!r}")
    out = []
    for index, item in enumerate(raw):
        reader = _Reader(source, f"citation #{index + 1}", item)
        reader.check_keys(("key", "text", "doi"))
        out.append(Citation(reader.string("key"), reader.string("text"),
                            reader.string("doi", required=False)))
    keys = [c.key for c in out]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise GuidelineError(f"guideline file {source}: duplicate citation keys {duplicates}")
    return tuple(out)


def _parse_condition(reader: _Reader, raw: Any) -> Condition:
    cond = _Reader(reader.source, f"{reader.where}, condition", raw)
    cond.check_keys(_CONDITION_KEYS)
    if not cond.table:
        reader.fail("condition", "empty; give at least one of " + ", ".join(_CONDITION_KEYS))
    values: dict[str, Any] = {}
    for key in ("involved_all", "involved_any", "involved_none"):
        if key in cond.table:
            values[key] = cond.symbols(key, cond.table[key], allow_add_only=False)
    if "body" in cond.table:
        body = cond.table["body"]
        if isinstance(body, str):
            body = [body]
        values["body"] = _Reader(cond.source, cond.where, {"body": body}).string_list(
            "body", (*BODY_CLASSES, "any"))
    return Condition(**values)


def _parse_row(source: str, index: int, raw: Any, citation_keys: set[str]) -> Row:
    label = raw.get("id") if isinstance(raw, dict) else None
    where = f"row {label!r} (#{index + 1})" if isinstance(label, str) else f"row #{index + 1}"
    reader = _Reader(source, where, raw)
    reader.check_keys(_ROW_KEYS)
    row_id = reader.string("id")
    if not row_id.replace("_", "").isalnum():
        reader.fail("id", f"expected letters, digits and '_', found {row_id!r}")
    if "condition" not in reader.table:
        reader.fail("condition", "missing")
    condition = _parse_condition(reader, reader.table["condition"])
    if "add" not in reader.table:
        reader.fail("add", "missing")
    add = reader.symbols("add", reader.table["add"], allow_add_only=True)
    add_if: list[tuple[str, tuple[str | int, ...]]] = []
    if "add_if" in reader.table:
        extra = _Reader(source, f"{where}, add_if", reader.table["add_if"])
        for name, symbols in extra.table.items():
            spec = _PARAMETER_SPECS.get(name)
            if spec is None or spec.kind is not bool:
                booleans = [n for n, s in _PARAMETER_SPECS.items() if s.kind is bool]
                extra.fail(name, f"not a true/false parameter; known: {', '.join(booleans)}")
            add_if.append((name, extra.symbols(name, symbols, allow_add_only=True)))
    citation = reader.string("citation")
    if citation not in citation_keys:
        reader.fail("citation", f"unknown citation key {citation!r}; "
                    f"known: {', '.join(sorted(citation_keys))}")
    return Row(
        id=row_id, title=reader.string("title"), condition=condition, add=add,
        add_if=tuple(add_if), citation=citation, locator=reader.string("locator"),
        verified=reader.boolean("verified"), note=reader.string("note", required=False),
    )


def _parse_source_fields(reader: _Reader, citation_keys: set[str]) -> dict[str, Any]:
    citation = reader.string("citation")
    if citation not in citation_keys:
        reader.fail("citation", f"unknown citation key {citation!r}")
    return {"citation": citation, "locator": reader.string("locator"),
            "verified": reader.boolean("verified"), "note": reader.string("note", required=False)}


def _parse_guideline(source: str, data: dict[str, Any]) -> Guideline:
    top = _Reader(source, "top level", data)
    top.check_keys(_TOP_KEYS)
    schema = data.get("schema", SCHEMA_VERSION)
    if schema != SCHEMA_VERSION:
        top.fail("schema", f"expected {SCHEMA_VERSION}, found {schema!r}")
    guideline_id = top.string("id")
    version = data.get("version")
    if isinstance(version, (int, float)) and not isinstance(version, bool):
        version = str(version)
    top.table = {**data, "version": version}
    version_text = top.string("version")
    citations = _parse_citations(source, data.get("citations"))
    keys = {c.key for c in citations}

    parameters = dict(PARAMETER_DEFAULTS)
    if "parameters" in data:
        params = _Reader(source, "parameters", data["parameters"])
        for name, value in params.table.items():
            parameters[name] = _check_parameter(name, value, f"guideline file {source}: parameters")

    circumferential = None
    if "circumferential" in data:
        circ = _Reader(source, "circumferential", data["circumferential"])
        circ.check_keys(("criteria", "user_epidural", *_SOURCE_KEYS))
        groups = circ.table.get("criteria")
        if not isinstance(groups, list) or not groups:
            circ.fail("criteria", f"expected a non-empty list of symbol lists, found {groups!r}")
        criteria = tuple(circ.symbols("criteria", g, allow_add_only=False) for g in groups)
        for group in criteria:
            if any(isinstance(s, str) and s in _SIDED_SYMBOLS for s in group):
                circ.fail("criteria", "side-relative symbols (ipsi_/contra_) are not allowed here")
        circumferential = CircumferentialRule(
            criteria=criteria, user_epidural=circ.boolean("user_epidural"),
            **_parse_source_fields(circ, keys))

    raw_rows = data.get("rows")
    if not isinstance(raw_rows, list) or not raw_rows:
        top.fail("rows", f"expected a non-empty array of tables ([[rows]]), found {raw_rows!r}")
    rows = tuple(_parse_row(source, i, raw, keys) for i, raw in enumerate(raw_rows))
    ids = [r.id for r in rows]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        top.fail("rows", f"duplicate row ids {duplicates}")

    craniocaudal = None
    if "craniocaudal" in data:
        cc = _Reader(source, "craniocaudal", data["craniocaudal"])
        cc.check_keys(("mode", "rows", *_SOURCE_KEYS))
        mode = cc.string("mode")
        if mode != "involved_body_span":
            cc.fail("mode", f"expected 'involved_body_span', found {mode!r}")
        cc_rows = cc.string_list("rows", ids)
        craniocaudal = CraniocaudalRule(mode=mode, rows=cc_rows, **_parse_source_fields(cc, keys))

    return Guideline(
        id=guideline_id, title=top.string("title"), version=version_text,
        description=top.string("description", required=False),
        gtv_meaning=top.string("gtv_meaning", required=False,
                               default="the gross tumour volume (bony, epidural and paraspinal)"),
        applies_to=top.string_list("applies_to", REGIONS),
        citations=citations, parameters=MappingProxyType(parameters), rows=rows,
        circumferential=circumferential, craniocaudal=craniocaudal, source=source,
    )


def _read_file(path: Path) -> Guideline:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise GuidelineError(f"guideline file {path}: cannot be read ({exc.strerror})") from None
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise GuidelineError(f"guideline file {path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise GuidelineError(f"guideline file {path}: not valid TOML ({exc})") from None
    return _parse_guideline(str(path), data)


def _data_dir() -> Path:
    return Path(str(resources.files("spinetv.guidelines") / "data"))


def list_guidelines() -> tuple[str, ...]:
    """The ids of the guidelines shipped with spinetv, sorted.

    Returns
    -------
    tuple of str
        The shipped ids (file stems), as :func:`load_guideline` accepts them.
    """
    return tuple(sorted(p.stem for p in _data_dir().glob("*.toml")))


@lru_cache(maxsize=32)
def _load_shipped(name: str) -> Guideline:
    return _read_file(_data_dir() / f"{name}.toml")


def load_guideline(name_or_path: str | os.PathLike[str] | Guideline) -> Guideline:
    """Load a guideline by shipped id (``"isrc-2012"``) or from a TOML file.

    Parameters
    ----------
    name_or_path : str, path or Guideline
        A shipped id (see :func:`list_guidelines`), a path to a ``.toml`` file, or an already
        loaded guideline (returned as is).

    Returns
    -------
    Guideline
        The validated guideline (a shipped one is read once and shared).

    Raises
    ------
    GuidelineError
        Unknown id, unreadable file, or a malformed file (the message names the file, the row
        id or index and the field).
    """
    if isinstance(name_or_path, Guideline):
        return name_or_path
    text = os.fspath(name_or_path)
    looks_like_path = names_a_file(name_or_path)
    if looks_like_path:
        path = Path(text)
        if not path.is_file():
            raise GuidelineError(f"guideline file {path}: no such file")
        return _read_file(path)
    if text not in list_guidelines():
        raise GuidelineError(
            f"unknown guideline {text!r}; shipped guidelines: {', '.join(list_guidelines())} "
            "(or give a path to a .toml file)"
        )
    return _load_shipped(text)
