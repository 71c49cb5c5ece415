"""Reading one case (load_case): which cord wins, level mappings on label-map levels, aliases.

The ``written``, ``contoured`` and ``labelmap`` fixtures (a lumbar phantom) are in conftest.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spinetv.case import ORGAN_ALIASES, load_case
from spinetv.errors import AnatomyError
from spinetv.geometry.mask import Mask


def _same(a: Mask | None, b: Mask | None) -> bool:
    assert a is not None and b is not None
    return bool(np.array_equal(a.to_array(), b.to_array()))


# cord precedence ------------------------------------------------------------------------------


def test_contoured_cord_wins_over_the_label_map_cord_and_is_noted(
    written: tuple[Path, Path],
    contoured,
    labelmap: Path,  # type: ignore[no-untyped-def]
) -> None:
    ct, rs = written
    case = load_case(ct, rs, gtv="GTV", labelmap=labelmap)
    assert _same(case.anatomy.cord, contoured.anatomy.cord)
    assert case.sources["cord"].endswith(":SpinalCord")
    assert any("label map" in note and "SpinalCord" in note for note in case.notes)


def test_explicit_cord_name_wins_over_everything(
    written: tuple[Path, Path],
    contoured,
    labelmap: Path,  # type: ignore[no-untyped-def]
) -> None:
    ct, rs = written
    case = load_case(ct, rs, gtv="GTV", labelmap=labelmap, organ_names={"cord": "SpinalCanal"})
    assert _same(case.anatomy.cord, contoured.anatomy.canal)
    assert case.sources["cord"].endswith(":SpinalCanal")


def test_label_map_cord_is_used_when_none_is_contoured(
    written: tuple[Path, Path], labelmap: Path
) -> None:
    ct, _ = written
    case = load_case(ct, labelmap=labelmap)
    assert case.anatomy.cord is not None and case.anatomy.cord.voxel_count == 3 * 5 * 5
    assert case.sources["cord"] == "seg.nii.gz:SpinalCord"


# --vertebrae mapping on label-map levels ------------------------------------------------------


def test_level_mapping_applies_to_label_map_vertebrae(
    written: tuple[Path, Path],
    contoured,
    labelmap: Path,  # type: ignore[no-untyped-def]
) -> None:
    ct, rs = written
    swapped = load_case(ct, rs, gtv="GTV", labelmap=labelmap, vertebrae={"L2": "L3", "L3": "L2"})
    assert _same(swapped.anatomy.vertebrae["L3"], contoured.anatomy.vertebrae["L2"])
    assert _same(swapped.anatomy.vertebrae["L2"], contoured.anatomy.vertebrae["L3"])
    assert swapped.sources["L3"] == "seg.nii.gz:L2"
    # Without the mapping the label map's own names hold.
    plain = load_case(ct, rs, gtv="GTV", labelmap=labelmap)
    assert _same(plain.anatomy.vertebrae["L2"], contoured.anatomy.vertebrae["L2"])


def test_mapping_entry_naming_nothing_lists_what_is_available(
    written: tuple[Path, Path], labelmap: Path
) -> None:
    ct, rs = written
    with pytest.raises(AnatomyError, match="Vertebra_X.*available.*RTSTRUCT ROIs.*seg.nii.gz"):
        load_case(ct, rs, gtv="GTV", labelmap=labelmap, vertebrae={"L4": "Vertebra_X"})


def test_mapping_works_with_a_label_map_alone(written: tuple[Path, Path], labelmap: Path) -> None:
    ct, _ = written
    case = load_case(ct, labelmap=labelmap, vertebrae={"L1": "T12"})
    assert set(case.anatomy.vertebrae) == {"T12", "L2", "L3"}


# thecal sac aliases ---------------------------------------------------------------------------


def test_cauda_equina_is_not_taken_for_the_thecal_sac(contoured) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    assert not any("cauda" in alias.lower() for alias in ORGAN_ALIASES["thecal_sac"])
    assert contoured.sources["thecal_sac"].endswith(":ThecalSac")
