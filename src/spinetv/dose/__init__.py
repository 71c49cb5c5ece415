"""Dose evaluation: DVHs on the structures' own masks and metrics in the usual notation."""

from spinetv.dose.dvh import DVH, dvh, supersampling_for
from spinetv.dose.metrics import Metric, MetricError, MetricValue, evaluate_metric, parse_metric

__all__ = [
    "DVH",
    "Metric",
    "MetricError",
    "MetricValue",
    "dvh",
    "evaluate_metric",
    "parse_metric",
    "supersampling_for",
]
