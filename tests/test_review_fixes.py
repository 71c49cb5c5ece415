"""Regression tests for the review findings on case reading and the case commands."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from spinetv.case import ORGAN_ALIASES, load_case
from spinetv.cli import main
from spinetv.commands import sectors as sectors_command
from spinetv.errors import AnatomyError, OutputExistsError
from spinetv.geometry.labels import LabelMap
from spinetv.geometry.mask import Mask
from spinetv.guidelines.loader import load_guideline
from spinetv.io.atomic import check_writable
from spinetv.io.images import write_label_image
from spinetv.io.rtstruct import read_rtstruct
from spinetv.phantom import GtvSpec, make_spine_phantom, write_phantom

TOTAL_IDS = {"L1": 31, "L2": 30, "L3": 29}
CORD_ID = 79


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    phantom = make_spine_phantom(
        levels=("L1", "L2", "L3"),
        spacing_mm=(2.0, 1.0, 1.0),
        gtv=GtvSpec(level="L2", sectors=(1, 2), body_side="left"),
        seed=3,
    )
    return write_phantom(phantom, tmp_path_factory.mktemp("review"))


@pytest.fixture(scope="module")
def contoured(written: tuple[Path, Path]):  # type: ignore[no-untyped-def]
    ct, rs = written
    return load_case(ct, rs, gtv="GTV")


@pytest.fixture(scope="module")
def labelmap(
    written: tuple[Path, Path], contoured, tmp_path_factory: pytest.TempPathFactory
) -> Path:  # type: ignore[no-untyped-def]  # noqa: E501
    """TotalSegmentator-style labels: the contoured vertebrae, and a 'cord' in the L2 body."""
    grid = contoured.anatomy.grid
    full = np.zeros(grid.shape, dtype=np.uint8)
    for level, label in TOTAL_IDS.items():
        full[contoured.anatomy.vertebrae[level].to_array()] = label
    # A cord deliberately elsewhere than the contoured one (in front of the L2 body, clear of
    # every vertebra), so the two are told apart.
    body = contoured.anatomy.vertebrae["L2"].to_array()
    k, _, i = (int(np.median(a)) for a in np.nonzero(body))
    j = int(np.nonzero(body)[1].min()) - 8
    spot = (slice(k - 1, k + 2), slice(j - 2, j + 3), slice(i - 2, i + 3))
    assert not full[spot].any()
    full[spot] = CORD_ID
    path = tmp_path_factory.mktemp("seg") / "seg.nii.gz"
    write_label_image(LabelMap.from_array(grid, full), path)
    return path


def _same(a: Mask | None, b: Mask | None) -> bool:
    assert a is not None and b is not None
    return bool(np.array_equal(a.to_array(), b.to_array()))


# 1. cord precedence ------------------------------------------------------------------------


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


# 2. --vertebrae mapping on label-map levels ---------------------------------------------------


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


# 3. thecal sac aliases ------------------------------------------------------------------------


def test_cauda_equina_is_not_taken_for_the_thecal_sac(contoured) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    assert not any("cauda" in alias.lower() for alias in ORGAN_ALIASES["thecal_sac"])
    assert contoured.sources["thecal_sac"].endswith(":ThecalSac")


# 4./5. outputs never replace inputs or each other -----------------------------------------------


def _plan_args(ct: Path, rs: Path, *extra: str) -> list[str]:
    return ["plan", str(ct), "--rtstruct", str(rs), "--gtv", "GTV", *extra]


def test_plan_refuses_to_write_over_its_input_rtstruct_even_with_force(
    written: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    ct, rs = written
    before = rs.read_bytes()
    assert main(_plan_args(ct, rs, "--out", str(rs), "--force")) != 0
    assert "is the input --rtstruct" in capsys.readouterr().err
    assert rs.read_bytes() == before


def test_plan_refuses_outputs_inside_the_ct_folder_and_duplicates(
    written: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ct, rs = written
    assert main(_plan_args(ct, rs, "--out", str(ct / "RS_new.dcm"))) != 0
    assert "inside the input folder CT_DIR" in capsys.readouterr().err
    assert not (ct / "RS_new.dcm").exists()
    same = str(tmp_path / "x.dcm")
    assert main(_plan_args(ct, rs, "--out", same, "--report", same, "--force")) != 0
    assert "is also the output --out" in capsys.readouterr().err
    assert not Path(same).exists()


def test_plan_refuses_overwriting_the_gtv_mask_file(
    written: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ct, rs = written
    mask = tmp_path / "gtv.nii.gz"
    mask.write_bytes(b"not read: refused first")
    args = [
        "plan",
        str(ct),
        "--rtstruct",
        str(rs),
        "--gtv",
        str(mask),
        "--out",
        str(tmp_path / "o.dcm"),
    ]
    assert main([*args, "--report", str(mask), "--force"]) != 0
    assert "is the input --gtv" in capsys.readouterr().err


def test_check_writable_names_a_parent_that_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "report.json"
    blocker.write_text("{}")
    with pytest.raises(OutputExistsError, match="report.json is a file"):
        check_writable(blocker / "sub" / "out.dcm", overwrite=True)


def test_plan_refuses_an_output_under_a_file_before_computing(
    written: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ct, rs = written
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = tmp_path / "o.dcm"
    assert main(_plan_args(ct, rs, "--out", str(out), "--html", str(blocker / "r.html"))) != 0
    assert "is a file" in capsys.readouterr().err
    assert not out.exists()


def test_sectors_checks_label_files_before_writing_the_rtstruct(
    written: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ct, rs = written
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "L3_sectors.nii.gz").write_bytes(b"earlier run")
    out = tmp_path / "s.dcm"
    args = ["sectors", str(ct), "--rtstruct", str(rs), "--out", str(out)]
    assert main([*args, "--labels-out", str(labels)]) != 0
    assert "L3_sectors.nii.gz: exists" in capsys.readouterr().err
    assert not out.exists()
    assert main([*args, "--labels-out", str(ct / "labels")]) != 0
    assert "inside the input folder" in capsys.readouterr().err


def test_demo_refuses_to_write_into_the_sample_case(capsys: pytest.CaptureFixture[str]) -> None:
    from spinetv.sample import sample_case_dir

    try:
        sample = sample_case_dir()
    except Exception:  # the sample is optional data
        pytest.skip("no bundled sample case")
    assert main(["demo", "--out", str(sample / "CT" / "out"), "--force"]) != 0
    assert "inside the input folder" in capsys.readouterr().err


# 6. plan fails fast on bad options ------------------------------------------------------------


def test_plan_rejects_a_bad_margin_or_protocol_before_reading_the_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The CT folder does not exist: an error about it would mean the case was read first.
    base = ["plan", str(tmp_path / "no_ct"), "--rtstruct", "RS.dcm", "--gtv", "GTV"]
    assert main([*base, "--out", str(tmp_path / "o.dcm"), "--ptv-margin", "abc"]) != 0
    err = capsys.readouterr().err
    assert "no_ct" not in err and "abc" in err
    assert main([*base, "--out", str(tmp_path / "o.dcm"), "--protocol", "no-such-protocol"]) != 0
    err = capsys.readouterr().err
    assert "no_ct" not in err and "no-such-protocol" in err


# 7. --name-suffix -----------------------------------------------------------------------------


def test_name_suffix_making_a_name_too_long_is_refused_up_front(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["plan", str(tmp_path / "no_ct"), "--rtstruct", "RS.dcm", "--gtv", "GTV"]
    assert main([*base, "--out", str(tmp_path / "o.dcm"), "--name-suffix", "_reviewed"]) != 0
    err = capsys.readouterr().err
    # PTV_Eval + _reviewed: 17 characters, named in the message, nothing cut.
    assert "'PTV_Eval_reviewed'" in err and "TG-263" in err
    assert main([*base, "--out", str(tmp_path / "o.dcm"), "--name-suffix", " A"]) != 0
    assert "characters other than" in capsys.readouterr().err


def test_rename_refuses_instead_of_cutting(contoured) -> None:  # type: ignore[no-untyped-def]
    from spinetv.errors import SpinetvError
    from spinetv.outputs import rename
    from spinetv.structure import Structure

    sector = Structure("Sacrum_Lamina_L", contoured.anatomy.vertebrae["L2"])
    with pytest.raises(SpinetvError, match="Sacrum_Lamina_L_B"):
        rename([sector], "_B")
    assert [s.name for s in rename([sector], "")] == ["Sacrum_Lamina_L"]


# 8. ctv names from the guideline id ---------------------------------------------------------


def test_ctv_names_come_from_the_guideline_id_not_the_path(
    written: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ct, rs = written
    shipped = Path(str(load_guideline("whole-vertebra").source))
    copy = tmp_path / "myg.toml"
    shutil.copyfile(shipped, copy)
    out = tmp_path / "c.dcm"
    args = ["ctv", str(ct), "--rtstruct", str(rs), "--gtv", "GTV", "--out", str(out)]
    assert main([*args, "--guideline", f"isrc-2012,{copy}"]) == 0
    names = read_rtstruct(out).names
    assert "CTV_isrc-2012" in names and "CTV_whole-verteb" in names
    assert not any("/" in n for n in names)
    assert main([*args, "--guideline", "isrc-2012", "--name", "My CTV", "--force"]) != 0
    assert "'My CTV'" in capsys.readouterr().err


# 9. no empty derived ROIs ----------------------------------------------------------------------


def test_sectors_does_not_write_an_empty_derived_canal(
    written: tuple[Path, Path], labelmap: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ct, _ = written
    real = sectors_command.label_case_sectors

    def empty_canal(*args, **kwargs):  # type: ignore[no-untyped-def]
        result = real(*args, **kwargs)
        empty = Mask.from_array(result.canal.grid, np.zeros(result.canal.grid.shape, bool))
        return dataclasses.replace(result, canal=empty)

    base = ["sectors", str(ct), "--labelmap", str(labelmap)]
    assert main([*base, "--out", str(tmp_path / "a.dcm")]) == 0
    assert "SpinalCanal" in read_rtstruct(tmp_path / "a.dcm").names
    monkeypatch.setattr(sectors_command, "label_case_sectors", empty_canal)
    assert main([*base, "--out", str(tmp_path / "b.dcm")]) == 0
    assert "SpinalCanal" not in read_rtstruct(tmp_path / "b.dcm").names
