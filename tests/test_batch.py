"""``spinetv batch`` on a cohort of 20 small phantoms x 2 trial arms: isolation, summary, resume."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pytest

from spinetv.batch import (
    DONE_MARKER,
    SUMMARY_COLUMNS,
    BatchCase,
    BatchStatus,
    ManifestError,
    ManifestWarning,
    read_manifest,
    run_batch,
)
from spinetv.cli import main
from spinetv.errors import OutputExistsError
from spinetv.io.rtstruct import read_rtstruct
from spinetv.phantom import GtvSpec, make_spine_phantom, write_phantom

ARMS = ("chictr1900023401-involved", "chictr1900023401-whole")
# (levels, lesion): small phantoms (2-3 levels, 3 mm slices) so the cohort stays quick.
SPECS = (
    (("L1", "L2", "L3"), GtvSpec(level="L2", sectors=(1, 2), body_side="left")),
    (("T11", "T12", "L1"), GtvSpec(level="T12", sectors=(1,), body_side="focal")),
    (("L2", "L3"), GtvSpec(level="L3", sectors=(1, 6), body_side="right")),
    (("L3", "L4", "L5"), GtvSpec(level="L4", sectors=(4,))),
    (("T9", "T10", "T11"), GtvSpec(level="T10", sectors=(1,), body_side="diffuse")),
    (("L1", "L2"), GtvSpec(level="L1", sectors=(2, 3))),
)
N_GOOD = 18
BROKEN = ("broken_missing_rtstruct", "broken_gtv_name")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """18 written phantoms and a manifest of 20 rows (2 deliberately broken); returns it."""
    root = tmp_path_factory.mktemp("cohort")
    rows = ["case_id,image,rtstruct,gtv,vertebrae,protocols"]
    for i in range(N_GOOD):
        levels, gtv = SPECS[i % len(SPECS)]
        phantom = make_spine_phantom(levels=levels, spacing_mm=(3.0, 1.5, 1.5), gtv=gtv, seed=i)
        write_phantom(phantom, root / f"case{i:02d}")
        separator = ";" if i % 2 else "|"
        rows.append(
            f"case{i:02d},case{i:02d}/CT,case{i:02d}/RTSTRUCT.dcm,GTV,auto,{separator.join(ARMS)}"
        )
    rows.append(f"{BROKEN[0]},case00/CT,case00/no_such_RS.dcm,GTV,auto,{';'.join(ARMS)}")
    rows.append(f"{BROKEN[1]},case01/CT,case01/RTSTRUCT.dcm,GTV_typo,auto,{';'.join(ARMS)}")
    manifest = root / "cohort.csv"
    manifest.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return manifest


def _summary(out: Path) -> list[dict[str, str]]:
    with (out / "summary.csv").open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == SUMMARY_COLUMNS
        return list(reader)


def _outputs(out: Path) -> list[Path]:
    return sorted([*out.glob("*/*/RS.dcm"), *out.glob("*/*/report.json")])


@pytest.fixture(scope="module")
def first_run(
    cohort: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, int, str, float]:
    out = tmp_path_factory.mktemp("batch_out")
    start = time.perf_counter()
    code = main(["batch", str(cohort), "--out", str(out), "--jobs", "2"])
    return out, code, "", time.perf_counter() - start


@pytest.mark.slow
def test_cohort_finishes_with_failures_isolated(first_run: tuple[Path, int, str, float]) -> None:
    out, code, _, seconds = first_run
    print(f"batch of 20 cases x 2 protocols, --jobs 2: {seconds:.1f} s")
    assert code == 1
    rows = _summary(out)
    assert len(rows) == 20 * 2
    failed = [r for r in rows if r["status"] == "failed"]
    assert sorted({r["case_id"] for r in failed}) == sorted(BROKEN)
    assert len(failed) == 4
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) == N_GOOD * 2
    messages = {r["case_id"]: r["error"] for r in failed}
    assert "no_such_RS.dcm" in messages[BROKEN[0]]
    assert "GTV_typo" in messages[BROKEN[1]]
    assert all("\n" not in r["error"] for r in failed)
    # 36 case/protocol outputs, none for the broken cases
    outputs = _outputs(out)
    assert len(outputs) == N_GOOD * 2 * 2
    for name in BROKEN:
        assert not list((out / name).glob("*/RS.dcm"))
    # the rows of the manifest, in its order, each arm once per case
    assert [r["case_id"] for r in rows[:4]] == ["case00", "case00", "case01", "case01"]
    assert [r["protocol"] for r in rows[:2]] == list(ARMS)


@pytest.mark.slow
def test_summary_agrees_with_reports_and_arms(first_run: tuple[Path, int, str, float]) -> None:
    out, *_ = first_run
    rows = [r for r in _summary(out) if r["status"] == "ok"]
    by_case: dict[str, dict[str, dict[str, str]]] = {}
    for row in rows:
        by_case.setdefault(row["case_id"], {})[row["protocol"]] = row
        report = json.loads((out / row["case_id"] / row["protocol"] / "report.json").read_text())
        assert report["protocol"]["id"] == row["protocol"]
        assert row["levels"] == ";".join(report["involved_levels"])
        volume = report["structures"]["CTV"]["volume_cc"]
        assert float(row["ctv_cc"]) == pytest.approx(volume, abs=1e-3)
        assert float(row["ptv_cc"]) > float(row["ctv_cc"])
        assert float(row["ptv_eval_cc"]) <= float(row["ptv_cc"])
    for i in range(N_GOOD):
        arms = by_case[f"case{i:02d}"]
        involved, whole = arms[ARMS[0]], arms[ARMS[1]]
        spec = SPECS[i % len(SPECS)][1]
        # the lesion's level is planned; the whole-vertebra arm takes all six sectors there
        assert spec.level in involved["levels"].split(";")
        whole_sectors = dict(item.split(":") for item in whole["ctv_sectors"].split(";"))
        assert whole_sectors[spec.level] == "1,2,3,4,5,6"
        assert float(involved["ctv_cc"]) <= float(whole["ctv_cc"]) + 1e-6
    structure_set = read_rtstruct(out / "case00" / ARMS[0] / "RS.dcm")
    assert {"GTV", "CTV", "PTV", "PTV_Eval"} <= set(structure_set.names)


@pytest.mark.slow
def test_rerun_resumes_without_redoing(
    cohort: Path, first_run: tuple[Path, int, str, float], capsys: pytest.CaptureFixture[str]
) -> None:
    out, *_ = first_run
    before = {p: p.stat().st_mtime_ns for p in [*_outputs(out), *out.glob(f"*/{DONE_MARKER}")]}
    code = main(["batch", str(cohort), "--out", str(out), "--jobs", "2"])
    assert code == 1
    captured = capsys.readouterr()
    assert "4 failed" in captured.out
    assert "skipped-resumed" in captured.err  # the progress lines
    rows = _summary(out)
    statuses = [r["status"] for r in rows]
    assert statuses.count("skipped-resumed") == N_GOOD * 2
    assert statuses.count("failed") == 4
    after = {p: p.stat().st_mtime_ns for p in before}
    assert after == before
    # resumed rows keep the values of the run that made them
    resumed = next(r for r in rows if r["case_id"] == "case00" and r["protocol"] == ARMS[0])
    assert resumed["ctv_cc"] and resumed["levels"]


# ---- small runs in this process (jobs=1) ----------------------------------------------------
@pytest.fixture(scope="module")
def two_cases(cohort: Path) -> tuple[BatchCase, ...]:
    cases = read_manifest(cohort)
    return cases[:2]


def test_changed_inputs_are_redone_and_force_redoes_all(
    two_cases: tuple[BatchCase, ...], tmp_path: Path
) -> None:
    seen: list[tuple[int, int]] = []
    first = run_batch(two_cases, tmp_path, jobs=1, progress=lambda d, t, r: seen.append((d, t)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert first.count(BatchStatus.OK) == 4
    rs = tmp_path / "case00" / ARMS[0] / "RS.dcm"
    stamp = rs.stat().st_mtime_ns
    changed = (
        BatchCase(**{**two_cases[0].__dict__, "vertebrae": "L1;L2;L3"}),
        two_cases[1],
    )
    second = run_batch(changed, tmp_path, jobs=1)
    assert [r.status for r in second.rows] == [
        BatchStatus.OK,
        BatchStatus.OK,
        BatchStatus.RESUMED,
        BatchStatus.RESUMED,
    ]
    assert rs.stat().st_mtime_ns != stamp
    with pytest.raises(OutputExistsError, match="earlier run"):
        run_batch(changed, tmp_path, jobs=1, resume=False)
    forced = run_batch(changed, tmp_path, jobs=1, force=True)
    assert forced.count(BatchStatus.OK) == 4


def test_an_input_changed_in_place_is_redone(
    two_cases: tuple[BatchCase, ...], tmp_path: Path
) -> None:
    # The same paths, but the RTSTRUCT exported again (a newer modification time): redone, not
    # resumed.
    import os
    import shutil

    source = two_cases[0].rtstruct
    assert source is not None
    copy = tmp_path / "RS_copy.dcm"
    shutil.copy2(source, copy)
    cases = (BatchCase(**{**two_cases[0].__dict__, "rtstruct": copy}),)
    out = tmp_path / "out"
    assert run_batch(cases, out, jobs=1).count(BatchStatus.OK) == 2
    assert run_batch(cases, out, jobs=1).count(BatchStatus.RESUMED) == 2
    modified = copy.stat().st_mtime_ns + 10**10
    os.utime(copy, ns=(modified, modified))
    again = run_batch(cases, out, jobs=1)
    assert again.count(BatchStatus.OK) == 2 and again.count(BatchStatus.RESUMED) == 0


def test_a_failing_protocol_does_not_stop_the_other(
    two_cases: tuple[BatchCase, ...], tmp_path: Path
) -> None:
    preset = Path(__file__).parents[1] / "src/spinetv/planning/data" / f"{ARMS[0]}.toml"
    text = preset.read_text(encoding="utf-8")
    bad = tmp_path / "bad-guideline.toml"
    bad.write_text(
        text.replace(f'id = "{ARMS[0]}"', 'id = "bad-guideline"').replace(
            'guideline = "isrc-2012"', 'guideline = "no-such-guideline"'
        ),
        encoding="utf-8",
    )
    case = BatchCase(**{**two_cases[0].__dict__, "protocols": (str(bad), ARMS[1])})
    summary = run_batch([case], tmp_path / "out", jobs=1, html=True)
    failed, ok = summary.rows
    assert failed.status is BatchStatus.FAILED and "no-such-guideline" in failed.error
    assert ok.status is BatchStatus.OK
    assert (tmp_path / "out" / "case00" / ARMS[1] / "report.html").is_file()
    marker = json.loads((tmp_path / "out" / "case00" / DONE_MARKER).read_text())
    assert list(marker["protocols"]) == [ARMS[1]]


# ---- the manifest ---------------------------------------------------------------------------
def _manifest(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.csv"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("case_id,image,gtv\nA,ct,GTV\n", r"row 1: missing column\(s\) protocols"),
        ("case_id,image,gtv,protocols\nA,ct,,isrc-2012\n", r"row 2 \(case A\), column 'gtv'"),
        (
            "case_id,image,gtv,protocols\nA,ct,GTV,sib-sbrt-2025\nB,ct,GTV,no-such-preset\n",
            r"row 3 \(case B\), column 'protocols': unknown protocol 'no-such-preset'",
        ),
        (
            "case_id,image,gtv,protocols\nA,ct,GTV,sib-sbrt-2025\na,ct,GTV,sib-sbrt-2025\n",
            r"row 3 \(case a\), column 'case_id': duplicate of row 2",
        ),
        (
            "case_id,image,gtv,vertebrae,protocols\nA,ct,GTV,L1;L9,sib-sbrt-2025\n",
            r"row 2 \(case A\), column 'vertebrae': 'L9' is not a vertebral level",
        ),
        ("case_id,image,gtv,protocols\n../x,ct,GTV,sib-sbrt-2025\n", r"column 'case_id'"),
        ("case_id,image,gtv,protocols\n", "no case rows"),
    ],
)
def test_bad_manifest_names_file_row_and_column(tmp_path: Path, text: str, match: str) -> None:
    path = _manifest(tmp_path, text)
    with pytest.raises(ManifestError, match=match) as caught:
        read_manifest(path)
    assert str(path) in str(caught.value)


def test_bad_manifest_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _manifest(tmp_path, "case_id,image,gtv,protocols\nA,ct,GTV,;\n")
    assert main(["batch", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "column 'protocols'" in capsys.readouterr().err
    assert main(["batch", str(tmp_path / "absent.csv"), "--out", str(tmp_path / "o")]) == 2


def test_manifest_paths_are_relative_to_it_and_lists_split(tmp_path: Path) -> None:
    path = _manifest(
        tmp_path,
        "\ufeffCase_ID, image ,rtstruct,gtv,vertebrae,protocols,labelmap,notes\n"
        "A,ct/A,rs/A.dcm,GTV,L1|L2,chictr1900023401-involved | sib-sbrt-2025,,x\n"
        "\n# comment,,,,,,,\n"
        "B,/abs/ct,,gtv.nii.gz,,sib-sbrt-2025,seg.nii.gz,\n",
    )
    with pytest.warns(ManifestWarning, match="notes"):
        first, second = read_manifest(path)
    assert first.image == tmp_path / "ct" / "A"
    assert first.rtstruct == tmp_path / "rs" / "A.dcm"
    assert first.protocols == ("chictr1900023401-involved", "sib-sbrt-2025")
    assert first.vertebrae == "L1|L2" and first.row == 2
    assert second.image == Path("/abs/ct") and second.rtstruct is None
    assert second.gtv == str(tmp_path / "gtv.nii.gz")
    assert second.labelmap == tmp_path / "seg.nii.gz"
    assert second.row == 5


def test_vertebrae_pairs_need_a_level_and_one_entry_per_name() -> None:
    from spinetv.batch import parse_vertebrae
    from spinetv.errors import SpinetvError

    assert parse_vertebrae("Vert_A=L2;L3=Vert_B") == {"Vert_A": "L2", "L3": "Vert_B"}
    with pytest.raises(SpinetvError, match="neither side is a vertebral level"):
        parse_vertebrae("Vert_A=Vert_B")
    with pytest.raises(SpinetvError, match="'Vert_A' given twice"):
        parse_vertebrae("Vert_A=L2;Vert_A=L3")


def test_a_dose_column_evaluates_each_arm_against_its_protocol(tmp_path: Path) -> None:
    import numpy as np

    from dicom_checks import write_rtdose_on

    model = make_spine_phantom(
        levels=("L1", "L2", "L3"), spacing_mm=(3.0, 1.5, 1.5),
        gtv=GtvSpec(level="L2", sectors=(1,)), seed=2,
    )
    write_phantom(model, tmp_path / "c0")
    values = np.full(model.grid.shape, 30.0)
    values[model.gtv.to_array()] = 43.0
    write_rtdose_on(model.grid, values, tmp_path / "c0" / "RD.dcm")
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "case_id,image,rtstruct,gtv,protocols,dose\n"
        "c0,c0/CT,c0/RTSTRUCT.dcm,GTV,sib-sbrt-2025;chictr1900023401-involved,"
        "sib-sbrt-2025=c0/RD.dcm\n",
        encoding="utf-8",
    )
    cases = read_manifest(manifest)
    assert set(cases[0].doses) == {"sib-sbrt-2025"}
    out = tmp_path / "out"
    summary = run_batch(cases, out, jobs=1)
    rows = {r.protocol: r for r in summary.rows}
    assert all(r.status is BatchStatus.OK for r in rows.values())
    dose = rows["sib-sbrt-2025"].dose
    assert dose is not None and dose["mandatory_passed"] + dose["mandatory_failed"] >= 7
    assert rows["chictr1900023401-involved"].dose is None
    written = _summary(out)
    by_protocol = {r["protocol"]: r for r in written}
    assert by_protocol["sib-sbrt-2025"]["dose_mandatory_passed"] != ""
    assert by_protocol["chictr1900023401-involved"]["dose_mandatory_passed"] == ""
    report = json.loads((out / "c0" / "sib-sbrt-2025" / "dose.json").read_text())
    assert report["protocol"] == "sib-sbrt-2025" and report["constraints"]
    with pytest.raises(ManifestError, match="column 'dose'.*'nope' is not a protocol"):
        bad = tmp_path / "bad.csv"
        bad.write_text("case_id,image,gtv,protocols,dose\nc0,c0/CT,GTV,sib-sbrt-2025,nope=RD.dcm\n",
                       encoding="utf-8")
        read_manifest(bad)
