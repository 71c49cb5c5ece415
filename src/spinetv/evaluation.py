"""A plan's dose against its protocol's limits: every constraint evaluated, passed or not.

:func:`evaluate` takes the structures (masks by ROI name: what ``spinetv plan`` wrote, the GTV,
the organs), a dose (:func:`spinetv.io.rtdose.read_rtdose`) and a protocol whose ``[dose]``
section lists the limits, each with its source. Every limit becomes a
:class:`ConstraintResult`: the metric's value from the structure's DVH
(:func:`spinetv.dose.dvh`), the limit, the priority and whether it holds. A limit whose
structure is absent, or whose metric cannot be evaluated (a dose in relative units against a
limit in Gy), is **not evaluable**: reported as such and never counted as passed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from spinetv.dose.dvh import DVH, dvh
from spinetv.dose.metrics import MetricError, evaluate_metric, parse_metric
from spinetv.errors import SpinetvError, SpinetvWarning
from spinetv.frozen import FrozenMap
from spinetv.geometry.mask import Mask
from spinetv.io.rtdose import DoseGrid
from spinetv.planning.protocols import DoseConstraint, Protocol, load_protocol

__all__ = [
    "ConstraintResult",
    "DoseEvaluation",
    "DoseEvaluationError",
    "FractionationWarning",
    "evaluate",
]


class DoseEvaluationError(SpinetvError):
    """A dose cannot be evaluated against a protocol (no limits, fractions differ under strict)."""


class FractionationWarning(SpinetvWarning):
    """The dose's fractionation differs from the protocol's."""


@dataclass(frozen=True)
class ConstraintResult:
    """One protocol limit evaluated on one structure.

    Parameters
    ----------
    constraint : DoseConstraint
        The limit, as the protocol states it.
    value : float or None
        The metric's value (None when not evaluable).
    unit : str
        ``"Gy"``, ``"%"`` or ``"cc"``.
    passed : bool or None
        Whether the value is within the limit (None when not evaluable).
    reason : str
        Why it is not evaluable ("" when it is).
    """

    constraint: DoseConstraint
    value: float | None
    unit: str
    passed: bool | None
    reason: str = ""

    @property
    def evaluable(self) -> bool:
        """Whether a value was found."""
        return self.passed is not None

    def to_json_dict(self) -> dict[str, Any]:
        """The entry of the report's ``constraints`` list.

        Returns
        -------
        dict of str to Any
            ``value`` (4 decimals, None when not evaluable) in ``unit`` (``"Gy"``, ``"%"`` or
            ``"cc"``, cm³; ``"%"`` also for a dose metric of a relative dose),
            ``limit`` as a table writes it, ``min`` and ``max`` in that same unit, with the
            constraint's structure, metric, priority, source and verified flag, and
            ``passed``, ``evaluable`` and ``reason``.
        """
        c = self.constraint
        return {
            "structure": c.structure,
            "metric": c.metric,
            "value": None if self.value is None else round(self.value, 4),
            "unit": self.unit,
            "limit": c.describe(),
            "min": c.minimum,
            "max": c.maximum,
            "priority": c.priority,
            "passed": self.passed,
            "evaluable": self.evaluable,
            "reason": self.reason,
            "source": c.source,
            "verified": c.verified,
        }


@dataclass(frozen=True)
class DoseEvaluation:
    """Every limit of a protocol evaluated on one dose.

    Parameters
    ----------
    protocol_id : str
        The protocol.
    prescription_gy : float
        The protocol's prescription, Gy.
    fractions : int
        The protocol's number of fractions.
    dose_source : str
        The dose file(s).
    results : tuple of ConstraintResult
        In the protocol's order.
    dvhs : mapping of str to DVH
        The DVH of every structure a limit names that was present.
    warnings : tuple of str
        What a reviewer must read (fractionation, structures outside the dose grid).
    """

    protocol_id: str
    prescription_gy: float
    fractions: int
    dose_source: str
    results: tuple[ConstraintResult, ...]
    dvhs: Mapping[str, DVH] = field(default_factory=FrozenMap)
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "results", tuple(self.results))
        object.__setattr__(self, "dvhs", FrozenMap(self.dvhs))
        object.__setattr__(self, "warnings", tuple(self.warnings))

    def _count(self, priority: str, passed: bool | None) -> int:
        return sum(
            1 for r in self.results if r.constraint.priority == priority and r.passed is passed
        )

    @property
    def all_mandatory_passed(self) -> bool:
        """True only when every mandatory limit was evaluated and holds."""
        return all(r.passed is True for r in self.results if r.constraint.priority == "mandatory")

    @property
    def summary(self) -> dict[str, Any]:
        """Counts by priority: passed, failed, not evaluable; and ``all_mandatory_passed``."""
        out: dict[str, Any] = {"all_mandatory_passed": self.all_mandatory_passed}
        for priority in ("mandatory", "optimal"):
            out[priority] = {
                "passed": self._count(priority, True),
                "failed": self._count(priority, False),
                "not_evaluable": self._count(priority, None),
            }
        return out

    def to_json_dict(self) -> dict[str, Any]:
        """The report of the evaluation (JSON-ready).

        Returns
        -------
        dict of str to Any
            ``protocol``, ``prescription_gy`` (Gy), ``fractions``, ``dose`` (the source),
            ``summary``, ``constraints`` (each :meth:`ConstraintResult.to_json_dict`),
            ``structures`` (per structure ``volume_cc`` and ``outside_dose_grid_cc`` in cm³,
            ``supersampling`` and ``Dmax``, ``Dmean``, ``Dmin`` in the dose's units, Gy or
            relative; 4 decimals) and ``warnings``.
        """
        return {
            "protocol": self.protocol_id,
            "prescription_gy": self.prescription_gy,
            "fractions": self.fractions,
            "dose": self.dose_source,
            "summary": self.summary,
            "constraints": [r.to_json_dict() for r in self.results],
            "structures": {
                name: {
                    "volume_cc": round(d.volume_cc, 4),
                    "outside_dose_grid_cc": round(d.outside_cc, 4),
                    "supersampling": list(d.supersampling),
                    "Dmax": round(d.max, 4),
                    "Dmean": round(d.mean, 4),
                    "Dmin": round(d.min, 4),
                }
                for name, d in self.dvhs.items()
            },
            "warnings": list(self.warnings),
        }


def _within(value: float, constraint: DoseConstraint) -> bool:
    low_ok = constraint.minimum is None or value >= constraint.minimum
    high_ok = constraint.maximum is None or value <= constraint.maximum
    return low_ok and high_ok


def _structures_of_case(case: Any, names: set[str]) -> dict[str, Mask]:
    """The masks of a :class:`~spinetv.case.Case` a protocol's limits name: ROIs of its
    RTSTRUCT, its GTV and its organs under their TG-263 names."""
    from spinetv.io.rtstruct import read_structures
    from spinetv.vocabulary import OrganRole

    found: dict[str, Mask] = {}
    data = case.rtstruct
    if data is not None:
        present = {roi.name for roi in data.rois} & names
        grid = case.reference if case.reference is not None else case.image.grid
        found.update({n: s.mask for n, s in read_structures(data, grid, names=present).items()})
    if case.gtv is not None:
        found.setdefault("GTV", case.gtv)
    for role in OrganRole:
        mask = getattr(case.anatomy, role.value, None)
        if mask is not None:
            found.setdefault(role.tg263, mask)
    return found


def evaluate(
    structures: Mapping[str, Mask] | Any,
    dose: DoseGrid,
    protocol: Protocol | str,
    *,
    fractions: int | None = None,
    strict: bool = False,
) -> DoseEvaluation:
    """Evaluate a dose against every limit of a protocol.

    Parameters
    ----------
    structures : mapping of str to Mask, or Case
        Masks by ROI name (image or planning grid; each DVH is sampled on its own mask), or a
        case read with :func:`spinetv.load_case` whose RTSTRUCT holds the structures (its
        GTV and organs count too).
    dose : DoseGrid
        The dose, in Gy (a relative dose makes Gy limits not evaluable).
    protocol : Protocol or str
        A protocol with a ``[dose]`` section, or its name or file.
    fractions : int, optional
        The plan's number of fractions (from the RTPLAN); compared with the protocol's.
    strict : bool
        A fractionation different from the protocol's is an error instead of a warning.

    Returns
    -------
    DoseEvaluation
        Every limit's value and verdict, the DVHs and the warnings.

    Raises
    ------
    DoseEvaluationError
        The protocol states no dose limits, or (``strict``) the fractions differ.
    GeometryMismatchError
        A structure and the dose are in different frames of reference.
    """
    preset = load_protocol(protocol)
    spec = preset.dose
    if spec is None or not spec.constraints:
        raise DoseEvaluationError(
            f"protocol {preset.id} states no dose limits ("
            + ("no [dose] section" if spec is None else "a prescription but no [[dose.constraint]]")
            + f" in {preset.path})"
        )
    if not isinstance(structures, Mapping):
        structures = _structures_of_case(structures, {c.structure for c in spec.constraints})
    notes: list[str] = []
    if fractions is not None and fractions != spec.fractions:
        message = (
            f"the plan has {fractions} fractions, protocol {preset.id} prescribes "
            f"{spec.prescription_gy:g} Gy in {spec.fractions}: its limits are for that "
            "fractionation"
        )
        if strict:
            raise DoseEvaluationError(message)
        warnings.warn(message, FractionationWarning, stacklevel=2)
        notes.append(message)
    dvhs: dict[str, DVH] = {}
    results = []
    for constraint in spec.constraints:
        mask = structures.get(constraint.structure)
        metric = parse_metric(constraint.metric)
        if mask is None or mask.is_empty:
            state = "absent" if mask is None else "empty"
            results.append(
                ConstraintResult(
                    constraint, None, metric.unit, None, f"{constraint.structure} is {state}"
                )
            )
            continue
        if constraint.structure not in dvhs:
            dvhs[constraint.structure] = dvh(mask, dose, name=constraint.structure)
            outside = dvhs[constraint.structure].outside_cc
            if outside > 0:
                notes.append(
                    f"{constraint.structure}: {outside:.3f} cm³ lies outside the dose grid and "
                    "is not in its DVH"
                )
        try:
            value = evaluate_metric(
                dvhs[constraint.structure], metric, prescription_gy=spec.prescription_gy
            )
        except MetricError as error:
            results.append(ConstraintResult(constraint, None, metric.unit, None, str(error)))
            continue
        if dose.units != "GY" and value.unit == "%" and metric.unit == "Gy":
            results.append(
                ConstraintResult(
                    constraint, None, "Gy", None, "the dose is relative; the limit is in Gy"
                )
            )
            continue
        if not math.isfinite(value.value):
            results.append(ConstraintResult(constraint, None, value.unit, None, "no dose value"))
            continue
        results.append(
            ConstraintResult(constraint, value.value, value.unit, _within(value.value, constraint))
        )
    return DoseEvaluation(
        protocol_id=preset.id,
        prescription_gy=spec.prescription_gy,
        fractions=spec.fractions,
        dose_source=dose.source,
        results=tuple(results),
        dvhs=dvhs,
        warnings=tuple(notes),
    )
