"""DVH metrics in the usual notation, parsed once and evaluated on a :class:`~spinetv.dose.dvh.DVH`.

========================  ==========================================================  ======
notation                  meaning                                                     unit
========================  ==========================================================  ======
``D2%``, ``D98%``         dose the hottest 2 % (98 %) of the structure receives       Gy
``D0.03cc``, ``D1cm3``    dose the hottest 0.03 cm³ (1 cm³) receives (also ``cm³``)   Gy
``Dmax``, ``Dmin``        largest / smallest sampled dose                             Gy
``Dmean``                 volume-weighted mean dose                                   Gy
``V20Gy``                 share of the structure receiving at least 20 Gy             %
``V20Gy[cc]``             volume receiving at least 20 Gy                             cm³
``V95%``                  share receiving at least 95 % of the prescription           %
``V95%[cc]``              volume receiving at least 95 % of the prescription          cm³
========================  ==========================================================  ======

``D`` metrics of a relative dose (DoseUnits RELATIVE) are in the dose's own units, reported as
``%`` of the reference. Dmax is the largest sample: sensitive to one voxel, which is why the
protocols state D0.03cm³ (or D2%) instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from spinetv.dose.dvh import DVH
from spinetv.errors import SpinetvError

__all__ = ["Metric", "MetricError", "MetricValue", "evaluate_metric", "parse_metric"]


class MetricError(SpinetvError):
    """A DVH metric cannot be parsed, or cannot be evaluated as asked."""


_D_RELATIVE = re.compile(r"^D(\d+(?:\.\d+)?)%$", re.IGNORECASE)
_D_ABSOLUTE = re.compile(r"^D(\d+(?:\.\d+)?)(?:cc|cm3|cm³)$", re.IGNORECASE)
_V_DOSE = re.compile(r"^V(\d+(?:\.\d+)?)Gy(\[(?:cc|cm3|cm³|%)\])?$", re.IGNORECASE)
_V_RELATIVE = re.compile(r"^V(\d+(?:\.\d+)?)%(\[(?:cc|cm3|cm³|%)\])?$", re.IGNORECASE)
_NAMED = {"dmax": "max", "dmin": "min", "dmean": "mean"}


@dataclass(frozen=True)
class Metric:
    """A parsed DVH metric.

    Parameters
    ----------
    text : str
        The notation as given (``"D0.03cc"``).
    kind : str
        ``"D_fraction"``, ``"D_volume"``, ``"max"``, ``"min"``, ``"mean"``, ``"V_dose"`` or
        ``"V_relative"``.
    at : float or None
        The volume (fraction 0-1 or cm³) of a D metric, the dose (Gy) or the fraction of the
        prescription (0-) of a V metric; None for max, min, mean.
    volume_unit : str
        For V metrics, ``"%"`` or ``"cc"``; "" otherwise.
    """

    text: str
    kind: str
    at: float | None = None
    volume_unit: str = ""

    @property
    def unit(self) -> str:
        """The unit of the metric's value: ``"Gy"``, ``"%"`` or ``"cc"``."""
        return self.volume_unit if self.kind.startswith("V_") else "Gy"


@dataclass(frozen=True)
class MetricValue:
    """A metric evaluated on one structure.

    Parameters
    ----------
    metric : Metric
        What was evaluated.
    value : float
        The value, in ``unit``.
    unit : str
        ``"Gy"``, ``"%"`` (of the structure's volume, or of a relative dose's reference) or
        ``"cc"``.
    """

    metric: Metric
    value: float
    unit: str


def parse_metric(text: str) -> Metric:
    """Parse a metric in the usual notation (see the module docstring).

    Parameters
    ----------
    text : str
        For example ``"D2%"``, ``"D0.03cc"``, ``"D0.03cm³"``, ``"V20Gy"``, ``"V95%[cc]"``,
        ``"Dmax"``.

    Returns
    -------
    Metric
        The parsed metric.

    Raises
    ------
    MetricError
        The text is not a metric, or its number is out of range (a percentage over 100).
    """
    raw = str(text).strip()
    compact = raw.replace(" ", "")
    if compact.lower() in _NAMED:
        return Metric(raw, _NAMED[compact.lower()])
    if match := _D_RELATIVE.match(compact):
        percent = float(match.group(1))
        if not 0 <= percent <= 100:
            raise MetricError(f"metric {raw!r}: {percent:g}% is not a share of the volume")
        return Metric(raw, "D_fraction", percent / 100)
    if match := _D_ABSOLUTE.match(compact):
        return Metric(raw, "D_volume", float(match.group(1)))
    for pattern, kind, scale in ((_V_DOSE, "V_dose", 1.0), (_V_RELATIVE, "V_relative", 0.01)):
        if match := pattern.match(compact):
            unit = (match.group(2) or "[%]").strip("[]").lower()
            return Metric(raw, kind, float(match.group(1)) * scale, "%" if unit == "%" else "cc")
    raise MetricError(
        f"{raw!r} is not a DVH metric; use Dx% (D2%), Dxcc (D0.03cc), Dmax, Dmin, Dmean, "
        "VxGy (V20Gy, V20Gy[cc]) or Vx% (V95%, V95%[cc])"
    )


def evaluate_metric(
    dvh: DVH, metric: Metric | str, *, prescription_gy: float | None = None
) -> MetricValue:
    """Evaluate a metric on a structure's DVH.

    Parameters
    ----------
    dvh : DVH
        The structure's dose samples.
    metric : Metric or str
        The metric, or its notation.
    prescription_gy : float, optional
        The prescription, Gy: needed by ``Vx%`` metrics.

    Returns
    -------
    MetricValue
        The value and its unit.

    Raises
    ------
    MetricError
        A ``Vx%`` metric without a prescription, a ``Dxcc`` larger than the structure, or a
        ``VxGy`` asked of a relative dose.
    """
    parsed = parse_metric(metric) if isinstance(metric, str) else metric
    dose_unit = "Gy" if dvh.units == "GY" else "%"
    if parsed.kind in ("max", "min", "mean"):
        return MetricValue(parsed, float(getattr(dvh, parsed.kind)), dose_unit)
    assert parsed.at is not None
    if parsed.kind == "D_fraction":
        return MetricValue(parsed, dvh.dose_at_fraction(parsed.at), dose_unit)
    if parsed.kind == "D_volume":
        if parsed.at > dvh.sampled_cc + 1e-9:
            raise MetricError(
                f"{parsed.text} of {dvh.name or 'the structure'}: the structure holds only "
                f"{dvh.sampled_cc:.3f} cm³ within the dose grid"
            )
        return MetricValue(parsed, dvh.dose_at_volume_cc(parsed.at), dose_unit)
    if parsed.kind == "V_dose":
        if dvh.units != "GY":
            raise MetricError(f"{parsed.text}: the dose is relative, not in Gy")
        threshold = parsed.at
    else:
        if prescription_gy is None or prescription_gy <= 0:
            raise MetricError(f"{parsed.text}: needs the prescription dose")
        threshold = parsed.at * prescription_gy
    volume = dvh.volume_at_dose_cc(threshold)
    if parsed.volume_unit == "cc":
        return MetricValue(parsed, volume, "cc")
    share = 100 * volume / dvh.sampled_cc if dvh.sampled_cc > 0 else float("nan")
    return MetricValue(parsed, share, "%")
