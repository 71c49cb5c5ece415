"""Frozen values stay frozen: read-only mappings that still pickle and deep-copy."""

from __future__ import annotations

import copy
import pickle

import pytest

from spinetv.frozen import FrozenMap, frozen_json
from spinetv.structure import Provenance


def test_frozen_map_reads_pickles_and_refuses_writes() -> None:
    data = {"a": 1, "b": [1, 2]}
    frozen = FrozenMap(data)
    data["a"] = 99  # the map holds its own copy
    assert frozen["a"] == 1 and dict(frozen) == {"a": 1, "b": [1, 2]}
    assert frozen == {"a": 1, "b": [1, 2]}
    with pytest.raises(TypeError):
        frozen["c"] = 3  # type: ignore[index]
    with pytest.raises(AttributeError):
        frozen._items = {}  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(frozen)) == frozen
    assert copy.deepcopy(frozen) == frozen
    nested = frozen_json({"x": {"y": [1, {"z": 2}]}})
    assert isinstance(nested["x"], FrozenMap) and nested["x"]["y"][1]["z"] == 2
    with pytest.raises(TypeError):
        nested["x"]["y"][1]["z"] = 3


def test_provenance_details_cannot_be_changed_through_the_value() -> None:
    details = {"margin_mm": {"left": 2.0}}
    provenance = Provenance("AUTOMATIC", "PTV", details)
    details["margin_mm"]["left"] = 9.0
    assert provenance.details["margin_mm"]["left"] == 2.0
    with pytest.raises(TypeError):
        provenance.details["margin_mm"] = 1  # type: ignore[index]
    assert pickle.loads(pickle.dumps(provenance)) == provenance


def test_plan_values_pickle_for_worker_processes() -> None:
    from spinetv.pipeline import PlanOptions

    options = PlanOptions(guideline_parameters={"min_overlap_cc": 0.05}, levels=["L2"])
    again = pickle.loads(pickle.dumps(options))
    assert again.guideline_parameters == {"min_overlap_cc": 0.05}
    assert again.resolved_protocol() == options.resolved_protocol()


def test_quality_fixes_named_by_the_docstring_review() -> None:
    import numpy as np

    from spinetv.errors import GeometryError, GeometryMismatchError
    from spinetv.geometry.grid import ImageGrid
    from spinetv.geometry.labels import LabelMap
    from spinetv.geometry.mask import Mask
    from spinetv.guidelines.involvement import classify_body
    from spinetv.planning.volumes import si_extent_mm

    grid = ImageGrid((4, 4, 4), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    with pytest.raises(GeometryError, match="no superior-inferior extent"):
        si_extent_mm(Mask.empty(grid))
    labels = np.zeros(grid.shape, dtype=np.uint16)
    labels[1, 1, 1] = 300
    with pytest.raises(GeometryError, match="does not fit in uint8"):
        LabelMap.from_array(grid, labels).to_array()
    assert LabelMap.from_array(grid, labels).to_array(np.uint16).max() == 300
    # Grids equal within the tolerance hash alike.
    near = ImageGrid((4, 4, 4), (1.0 + 4e-5, 1.0, 1.0), (0.0, 0.0, 0.0))
    assert near == grid and hash(near) == hash(grid)
    other = ImageGrid((4, 4, 4), (2.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    body = Mask.from_array(grid, np.ones(grid.shape, dtype=bool))
    with pytest.raises(GeometryMismatchError):
        classify_body(body, Mask.from_array(other, np.ones(other.shape, dtype=bool)))
