"""Consensus CTVs from guidelines written as data, with explanations and an audit.

- :func:`load_guideline`, :func:`list_guidelines`: guideline files (``data/*.toml``).
- :func:`build_ctv`: the guideline CTV of a GTV over the sectors of its vertebrae.
- :func:`audit_ctv`: a clinician's CTV against the guideline (Chen 2022 deviation categories).
"""

from spinetv.guidelines.audit import (
    AuditResult,
    Deviation,
    DeviationCategory,
    LevelAudit,
    audit_ctv,
)
from spinetv.guidelines.engine import (
    CtvResult,
    FiredRow,
    GuidelineWarning,
    LevelExplanation,
    build_ctv,
    evaluate_rows,
)
from spinetv.guidelines.involvement import (
    BodyInvolvement,
    LevelInvolvement,
    LevelSectors,
    classify_body,
    measure_involvement,
)
from spinetv.guidelines.loader import (
    PARAMETER_DEFAULTS,
    CircumferentialRule,
    Citation,
    Condition,
    CraniocaudalRule,
    Guideline,
    Row,
    list_guidelines,
    load_guideline,
    resolve_parameters,
)

__all__ = [
    "PARAMETER_DEFAULTS",
    "AuditResult",
    "BodyInvolvement",
    "Citation",
    "CircumferentialRule",
    "Condition",
    "CraniocaudalRule",
    "CtvResult",
    "Deviation",
    "DeviationCategory",
    "FiredRow",
    "Guideline",
    "GuidelineWarning",
    "LevelAudit",
    "LevelExplanation",
    "LevelInvolvement",
    "LevelSectors",
    "Row",
    "audit_ctv",
    "build_ctv",
    "classify_body",
    "evaluate_rows",
    "list_guidelines",
    "load_guideline",
    "measure_involvement",
    "resolve_parameters",
]
