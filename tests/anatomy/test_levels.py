"""Level names: parsing, ordering, regions and finding vertebrae among ROI names."""

from __future__ import annotations

import pytest

from spinetv.anatomy.levels import (
    LEVELS,
    find_vertebrae,
    level_order,
    parse_level,
    region_of,
)
from spinetv.errors import AnatomyError


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("L2", "L2"),
        ("Vertebra_L2", "L2"),
        ("vertebrae_L2", "L2"),
        ("Bone_L2", "L2"),
        ("l2", "L2"),
        ("VB_L2", "L2"),
        (" T12 ", "T12"),
        ("Th12", "T12"),
        ("C1", "C1"),
        ("vertebrae_S1", "S1"),
        ("Sacrum", "Sacrum"),
        ("sacrum", "Sacrum"),
        ("L02", "L2"),
        ("SpinalCord", None),
        ("L6", None),
        ("T13", None),
        ("C8", None),
        ("PTV_L2", None),
        ("GTV", None),
        ("", None),
    ],
)
def test_parse_level(name: str, expected: str | None) -> None:
    assert parse_level(name) == expected


def test_level_order_runs_top_down_with_sacrum_after_s1() -> None:
    ordered = sorted(["S2", "L5", "C1", "Sacrum", "T1", "S1", "C7", "T12", "L1"], key=level_order)
    assert ordered == ["C1", "C7", "T1", "T12", "L1", "L5", "S1", "Sacrum", "S2"]
    orders = [level_order(level) for level in LEVELS]
    assert orders == sorted(orders) and len(set(orders)) == len(orders)


def test_region_of() -> None:
    assert [region_of(x) for x in ("C3", "T5", "L4", "S2", "Sacrum")] == [
        "cervical", "thoracic", "lumbar", "sacral", "sacral",
    ]
    with pytest.raises(AnatomyError, match="SpinalCord"):
        region_of("SpinalCord")


def test_find_vertebrae_by_name_sorted_top_down() -> None:
    names = ["SpinalCord", "vertebrae_L3", "vertebrae_L1", "Bone_T12", "sacrum", "GTV"]
    assert find_vertebrae(names) == {
        "T12": "Bone_T12", "L1": "vertebrae_L1", "L3": "vertebrae_L3", "Sacrum": "sacrum",
    }


def test_find_vertebrae_mapping_both_directions() -> None:
    names = ["vertebrae_L5", "vertebrae_L4", "blob"]
    by_roi = find_vertebrae(names, mapping={"vertebrae_L5": "L4", "vertebrae_L4": "L3"})
    assert by_roi == {"L3": "vertebrae_L4", "L4": "vertebrae_L5"}
    by_level = find_vertebrae(names, mapping={"L2": "blob"})
    assert by_level == {"L2": "blob", "L4": "vertebrae_L4", "L5": "vertebrae_L5"}


def test_find_vertebrae_two_rois_one_level_names_both() -> None:
    with pytest.raises(AnatomyError, match="'L2'.*'Vertebra_L2'|'Vertebra_L2'.*'L2'"):
        find_vertebrae(["L2", "Vertebra_L2"])
    with pytest.raises(AnatomyError, match="vertebrae_L4.*vertebrae_L5|vertebrae_L5.*vertebrae_L4"):
        find_vertebrae(["vertebrae_L5", "vertebrae_L4"], mapping={"vertebrae_L5": "L4"})


def test_find_vertebrae_rejects_unknown_mapping_entries() -> None:
    with pytest.raises(AnatomyError, match="names no available ROI"):
        find_vertebrae(["L1"], mapping={"L2": "missing"})
    with pytest.raises(AnatomyError, match="not a vertebral level"):
        find_vertebrae(["blob"], mapping={"blob": "L9"})
