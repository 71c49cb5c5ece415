"""Protocol presets: shipped presets load, match the trial texts, bad files say where."""

from __future__ import annotations

from pathlib import Path

import pytest

from spinetv import ProtocolError
from spinetv.planning.protocols import DEFAULT_PROTOCOL, list_protocols, load_protocol

SHIPPED = (
    "chictr1900023401-involved",
    "chictr1900023401-whole",
    "isrc-2012",
    "rtog-0631",
    "sib-sbrt-2025",
)


def test_every_preset_the_issue_names_is_shipped() -> None:
    assert set(SHIPPED) <= set(list_protocols())
    assert DEFAULT_PROTOCOL in list_protocols()


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_presets_load_with_sources(name: str) -> None:
    protocol = load_protocol(name)
    assert protocol.id == name
    assert protocol.ptv.source
    assert protocol.cord_evaluation is not None
    assert protocol.cord_evaluation.above_mm == protocol.cord_evaluation.below_mm == 6.0
    assert protocol.as_dict()["guideline"] == protocol.guideline


def test_sib_sbrt_values_match_the_trial_text() -> None:
    protocol = load_protocol("sib-sbrt-2025")
    assert protocol.ptv.margin.as_tuple() == (2.0, 2.0, 2.0, 2.0, 5.0, 5.0)
    assert protocol.ptv_eval is not None
    assert protocol.ptv_eval.spine_subtract == ("SpinalCanal",)
    assert protocol.ptv_eval.sacrum_subtract == ("SacralCanal", "SacralForamina")
    assert [(p.name, p.margin_mm) for p in protocol.prvs] == [("SpinalCord_PRV02", 2.0)]
    assert protocol.thecal_sac is not None and protocol.thecal_sac.below_level == "L2"


def test_trial_arms_differ_only_in_guideline() -> None:
    involved = load_protocol("chictr1900023401-involved")
    whole = load_protocol("chictr1900023401-whole")
    assert involved.guideline == "isrc-2012"
    assert whole.guideline == "whole-vertebra"
    assert involved.ptv.margin == whole.ptv.margin
    assert involved.ptv.margin.as_tuple() == (3.0,) * 6


def test_isrc_trims_the_ptv_at_the_cord() -> None:
    assert load_protocol("isrc-2012").ptv.subtract == ("SpinalCord",)


def test_unknown_name_lists_presets() -> None:
    with pytest.raises(ProtocolError, match="sib-sbrt-2025"):
        load_protocol("no-such-protocol")


BASE = Path(__file__).resolve().parents[2] / "src/spinetv/planning/data/sib-sbrt-2025.toml"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("left = 2.0,", "left = -2.0,", r"\[ptv.margin_mm\] field 'left'"),
        ("left = 2.0,", "lateral = 2.0,", "unknown direction"),
        ('name = "SpinalCord_PRV02"', 'name = "Spinal cord PRV 2mm"', r"\[prv\[0\]\] field 'name'"),
        ('guideline = "isrc-2012"', "guideline = 3", "field 'guideline'"),
        (
            "verified = true\n\n[ptv_eval]",
            'verified = "yes"\n\n[ptv_eval]',
            r"\[ptv\] field 'verified'",
        ),
        ("above_mm = 6.0", 'above_mm = "six"', "above_mm"),
    ],
)
def test_malformed_user_file_names_section_and_field(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    text = BASE.read_text()
    assert old in text
    path = tmp_path / "mine.toml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ProtocolError, match=message) as info:
        load_protocol(path)
    assert "mine.toml" in str(info.value)


def test_invalid_toml_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("id = [unclosed")
    with pytest.raises(ProtocolError, match="not valid TOML"):
        load_protocol(path)


def test_user_file_loads_like_a_preset(tmp_path: Path) -> None:
    path = tmp_path / "local.toml"
    path.write_text(BASE.read_text().replace('id = "sib-sbrt-2025"', 'id = "local"'))
    assert load_protocol(path).id == "local"


def test_a_folder_or_non_text_file_is_a_protocol_error(tmp_path: Path) -> None:
    folder = tmp_path / "preset.toml"
    folder.mkdir()
    with pytest.raises(ProtocolError, match="is a folder"):
        load_protocol(folder)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ProtocolError, match="not UTF-8"):
        load_protocol(binary)


def test_a_folder_named_like_a_preset_does_not_shadow_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "isrc-2012").mkdir()
    assert load_protocol("isrc-2012").id == "isrc-2012"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('structure = "SpinalCord"', 'structure = "Spinal_Cord"', "not a structure spinetv"),
        ('spine_subtract = ["SpinalCanal"]', 'spine_subtract = ["Canal"]', "spine_subtract"),
        ('below_level = "L2"', 'below_level = "L6"', "not a vertebral level"),
    ],
)
def test_unknown_structures_and_levels_are_refused_at_load(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = tmp_path / "mine.toml"
    text = BASE.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ProtocolError, match=message):
        load_protocol(path)


def test_level_names_are_canonical(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(BASE.read_text().replace('below_level = "L2"', 'below_level = "l2"'))
    protocol = load_protocol(path)
    assert protocol.thecal_sac is not None and protocol.thecal_sac.below_level == "L2"
