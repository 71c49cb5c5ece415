"""Sacral segments along the curved axis, compartments, canal and foramina (phantom sacrum)."""

from __future__ import annotations

import numpy as np
import pytest
from _anatomy_synthetic import dice

from spinetv.anatomy.sacrum import (
    derive_sacral_canal,
    derive_sacral_foramina,
    label_sacral_segment,
    sacral_centreline,
    split_sacrum,
)
from spinetv.errors import AnatomyError
from spinetv.geometry import Mask

phantom = pytest.importorskip("spinetv.phantom")
SEGMENTS = ("S1", "S2", "S3", "S4", "S5")


@pytest.fixture(scope="module")
def pelvis() -> object:
    return phantom.make_spine_phantom(levels="L5-S5", spacing_mm=(1.5, 1.5, 1.5))


def _sacrum(truth: object) -> Mask:
    array = np.zeros(truth.grid.shape, dtype=bool)  # type: ignore[attr-defined]
    for name in SEGMENTS:
        array |= truth.vertebrae[name].to_array()  # type: ignore[attr-defined]
    return Mask.from_array(truth.grid, array)  # type: ignore[attr-defined]


def test_split_partitions_along_the_curve(pelvis: object) -> None:
    sacrum = _sacrum(pelvis)
    segments = split_sacrum(sacrum)
    assert list(segments) == list(SEGMENTS)
    total = np.zeros(sacrum.grid.shape, dtype=np.int8)
    for mask in segments.values():
        total += mask.to_array()
    assert np.array_equal(total, sacrum.to_array().astype(np.int8))
    line = sacral_centreline(sacrum)
    assert line[0, 2] > line[-1, 2]
    # The sacral axis bends backwards: its lower end lies posterior to its upper end.
    assert line[-1, 1] > line[0, 1]
    for name in SEGMENTS:
        assert dice(segments[name], pelvis.vertebrae[name]) > 0.7, name  # type: ignore[attr-defined]


def test_split_keeps_a_given_s1(pelvis: object) -> None:
    sacrum = _sacrum(pelvis)
    s1 = pelvis.vertebrae["S1"]  # type: ignore[attr-defined]
    segments = split_sacrum(sacrum, s1=s1, n_segments=4)
    assert list(segments) == ["S1", "S2", "S3", "S4"]
    assert segments["S1"] is s1
    assert not (segments["S2"].to_array() & s1.to_array()).any()
    with pytest.raises(AnatomyError, match="n_segments"):
        split_sacrum(sacrum, n_segments=6)


def test_segments_compartments_match_phantom(pelvis: object) -> None:
    segments = {name: pelvis.vertebrae[name] for name in SEGMENTS[:4]}  # type: ignore[attr-defined]
    derived = derive_sacral_canal(
        segments, neighbours={"L5": pelvis.vertebrae["L5"]}  # type: ignore[attr-defined]
    )
    assert set(derived.per_level.values()) == {"ring closure"}
    for name, mask in segments.items():
        for canal, floor in ((pelvis.canal, 0.92), (derived, 0.85)):  # type: ignore[attr-defined]
            result = label_sacral_segment(mask, level=name, canal=canal)
            assert result.names[4] == "median crest"
            for k in range(1, 7):
                value = dice(result.sector(k), pelvis.parts[name][k])  # type: ignore[attr-defined]
                assert value >= floor, f"{name} compartment {k}: Dice {value:.3f}"
    with pytest.raises(AnatomyError, match="sacral"):
        label_sacral_segment(segments["S1"], level="L5")


def test_foramina_lie_lateral_to_the_canal(pelvis: object) -> None:
    segments = {name: pelvis.vertebrae[name] for name in SEGMENTS}  # type: ignore[attr-defined]
    foramina = derive_sacral_foramina(segments, pelvis.canal)  # type: ignore[attr-defined]
    assert dice(foramina, pelvis.sacral_foramina) > 0.75  # type: ignore[attr-defined]
    assert not (foramina.to_array() & pelvis.canal.to_array()).any()  # type: ignore[attr-defined]
