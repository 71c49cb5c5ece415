"""Writing a planned case as library code: RTSTRUCT or a NIfTI mask folder, report, checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from spinetv.case import load_case
from spinetv.cli import main
from spinetv.errors import OutputExistsError
from spinetv.geometry.labels import LabelMap
from spinetv.io.images import read_label_map, write_label_image, write_mask_image
from spinetv.io.sidecar import SIDECAR_NAME, read_sidecar
from spinetv.outputs import PlanOutputs, check_outputs, is_mask_folder, plan_and_write
from spinetv.pipeline import PlanOptions

phantom = pytest.importorskip("spinetv.phantom")

#: TotalSegmentator ``total`` labels of the phantom's levels and cord.
TOTAL_LABELS = {"L1": 31, "L2": 30, "L3": 29, "SpinalCord": 79}


@pytest.fixture(scope="module")
def nifti_case(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A lumbar phantom as a research dataset: CT, GTV and TotalSegmentator labels in NIfTI."""
    import SimpleITK as sitk

    from spinetv.io.images import grid_to_sitk

    model = phantom.make_spine_phantom(
        levels=("L1", "L2", "L3"),
        spacing_mm=(1.5, 1.0, 1.0),
        gtv=phantom.GtvSpec(level="L2", sectors=(1, 2), body_side="left"),
        seed=3,
    )
    folder = tmp_path_factory.mktemp("nifti_case")
    ct = folder / "ct.nii.gz"
    sitk.WriteImage(grid_to_sitk(model.grid, model.hu), str(ct))
    labels = np.zeros(model.grid.shape, dtype=np.uint8)
    for level in ("L1", "L2", "L3"):
        labels[model.vertebrae[level].to_array()] = TOTAL_LABELS[level]
    labels[model.cord.to_array()] = TOTAL_LABELS["SpinalCord"]
    seg = write_label_image(LabelMap.from_array(model.grid, labels), folder / "seg.nii.gz")
    gtv = write_mask_image(model.gtv, folder / "gtv.nii.gz")
    return {"ct": ct, "seg": seg, "gtv": gtv, "folder": folder}


def test_a_nifti_case_plans_end_to_end_into_a_mask_folder(
    nifti_case: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "planned"
    report = tmp_path / "r.json"
    code = main([
        "plan", str(nifti_case["ct"]), "--labelmap", str(nifti_case["seg"]),
        "--gtv", str(nifti_case["gtv"]), "--protocol", "sib-sbrt-2025",
        "--out", str(out), "--report", str(report),
    ])
    assert code == 0, capsys.readouterr().err
    written = json.loads(report.read_text())
    jsonschema = pytest.importorskip("jsonschema")
    from spinetv.report.model import schema

    jsonschema.validate(written, schema())  # with the inputs and outputs sections
    assert written["output_format"] == "nifti"
    assert written["inputs"]["image"] == str(nifti_case["ct"])
    sidecar = read_sidecar(out / SIDECAR_NAME)
    by_name = {entry.name: out / file for file, entry in sidecar.items()}
    for name in ("CTV", "PTV", "PTV_Eval", "SpinalCord_PRV02"):
        assert name in by_name, f"{name} missing from {sorted(by_name)}"
        mask = read_label_map(by_name[name]).mask_of(1)
        assert mask.volume_cc == pytest.approx(written["structures"][name]["volume_cc"], abs=1e-3)
    sectors = read_label_map(out / "sectors" / "L2_sectors.nii.gz")
    assert set(sectors.labels) == {1, 2, 3, 4, 5, 6}
    # Nothing but the listed files: no temporary folder left beside or inside.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["planned", "r.json"]
    assert {p.name for p in out.iterdir()} == {*sidecar, SIDECAR_NAME, "sectors"}
    # The masks convert back to an RTSTRUCT-ready set: the folder holds masks and the sidecar only.
    assert all(p.is_dir() or p.name in sidecar or p.name == SIDECAR_NAME for p in out.iterdir())


def test_the_library_call_writes_what_the_command_writes(
    nifti_case: dict[str, Path], tmp_path: Path
) -> None:
    case = load_case(nifti_case["ct"], labelmap=nifti_case["seg"], gtv=nifti_case["gtv"])
    assert is_mask_folder(tmp_path / "anything.dcm", case)  # no DICOM series to reference
    outputs = PlanOutputs(structures=tmp_path / "masks", report=tmp_path / "r.json")
    written = plan_and_write(case, PlanOptions(protocol="sib-sbrt-2025"), outputs)
    assert written.structures[-1].name == SIDECAR_NAME
    assert all(p.exists() for p in written.structures)
    assert json.loads((tmp_path / "r.json").read_text())["structures"] == json.loads(
        json.dumps(dict(written.report)["structures"])
    )
    with pytest.raises(TypeError):
        written.report["output"] = "elsewhere"  # type: ignore[index]
    with pytest.raises(OutputExistsError):
        plan_and_write(case, PlanOptions(protocol="sib-sbrt-2025"), outputs)


def test_outputs_may_not_replace_an_input_or_each_other(
    nifti_case: dict[str, Path], tmp_path: Path
) -> None:
    inputs = {"CT": nifti_case["ct"], "--labelmap": nifti_case["seg"]}
    with pytest.raises(OutputExistsError, match="is the input --labelmap"):
        check_outputs({"--out": nifti_case["seg"]}, inputs, overwrite=True)
    with pytest.raises(OutputExistsError, match="is also the output --out"):
        check_outputs(
            {"--out": tmp_path / "a.json", "--report": tmp_path / "a.json"}, inputs,
            overwrite=False,
        )
    with pytest.raises(OutputExistsError, match="inside the input folder"):
        check_outputs({"--out": nifti_case["folder"] / "x.dcm"}, {"dir": nifti_case["folder"]},
                      overwrite=False)


def test_plan_options_load_once_and_refuse_values_out_of_range() -> None:
    from spinetv.errors import OptionsError, ProtocolError
    from spinetv.guidelines import Guideline
    from spinetv.planning.protocols import Protocol

    options = PlanOptions(protocol="sib-sbrt-2025", guideline="isrc-2012", levels=["l2", "Th12"])
    assert isinstance(options.protocol, Protocol) and isinstance(options.guideline, Guideline)
    assert options.levels == frozenset({"L2", "T12"})
    assert options.resolved_guideline() is options.guideline
    # Made again from its own values (dataclasses.replace), nothing is read twice or lost.
    from dataclasses import replace

    again = replace(options, margin_tolerance_mm=0.5)
    assert again.protocol is options.protocol and again.guideline is options.guideline
    for bad in (
        {"margin_tolerance_mm": -0.1},
        {"margin_tolerance_mm": float("nan")},
        {"derived_canal_safety_mm": 50.0},
        {"derived_thecal_sac_extent_mm": -1},
        {"max_refinement": 0},
        {"max_refinement": 2.5},
        {"levels": ["L2", "PTV_L3"]},
        {"circumferential_epidural": ["L9"]},
    ):
        with pytest.raises(OptionsError):
            PlanOptions(**bad)  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match="unknown protocol"):
        PlanOptions(protocol="no-such-protocol")
    with pytest.raises(TypeError):
        PlanOptions(guideline_parameters={"min_overlap_cc": 0.1}).guideline_parameters[  # type: ignore[index]
            "min_overlap_cc"
        ] = 5


def test_protocol_values_refuse_absurd_margins(tmp_path: Path) -> None:
    from dataclasses import replace

    from spinetv.errors import ProtocolError
    from spinetv.planning.protocols import MarginSpec, load_protocol

    with pytest.raises(ProtocolError, match="margin left"):
        MarginSpec(-1.0, 2, 2, 2, 2, 2)
    with pytest.raises(ProtocolError, match="from 0 to 20"):
        MarginSpec(2, 2, 2, 2, 2, 50.0)
    shipped = load_protocol("sib-sbrt-2025")
    with pytest.raises(ProtocolError, match="margin_rounding"):
        replace(shipped, margin_rounding="sometimes")
    text = Path(shipped.path).read_text(encoding="utf-8")
    assert "superior = 5.0" in text
    custom = tmp_path / "p.toml"
    custom.write_text(text.replace("superior = 5.0", "superior = 50.0"), encoding="utf-8")
    with pytest.raises(ProtocolError, match=r"p.toml.*superior.*from 0 to 20"):
        load_protocol(custom)


@pytest.mark.parametrize("command", ["sectors", "ctv"])
def test_sectors_and_ctv_of_a_nifti_case_go_to_a_mask_folder(
    command: str, nifti_case: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    gtv = ["--gtv", str(nifti_case["gtv"])] if command == "ctv" else []
    code = main([
        command, str(nifti_case["ct"]), "--labelmap", str(nifti_case["seg"]), *gtv,
        "--out", str(out),
    ])
    assert code == 0, capsys.readouterr().err
    names = {entry.name for entry in read_sidecar(out / SIDECAR_NAME).values()}
    if command == "ctv":
        assert any(name.startswith("CTV") for name in names), names
    else:
        assert {"L2_Sector1", "L2_Sector6"} <= names
        assert (out / "sectors" / "L2_sectors.nii.gz").exists()


def test_a_verse_dataset_case_plans_end_to_end(
    nifti_case: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The VerSe benchmark's label table: 20 L1, 21 L2, 22 L3 ...; 25 is a transitional L6.
    seg = read_label_map(nifti_case["seg"])
    total_to_verse = {31: 20, 30: 21, 29: 22}
    labels = np.zeros(seg.grid.shape, dtype=np.uint8)
    values = seg.to_array()
    for total, verse in total_to_verse.items():
        labels[values == total] = verse
    labels[0, 0, 0] = 25  # a stray transitional vertebra: read, warned about, not used
    verse_seg = write_label_image(LabelMap.from_array(seg.grid, labels), tmp_path / "verse.nii.gz")
    out = tmp_path / "planned"
    code = main([
        "plan", str(nifti_case["ct"]), "--labelmap", str(verse_seg), "--labelmap-task", "verse",
        "--gtv", str(nifti_case["gtv"]), "--out", str(out), "--report", str(tmp_path / "r.json"),
    ])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "L6, a transitional vertebra" in captured.err
    written = json.loads((tmp_path / "r.json").read_text())
    assert written["involved_levels"] == ["L2"]
    assert (out / "sectors" / "L2_sectors.nii.gz").exists()


def test_rename_refuses_instead_of_cutting(contoured) -> None:  # type: ignore[no-untyped-def]
    from spinetv.errors import SpinetvError
    from spinetv.outputs import rename
    from spinetv.structure import Structure

    sector = Structure("Sacrum_Lamina_L", contoured.anatomy.vertebrae["L2"])
    with pytest.raises(SpinetvError, match="Sacrum_Lamina_L_B"):
        rename([sector], "_B")
    assert [s.name for s in rename([sector], "")] == ["Sacrum_Lamina_L"]
