"""The typed plan report: frozen value, JSON round trip, and the shipped, versioned schema."""

from __future__ import annotations

import json
import warnings
from dataclasses import FrozenInstanceError

import pytest

from spinetv.report.model import (
    SCHEMA_ID,
    SCHEMA_VERSION,
    LevelEntry,
    PlanReport,
    StructureEntry,
    schema,
)

jsonschema = pytest.importorskip("jsonschema")
phantom = pytest.importorskip("spinetv.phantom")


@pytest.fixture(scope="module")
def report() -> PlanReport:
    from spinetv.anatomy.model import Anatomy
    from spinetv.pipeline import PlanOptions, plan

    model = phantom.make_spine_phantom(
        levels=("L1", "L2", "L3"),
        spacing_mm=(1.5, 1.0, 1.0),
        gtv=phantom.GtvSpec(level="L2", sectors=(1, 2), body_side="left"),
        seed=3,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = plan(model.gtv, Anatomy(model.grid, model.vertebrae, cord=model.cord),
                      PlanOptions())
    return result.report


def test_the_report_is_typed_and_frozen(report: PlanReport) -> None:
    assert report.involved_levels == ("L2",)
    assert isinstance(report.structures["PTV"], StructureEntry)
    assert report.structures["PTV"].volume_cc > report.structures["CTV"].volume_cc > 0
    level = report.level("L2")
    assert isinstance(level, LevelEntry) and set(level.involved_sectors) == {1, 2}
    assert set(level.sector_volumes_cc) == {1, 2, 3, 4, 5, 6}
    with pytest.raises(FrozenInstanceError):
        report.gtv_volume_cc = 0.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        report.structures["PTV"] = report.structures["CTV"]  # type: ignore[index]
    with pytest.raises(TypeError):
        report.options["margin_tolerance_mm"] = 9  # type: ignore[index]
    # The mapping view hands out copies: changing one changes nothing.
    copy = report["structures"]
    copy["PTV"]["volume_cc"] = -1
    assert report["structures"]["PTV"]["volume_cc"] == report.structures["PTV"].volume_cc
    with pytest.raises(KeyError, match="L4"):
        report.level("L4")


def test_the_json_document_matches_the_shipped_schema(report: PlanReport) -> None:
    document = json.loads(report.to_json())
    assert document["schema"] == SCHEMA_ID and document["schema_version"] == SCHEMA_VERSION
    loaded = schema()
    assert loaded["$id"] == SCHEMA_ID
    jsonschema.Draft202012Validator.check_schema(loaded)
    jsonschema.validate(document, loaded)
    # The schema can fail: a level that does not exist, a missing PTV, a negative volume.
    for broken in (
        {**document, "involved_levels": ["L9"]},
        {**document, "structures": {k: v for k, v in document["structures"].items() if k != "PTV"}},
        {**document, "gtv_volume_cc": -1.0},
        {k: v for k, v in document.items() if k != "anatomy"},
        {**document, "schema_version": SCHEMA_VERSION + 1},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, loaded)


def test_json_round_trip_keeps_every_value(report: PlanReport) -> None:
    document = report.to_json_dict()
    again = PlanReport.from_json_dict(json.loads(json.dumps(document)))
    assert again.to_json_dict() == document
    assert again == report
    from spinetv.errors import SpinetvError

    with pytest.raises(SpinetvError, match="schema_version"):
        PlanReport.from_json_dict({**document, "schema_version": SCHEMA_VERSION + 1})
    with pytest.raises(SpinetvError, match="structures"):
        PlanReport.from_json_dict({k: v for k, v in document.items() if k != "structures"})
