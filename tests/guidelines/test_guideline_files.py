"""Guideline files: the shipped ones load and carry their sources; malformed ones are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from spinetv.errors import GuidelineError
from spinetv.guidelines import Guideline, list_guidelines, load_guideline, resolve_parameters
from spinetv.guidelines.loader import PARAMETER_DEFAULTS, resolve_symbol

SHIPPED = ("brainlab-elements", "ccr-sacrum-2020", "isrc-2012", "postop-2017", "rtog-0631",
           "whole-body", "whole-vertebra")

GOOD = '''
schema = 1
id = "mine"
title = "My institution"
version = "2"
applies_to = ["lumbar"]

[[citations]]
key = "me"
text = "Our protocol"

[parameters]
min_overlap_cc = 0.05

[[rows]]
id = "a"
title = "body"
condition = { body = "any" }
add = ["body", "ipsi_pedicle"]
citation = "me"
locator = "section 1"
verified = true

[[rows]]
id = "b"
title = "spinous"
condition = { involved_all = ["spinous"] }
add = ["spinous"]
citation = "me"
locator = "section 2"
verified = false
'''


def test_shipped_guidelines_load_with_sources():
    assert list_guidelines() == SHIPPED
    for name in SHIPPED:
        guideline = load_guideline(name)
        assert isinstance(guideline, Guideline)
        assert guideline.id == name and guideline.version
        keys = {c.key for c in guideline.citations}
        for row in guideline.rows:
            assert row.citation in keys and row.locator
            assert isinstance(row.verified, bool)
    isrc = load_guideline("isrc-2012")
    assert [r.id for r in isrc.rows] == list("abcdefgh")
    assert not any(r.verified for r in isrc.rows)  # transcribed from a secondary source
    assert isrc.citation("cox2012").doi == "10.1016/j.ijrobp.2012.03.009"
    assert isrc.parameters["min_overlap_cc"] == 0.02
    assert isrc.parameters["midline_tolerance_mm"] == 2.0
    assert isrc.parameters["diffuse_fraction"] == 0.5
    assert isrc.parameters["soft_tissue_margin_mm"] == 0.0
    assert load_guideline("ccr-sacrum-2020").craniocaudal.rows == ("c", "d")
    assert "PREOPERATIVE" in load_guideline("postop-2017").gtv_meaning
    assert load_guideline("isrc-2012") is load_guideline("isrc-2012")  # cached, immutable


def test_guideline_is_frozen():
    guideline = load_guideline("isrc-2012")
    with pytest.raises(AttributeError):
        guideline.id = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        guideline.parameters["min_overlap_cc"] = 1.0  # type: ignore[index]


def test_user_file_loads_and_overrides(tmp_path: Path):
    path = tmp_path / "mine.toml"
    path.write_text(GOOD)
    guideline = load_guideline(path)
    assert guideline.id == "mine" and guideline.rows[0].sided
    assert guideline.parameters["min_overlap_cc"] == 0.05
    default_tolerance = PARAMETER_DEFAULTS["midline_tolerance_mm"]
    assert guideline.parameters["midline_tolerance_mm"] == default_tolerance
    assert load_guideline(str(path)).label == "mine@2"
    merged = resolve_parameters(guideline, {"diffuse_fraction": 0.6})
    assert merged["diffuse_fraction"] == 0.6 and merged["min_overlap_cc"] == 0.05


def test_symbols_resolve_by_side():
    assert resolve_symbol("ipsi_pedicle", "left") == {2}
    assert resolve_symbol("ipsi_ala", "right") == {6}
    assert resolve_symbol("contra_tp_lamina", "left") == {5}
    assert resolve_symbol("median_crest", None) == {4}
    with pytest.raises(GuidelineError, match="needs a side"):
        resolve_symbol("ipsi_pedicle", None)


# (what to replace in GOOD, with what, fragments the message must contain)
MALFORMED = [
    ('id = "mine"\n', "", ["top level", "'id'", "missing"]),
    ('condition = { body = "any" }', 'condition = { body = "huge" }',
     ["row 'a' (#1)", "'body'", "huge"]),
    ('add = ["body", "ipsi_pedicle"]', 'add = ["body", "ipsi_pedicel"]',
     ["row 'a' (#1)", "'add'", "ipsi_pedicel"]),
    ('add = ["spinous"]', "add = [7]", ["row 'b' (#2)", "'add'", "not 1-6"]),
    ('add = ["spinous"]', "add = []", ["row 'b' (#2)", "'add'", "non-empty"]),
    ('verified = false', 'verified = "no"', ["row 'b' (#2)", "'verified'", "true or false"]),
    ('verified = false', 'verifed = false', ["row 'b' (#2)", "'verifed'", "unknown field"]),
    ('citation = "me"\nlocator = "section 2"', 'citation = "you"\nlocator = "section 2"',
     ["row 'b' (#2)", "'citation'", "you"]),
    ('condition = { involved_all = ["spinous"] }', "condition = {}",
     ["row 'b' (#2)", "'condition'", "empty"]),
    ('condition = { involved_all = ["spinous"] }', 'condition = { involved = ["spinous"] }',
     ["row 'b' (#2), condition", "'involved'", "unknown field"]),
    ('condition = { involved_all = ["spinous"] }', 'condition = { involved_all = ["involved"] }',
     ["row 'b' (#2)", "'involved_all'", "unknown sector symbol"]),
    ('id = "b"', 'id = "a"', ["'rows'", "duplicate row ids ['a']"]),
    ("min_overlap_cc = 0.05", "min_overlap = 0.05", ["parameters", "unknown parameter"]),
    ("min_overlap_cc = 0.05", "min_overlap_cc = -1", ["parameters", "min_overlap_cc", ">= 0"]),
    ('applies_to = ["lumbar"]', 'applies_to = ["pelvis"]', ["'applies_to'", "pelvis"]),
    ("schema = 1", "schema = 2", ["'schema'", "expected 1"]),
    ('title = "spinous"\n', "", ["row 'b' (#2)", "'title'", "missing"]),
    ('locator = "section 1"', 'locator = "section 1"\nadd_if = { sharp = ["body"] }',
     ["row 'a' (#1), add_if", "'sharp'", "true/false parameter"]),
    ('[[rows]]\nid = "a"', '[[rows]]\nid = 3', ["row #1", "'id'", "non-empty string"]),
    ("[parameters]", "[parameters", ["not valid TOML"]),
]


@pytest.mark.parametrize(("old", "new", "fragments"), MALFORMED)
def test_malformed_files_name_file_row_and_field(tmp_path: Path, old, new, fragments):
    assert old in GOOD
    path = tmp_path / "broken.toml"
    path.write_text(GOOD.replace(old, new, 1))
    with pytest.raises(GuidelineError) as info:
        load_guideline(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message


def test_missing_and_unknown(tmp_path: Path):
    with pytest.raises(GuidelineError, match="no such file"):
        load_guideline(tmp_path / "absent.toml")
    with pytest.raises(GuidelineError, match="unknown guideline 'isrc-2013'.*isrc-2012"):
        load_guideline("isrc-2013")
