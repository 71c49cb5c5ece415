"""A planned phantom's dose against the SIB-SBRT 2025 limits: one dose that meets every
mandatory limit, one that breaks exactly the cord's."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import ndimage

from spinetv.anatomy.model import Anatomy
from spinetv.errors import GeometryMismatchError
from spinetv.evaluation import DoseEvaluationError, FractionationWarning, evaluate
from spinetv.geometry.mask import Mask
from spinetv.io.rtdose import DoseGrid
from spinetv.pipeline import PlanOptions, plan

phantom = pytest.importorskip("spinetv.phantom")


@pytest.fixture(scope="module")
def planned() -> dict[str, Mask]:
    """Structures of a lumbar case (GTV in the L3 body, below L2: a thecal sac is made; the
    cord ends at the L1-L2 disc, so its PRV lies above the target)."""
    model = phantom.make_spine_phantom(
        levels=("L1", "L2", "L3", "L4"),
        spacing_mm=(1.0, 1.0, 1.0),
        gtv=phantom.GtvSpec(level="L3", sectors=(1,)),
        seed=5,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = plan(
            model.gtv,
            Anatomy(model.grid, model.vertebrae, cord=model.cord, canal=model.canal),
            PlanOptions(protocol="sib-sbrt-2025", max_refinement=1),
        )
    structures = {s.name: s.mask for s in result.structures}
    structures["GTV"] = model.gtv
    structures["SpinalCanal"] = model.canal
    return structures


def _dose(structures: dict[str, Mask], cord_prv_gy: float) -> DoseGrid:
    """A dose on the image grid: 30 Gy around the target, 43 Gy in the GTV away from the
    canal, 26 Gy in the canal, ``cord_prv_gy`` in the cord PRV."""
    grid = structures["GTV"].grid
    canal = structures["SpinalCanal"].to_array()
    near_canal = ndimage.binary_dilation(canal, iterations=3)
    values = np.full(grid.shape, 30.0)
    values[structures["GTV"].to_array() & ~near_canal] = 43.0
    values[canal] = 26.0
    values[structures["SpinalCord_PRV02"].to_array()] = cord_prv_gy
    return DoseGrid(grid, values, source="synthetic")


def test_a_dose_within_the_limits_passes_every_mandatory_one(planned: dict[str, Mask]) -> None:
    evaluation = evaluate(planned, _dose(planned, 18.0), "sib-sbrt-2025")
    failed = [(r.constraint.structure, r.constraint.metric, r.value) for r in evaluation.results
              if r.constraint.priority == "mandatory" and r.passed is not True]
    assert failed == []
    assert evaluation.all_mandatory_passed
    summary = evaluation.summary
    assert summary["mandatory"] == {"passed": 9, "failed": 0, "not_evaluable": 0}
    cord = next(r for r in evaluation.results if r.constraint.structure == "SpinalCord_PRV02")
    assert cord.value is not None and 18.0 <= cord.value <= 25.0


def test_a_hot_cord_fails_exactly_the_cord_limit(planned: dict[str, Mask]) -> None:
    evaluation = evaluate(planned, _dose(planned, 27.0), "sib-sbrt-2025")
    failed = [(r.constraint.structure, r.constraint.metric) for r in evaluation.results
              if r.passed is False and r.constraint.priority == "mandatory"]
    assert failed == [("SpinalCord_PRV02", "D0.03cm³")]
    assert not evaluation.all_mandatory_passed
    report = evaluation.to_json_dict()
    entry = next(c for c in report["constraints"] if c["structure"] == "SpinalCord_PRV02")
    assert entry["passed"] is False and entry["limit"] == "<= 25 Gy"
    assert "Table 1" in entry["source"]


def test_missing_structures_are_not_evaluable_never_passed(planned: dict[str, Mask]) -> None:
    without = {k: v for k, v in planned.items() if k != "ThecalSac"}
    evaluation = evaluate(without, _dose(planned, 18.0), "sib-sbrt-2025")
    thecal = next(r for r in evaluation.results if r.constraint.structure == "ThecalSac")
    assert thecal.passed is None and "absent" in thecal.reason
    assert not evaluation.all_mandatory_passed
    assert evaluation.summary["mandatory"]["not_evaluable"] == 1


def test_fractionation_relative_dose_and_frames(planned: dict[str, Mask]) -> None:
    dose = _dose(planned, 18.0)
    with pytest.warns(FractionationWarning, match="10 fractions"):
        evaluate(planned, dose, "sib-sbrt-2025", fractions=10)
    with pytest.raises(DoseEvaluationError, match="10 fractions"):
        evaluate(planned, dose, "sib-sbrt-2025", fractions=10, strict=True)
    relative = DoseGrid(dose.grid, dose.values / 30.0 * 100, units="RELATIVE")
    evaluation = evaluate(planned, relative, "sib-sbrt-2025")
    assert all(r.passed is None for r in evaluation.results)
    with pytest.raises(DoseEvaluationError, match="no dose limits"):
        evaluate(planned, dose, "chictr1900023401-involved")
    elsewhere = DoseGrid(dose.grid.with_frame_of_reference("9.9.9"), dose.values)
    with pytest.raises(GeometryMismatchError, match="frame of reference"):
        evaluate(planned, elsewhere, "sib-sbrt-2025")


def test_a_users_dose_section_is_checked_when_loaded(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    from spinetv.errors import ProtocolError
    from spinetv.planning.protocols import load_protocol

    source = Path(load_protocol("sib-sbrt-2025").path).read_text(encoding="utf-8")
    for old, new, message in (
        ('metric = "D90%"', 'metric = "D90"', r"dose.constraint\[2\].*'D90' is not a DVH metric"),
        ("min = 29.7\nmax = 30.3", "min = 31.0\nmax = 30.3", "minimum 31 above maximum 30.3"),
        ('priority = "optimal"', 'priority = "nice"', "priority 'nice'"),
        ("fractions = 5", "fractions = 5.5", "fractions"),
    ):
        assert old in source
        broken = tmp_path / "p.toml"
        broken.write_text(source.replace(old, new, 1), encoding="utf-8")
        with pytest.raises(ProtocolError, match=message):
            load_protocol(broken)


@pytest.mark.parametrize(("cord_gy", "passed"), [(8.0, True), (12.0, False)])
def test_rtog_0631_partial_cord_limit(cord_gy: float, passed: bool) -> None:
    model = phantom.make_spine_phantom(
        levels=("T9", "T10", "T11"),
        spacing_mm=(2.0, 1.0, 1.0),
        gtv=phantom.GtvSpec(level="T10", sectors=(1,)),
        seed=6,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = plan(model.gtv, Anatomy(model.grid, model.vertebrae, cord=model.cord),
                      PlanOptions(protocol="rtog-0631", max_refinement=1))
    structures = {s.name: s.mask for s in result.structures}
    assert "SpinalCord_Eval" in structures
    # The cord and 2 mm around it at cord_gy: the dose read inside the cord is cord_gy alone.
    values = np.full(model.grid.shape, 16.0)
    values[ndimage.binary_dilation(model.cord.to_array(), iterations=2)] = cord_gy
    evaluation = evaluate(structures, DoseGrid(model.grid, values), "rtog-0631", fractions=1)
    (cord,) = evaluation.results
    assert cord.constraint.metric == "D10%" and cord.passed is passed
    assert cord.value == pytest.approx(cord_gy, abs=1e-4)
