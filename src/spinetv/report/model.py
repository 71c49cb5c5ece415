"""The plan report as a typed, frozen value, with its JSON form and versioned schema.

:class:`PlanReport` is what :func:`spinetv.pipeline.plan` returns in ``PlanResult.report`` and
what :func:`spinetv.outputs.plan_and_write` completes with the inputs and output paths. Code
reads its attributes (``report.involved_levels``, ``report.structures["PTV"].volume_cc``);
:meth:`PlanReport.to_json_dict` gives the JSON document spinetv writes, whose layout is
described by the JSON Schema shipped beside this module (``plan_report.schema.json``,
:data:`SCHEMA_ID`, :data:`SCHEMA_VERSION`), and :meth:`PlanReport.from_json_dict` reads one back.

The value is also a read-only mapping over that JSON document (``report["involved_levels"]``),
for scripts written against the dictionary reports of earlier versions; each lookup returns a
copy, so the value cannot be changed through it.

Sections whose content is a record of rules and options rather than something code branches on
(``protocol``, ``guideline``, ``options``, ``anatomy``, ``ctv`` and each structure's details)
are kept as read-only JSON mappings.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from spinetv.errors import SpinetvError
from spinetv.frozen import FrozenMap, frozen_json

__all__ = [
    "SCHEMA_ID",
    "SCHEMA_VERSION",
    "LevelEntry",
    "PlanReport",
    "ReportInputs",
    "StructureEntry",
    "plain_json",
    "schema",
]

#: Identifier of the report's JSON Schema (``$id``).
SCHEMA_ID = "urn:spinetv:schema:plan-report"
#: Version of the report layout; written as ``schema_version``. Raised when a key changes
#: meaning or goes; adding a key keeps it.
SCHEMA_VERSION = 1


def plain_json(value: Any) -> Any:
    """Numpy values, dataclasses, enums, paths, tuples and read-only mappings as plain JSON.

    Parameters
    ----------
    value : any
        A value of a report.

    Returns
    -------
    any
        Dicts with string keys, lists, str, int, float (finite; non-finite become None), bool
        or None.
    """
    if hasattr(value, "to_json_dict"):
        return plain_json(value.to_json_dict())
    if isinstance(value, Enum):
        return value.value
    if hasattr(value, "__dataclass_fields__") and not isinstance(value, type):
        return {f.name: plain_json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [plain_json(v) for v in items]
    if isinstance(value, np.ndarray):
        return plain_json(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (np.floating, float)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, (os.PathLike, Path)):
        return os.fspath(value)
    return value


def _frozen(value: Any) -> Mapping[str, Any]:
    """A read-only JSON mapping (nested dicts read-only too, lists as tuples)."""
    plain = plain_json(value)
    frozen: Mapping[str, Any] = _freeze(plain if isinstance(plain, dict) else {})
    return frozen


def _freeze(value: Any) -> Any:
    return frozen_json(value)


@dataclass(frozen=True)
class StructureEntry:
    """One written structure in the report.

    Parameters
    ----------
    name : str
        ROI name.
    volume_cc : float
        Volume, cm³, on the grid the structure was made on.
    made_by : tuple of str
        The steps that made it, in order (each with its source).
    clipped_at_image_edge : tuple of str
        Patient sides where a margin met the image's edge.
    details : mapping
        Margins asked and reached, rounding, sources... (read-only JSON).
    """

    name: str
    volume_cc: float
    made_by: tuple[str, ...] = ()
    clipped_at_image_edge: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=lambda: FrozenMap({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "made_by", tuple(self.made_by))
        object.__setattr__(self, "clipped_at_image_edge", tuple(self.clipped_at_image_edge))
        object.__setattr__(self, "details", _frozen(self.details))

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON entry (without the name, which is its key).

        Returns
        -------
        dict of str to Any
            ``volume_cc`` (cm³), ``made_by``, ``clipped_at_image_edge`` and the ``details``
            keys at the same level.
        """
        return {
            "volume_cc": self.volume_cc,
            "made_by": list(self.made_by),
            "clipped_at_image_edge": list(self.clipped_at_image_edge),
            **plain_json(self.details),
        }

    @classmethod
    def from_json_dict(cls, name: str, entry: Mapping[str, Any]) -> StructureEntry:
        """Read a JSON entry back."""
        known = ("volume_cc", "made_by", "clipped_at_image_edge")
        return cls(
            name=name,
            volume_cc=float(entry["volume_cc"]),
            made_by=tuple(entry.get("made_by", ())),
            clipped_at_image_edge=tuple(entry.get("clipped_at_image_edge", ())),
            details={k: v for k, v in entry.items() if k not in known},
        )


@dataclass(frozen=True)
class LevelEntry:
    """One labelled level: its sectors, the involvement found and the CTV's sectors.

    Parameters
    ----------
    level : str
        Canonical level ("L2", "S1").
    canal : str
        How the canal was found (for example "ring closure", "given").
    sector_volumes_cc : mapping of int to float
        Volume of each sector 1-6, cm³.
    involved_sectors : tuple of int
        Sectors the GTV involves.
    abutted_sectors : tuple of int
        Sectors the GTV abuts from outside the bone.
    ctv_sectors : tuple of int
        Sectors the CTV takes.
    rows : tuple of str
        Ids of the guideline rows that fired.
    involvement_decisions : mapping of int to mapping
        Per sector, the measured overlap and penetration beside the thresholds (read-only).
    """

    level: str
    canal: str
    sector_volumes_cc: Mapping[int, float]
    involved_sectors: tuple[int, ...] = ()
    abutted_sectors: tuple[int, ...] = ()
    ctv_sectors: tuple[int, ...] = ()
    rows: tuple[str, ...] = ()
    involvement_decisions: Mapping[int, Mapping[str, Any]] = field(
        default_factory=lambda: FrozenMap({})
    )

    def __post_init__(self) -> None:
        set_field = object.__setattr__
        volumes = {int(k): float(v) for k, v in self.sector_volumes_cc.items()}
        set_field(self, "sector_volumes_cc", FrozenMap(volumes))
        for name in ("involved_sectors", "abutted_sectors", "ctv_sectors"):
            set_field(self, name, tuple(int(k) for k in getattr(self, name)))
        set_field(self, "rows", tuple(str(r) for r in self.rows))
        decisions = {int(k): _frozen(v) for k, v in self.involvement_decisions.items()}
        set_field(self, "involvement_decisions", FrozenMap(decisions))

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON entry.

        Returns
        -------
        dict of str to Any
            ``level``, ``sector_volumes_cc`` (cm³, keyed by the sector number as a string),
            ``canal``, ``involved_sectors``, ``involvement_decisions`` (keyed likewise),
            ``abutted_sectors``, ``ctv_sectors`` and ``rows``; plain dicts and lists.
        """
        return {
            "level": self.level,
            "sector_volumes_cc": {str(k): v for k, v in self.sector_volumes_cc.items()},
            "canal": self.canal,
            "involved_sectors": list(self.involved_sectors),
            "involvement_decisions": {
                str(k): plain_json(v) for k, v in self.involvement_decisions.items()
            },
            "abutted_sectors": list(self.abutted_sectors),
            "ctv_sectors": list(self.ctv_sectors),
            "rows": list(self.rows),
        }

    @classmethod
    def from_json_dict(cls, entry: Mapping[str, Any]) -> LevelEntry:
        """Read a JSON entry back."""
        return cls(
            level=str(entry["level"]),
            canal=str(entry.get("canal", "")),
            sector_volumes_cc=dict(entry.get("sector_volumes_cc", {})),
            involved_sectors=tuple(entry.get("involved_sectors", ())),
            abutted_sectors=tuple(entry.get("abutted_sectors", ())),
            ctv_sectors=tuple(entry.get("ctv_sectors", ())),
            rows=tuple(entry.get("rows", ())),
            involvement_decisions=dict(entry.get("involvement_decisions", {})),
        )


@dataclass(frozen=True)
class ReportInputs:
    """What a planned case was read from.

    Parameters
    ----------
    image : str or None
        The image's folder or file.
    rtstruct : str or None
        The input RTSTRUCT.
    sources : mapping of str to str
        Where each input structure came from (ROI name or file).
    read_warnings : tuple of str
        What was tolerated while reading.
    notes : tuple of str
        Choices made between sources.
    """

    image: str | None = None
    rtstruct: str | None = None
    sources: Mapping[str, str] = field(default_factory=lambda: FrozenMap({}))
    read_warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", FrozenMap(dict(self.sources)))
        object.__setattr__(self, "read_warnings", tuple(self.read_warnings))
        object.__setattr__(self, "notes", tuple(self.notes))

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON section.

        Returns
        -------
        dict of str to Any
            ``image``, ``rtstruct``, ``sources``, ``read_warnings`` and ``notes``, as plain
            values.
        """
        return {
            "image": self.image,
            "rtstruct": self.rtstruct,
            "sources": dict(self.sources),
            "read_warnings": list(self.read_warnings),
            "notes": list(self.notes),
        }


# Keys of the JSON document in the order written; the first block comes from the outputs.
_OUTPUT_KEYS = ("inputs", "output", "output_format", "figures", "name_suffix")
_PLAN_KEYS = (
    "protocol",
    "guideline",
    "options",
    "gtv_volume_cc",
    "candidate_levels",
    "involved_levels",
    "levels",
    "anatomy",
    "ctv",
    "structures",
    "notes",
)


@dataclass(frozen=True)
class PlanReport(Mapping[str, Any]):
    """Every decision of one planned protocol: a frozen value and a read-only JSON mapping.

    Parameters
    ----------
    spinetv_version : str
        The version that made it.
    protocol : mapping
        The protocol preset as applied (id, version, margins, subtractions, sources).
    guideline : mapping
        The CTV guideline's id and version, and every guideline used.
    options : mapping
        Every option of the run, defaults included.
    gtv_volume_cc : float
        GTV volume, cm³.
    candidate_levels : tuple of str
        Levels near the GTV that were labelled.
    involved_levels : tuple of str
        Levels whose sectors the CTV takes.
    levels : tuple of LevelEntry
        Per labelled level, in cranio-caudal order.
    anatomy : mapping
        Per level, the frame, canal and quality checks; flags; levels left out.
    ctv : mapping
        The guideline engine's explanation.
    structures : mapping of str to StructureEntry
        Every planning structure written, by name.
    notes : tuple of str
        Warnings and notes a reviewer must read.
    inputs : ReportInputs, optional
        What the case was read from (set by :func:`spinetv.outputs.plan_and_write`).
    output : str, optional
        The RTSTRUCT or mask folder written.
    output_format : str, optional
        ``"rtstruct"`` or ``"nifti"``.
    figures : tuple of str
        QA figures written.
    name_suffix : str
        Appended to every new ROI name.
    seconds : float, optional
        Wall time of planning and writing, s.
    """

    spinetv_version: str
    protocol: Mapping[str, Any]
    guideline: Mapping[str, Any]
    options: Mapping[str, Any]
    gtv_volume_cc: float
    candidate_levels: tuple[str, ...]
    involved_levels: tuple[str, ...]
    levels: tuple[LevelEntry, ...]
    anatomy: Mapping[str, Any]
    ctv: Mapping[str, Any]
    structures: Mapping[str, StructureEntry]
    notes: tuple[str, ...] = ()
    inputs: ReportInputs | None = None
    output: str | None = None
    output_format: str | None = None
    figures: tuple[str, ...] = ()
    name_suffix: str = ""
    seconds: float | None = None
    _document: dict[str, Any] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        set_field = object.__setattr__
        for name in ("protocol", "guideline", "options", "anatomy", "ctv"):
            set_field(self, name, _frozen(getattr(self, name)))
        for name in ("candidate_levels", "involved_levels", "notes", "figures"):
            set_field(self, name, tuple(str(v) for v in getattr(self, name)))
        set_field(self, "levels", tuple(self.levels))
        set_field(self, "structures", FrozenMap(dict(self.structures)))
        if self.output_format not in (None, "rtstruct", "nifti"):
            raise SpinetvError(
                f"output_format {self.output_format!r}: expected rtstruct or nifti"
            )

    # ---- JSON ---------------------------------------------------------------------------------
    def to_json_dict(self) -> dict[str, Any]:
        """The JSON document (plain dicts and lists; a new copy each call).

        Returns
        -------
        dict of str to Any
            ``schema``, ``schema_version``, ``spinetv_version``; the outputs (``inputs``,
            ``output``, ``output_format``, ``figures``, ``name_suffix``) once
            :meth:`with_outputs` set them; every plan key (volumes in cm³); ``seconds`` (s)
            when timed.
        """
        if not self._document:
            document: dict[str, Any] = {
                "schema": SCHEMA_ID,
                "schema_version": SCHEMA_VERSION,
                "spinetv_version": self.spinetv_version,
            }
            if self.inputs is not None:
                document.update(
                    {
                        "inputs": self.inputs.to_json_dict(),
                        "output": self.output,
                        "output_format": self.output_format,
                        "figures": list(self.figures),
                        "name_suffix": self.name_suffix,
                    }
                )
            document.update(
                {
                    "protocol": plain_json(self.protocol),
                    "guideline": plain_json(self.guideline),
                    "options": plain_json(self.options),
                    "gtv_volume_cc": self.gtv_volume_cc,
                    "candidate_levels": list(self.candidate_levels),
                    "involved_levels": list(self.involved_levels),
                    "levels": [entry.to_json_dict() for entry in self.levels],
                    "anatomy": plain_json(self.anatomy),
                    "ctv": plain_json(self.ctv),
                    "structures": {n: s.to_json_dict() for n, s in self.structures.items()},
                    "notes": list(self.notes),
                }
            )
            if self.seconds is not None:
                document["seconds"] = self.seconds
            self._document.update(plain_json(document))
        return copy.deepcopy(self._document)

    def to_json(self, *, indent: int | None = 2) -> str:
        """The JSON text (strict JSON: no NaN or infinity).

        Parameters
        ----------
        indent : int or None, default 2
            Spaces per nesting level; None writes one line.

        Returns
        -------
        str
            :meth:`to_json_dict` as JSON, non-ASCII characters (cm³) kept.
        """
        return json.dumps(self.to_json_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_json_dict(cls, document: Mapping[str, Any]) -> PlanReport:
        """Read a JSON document back (as written by :meth:`to_json_dict`).

        Parameters
        ----------
        document : mapping
            The JSON document (``json.load`` of a ``report.json``).

        Returns
        -------
        PlanReport
            The report.

        Raises
        ------
        SpinetvError
            The document is from a newer, unknown schema version, or lacks a required key.
        """
        version = document.get("schema_version", SCHEMA_VERSION)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise SpinetvError(
                f"plan report schema_version {version!r}: this spinetv reads up to {SCHEMA_VERSION}"
            )
        missing = [k for k in (*_PLAN_KEYS[:3], "structures", "levels") if k not in document]
        if missing:
            raise SpinetvError(f"plan report lacks {', '.join(missing)}")
        raw_inputs = document.get("inputs")
        inputs = None
        if isinstance(raw_inputs, Mapping):
            inputs = ReportInputs(
                image=raw_inputs.get("image"),
                rtstruct=raw_inputs.get("rtstruct"),
                sources=dict(raw_inputs.get("sources") or {}),
                read_warnings=tuple(raw_inputs.get("read_warnings") or ()),
                notes=tuple(raw_inputs.get("notes") or ()),
            )
        return cls(
            spinetv_version=str(document.get("spinetv_version", "")),
            protocol=document.get("protocol") or {},
            guideline=document.get("guideline") or {},
            options=document.get("options") or {},
            gtv_volume_cc=float(document.get("gtv_volume_cc") or 0.0),
            candidate_levels=tuple(document.get("candidate_levels") or ()),
            involved_levels=tuple(document.get("involved_levels") or ()),
            levels=tuple(LevelEntry.from_json_dict(e) for e in document.get("levels") or ()),
            anatomy=document.get("anatomy") or {},
            ctv=document.get("ctv") or {},
            structures={
                name: StructureEntry.from_json_dict(name, entry)
                for name, entry in (document.get("structures") or {}).items()
            },
            notes=tuple(document.get("notes") or ()),
            inputs=inputs,
            output=document.get("output"),
            output_format=document.get("output_format"),
            figures=tuple(document.get("figures") or ()),
            name_suffix=str(document.get("name_suffix") or ""),
            seconds=document.get("seconds"),
        )

    def with_outputs(
        self,
        *,
        inputs: ReportInputs,
        output: str,
        output_format: str,
        figures: tuple[str, ...] = (),
        name_suffix: str = "",
        seconds: float | None = None,
    ) -> PlanReport:
        """This report completed with what the case was read from and what was written.

        Parameters
        ----------
        inputs : ReportInputs
            What the case was read from.
        output : str
            The RTSTRUCT or mask folder written.
        output_format : str
            ``"rtstruct"`` or ``"nifti"``.
        figures : tuple of str, default ()
            QA figures written.
        name_suffix : str, default ""
            Appended to every new ROI name.
        seconds : float or None, default None
            Wall time of planning and writing, s.

        Returns
        -------
        PlanReport
            A new report; this one is unchanged.
        """
        return replace(
            self,
            inputs=inputs,
            output=output,
            output_format=output_format,
            figures=figures,
            name_suffix=name_suffix,
            seconds=seconds,
        )

    def level(self, name: str) -> LevelEntry:
        """The entry of one level (KeyError naming the levels present).

        Parameters
        ----------
        name : str
            The canonical level ("L2", "S1"), matched exactly.

        Returns
        -------
        LevelEntry
            The level's entry.

        Raises
        ------
        KeyError
            When the report has no entry for ``name``.
        """
        for entry in self.levels:
            if entry.level == name:
                return entry
        present = [e.level for e in self.levels]
        raise KeyError(f"no level {name!r} in this report; levels: {present}")

    # ---- read-only mapping over the JSON document ---------------------------------------------
    def __getitem__(self, key: str) -> Any:
        if not self._document:
            self.to_json_dict()
        return copy.deepcopy(self._document[key])

    def __iter__(self) -> Iterator[str]:
        if not self._document:
            self.to_json_dict()
        return iter(list(self._document))

    def __len__(self) -> int:
        if not self._document:
            self.to_json_dict()
        return len(self._document)

    def __contains__(self, key: object) -> bool:
        if not self._document:
            self.to_json_dict()
        return key in self._document


def schema() -> dict[str, Any]:
    """The JSON Schema of the plan report, as shipped with the package.

    Returns
    -------
    dict
        The schema (JSON Schema draft 2020-12; ``$id`` is :data:`SCHEMA_ID`).
    """
    text = (resources.files("spinetv.report") / "plan_report.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded
