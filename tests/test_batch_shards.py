"""``spinetv batch --shard K/N`` and ``spinetv batch-merge``; the progress line; the Dask options
without Dask installed. (Runs on a real Dask cluster: test_batch_dask.py.)"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import pytest

from spinetv.batch import BatchRow, BatchStatus, Shard, executors, merge_shard_summaries, run_batch
from spinetv.batch import read_manifest as read
from spinetv.cli import main
from spinetv.commands.batch import ProgressBar
from spinetv.errors import SpinetvError
from spinetv.phantom import GtvSpec, make_spine_phantom, write_phantom

PROTOCOLS = ("chictr1900023401-involved", "chictr1900023401-whole")
N_GOOD = 4


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 small phantoms x 2 protocols and a broken row (5 cases); returns the manifest."""
    root = tmp_path_factory.mktemp("shard_cohort")
    rows = ["case_id,image,rtstruct,gtv,vertebrae,protocols"]
    specs = (("L1", "L2"), GtvSpec(level="L2", sectors=(1, 2))), (
        ("L3", "L4"),
        GtvSpec(level="L3", sectors=(1, 6), body_side="right"),
    )
    for i in range(N_GOOD):
        levels, gtv = specs[i % 2]
        phantom = make_spine_phantom(levels=levels, spacing_mm=(3.0, 2.0, 2.0), gtv=gtv, seed=i)
        write_phantom(phantom, root / f"case{i}")
        rows.append(f"case{i},case{i}/CT,case{i}/RTSTRUCT.dcm,GTV,auto,{';'.join(PROTOCOLS)}")
        if i == 1:
            rows.append(f"broken,case0/CT,case0/RTSTRUCT.dcm,GTV_typo,auto,{PROTOCOLS[1]}")
    manifest = root / "cohort.csv"
    manifest.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return manifest


@pytest.fixture(scope="module")
def whole_run(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("whole_out")
    run_batch(read(cohort), out, jobs=1)
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)]


# ---- shards ---------------------------------------------------------------------------------
@pytest.mark.parametrize("count", [1, 3, 5, 11])
def test_shards_partition_the_manifest(count: int) -> None:
    items = list(range(8))
    parts = [Shard(k, count).select(items) for k in range(1, count + 1)]
    assert sorted(i for part in parts for i in part) == items
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert Shard.parse(f" 2 / {count + 1}") == Shard(2, count + 1)
    assert Shard(1, count).summary_name == f"summary.shard-1-of-{count}.csv"


@pytest.mark.parametrize("bad", ["0/3", "4/3", "1/0", "1", "a/b", "-1/3"])
def test_bad_shards(bad: str) -> None:
    with pytest.raises(SpinetvError, match="shard"):
        Shard.parse(bad)


def test_shards_then_merge_give_the_whole_run(
    cohort: Path, whole_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path)
    assert main(["batch", str(cohort), "--out", out, "--jobs", "1", "--shard", "1/3"]) == 0
    assert main(["batch", str(cohort), "--out", out, "--jobs", "1", "--shard", "2/3"]) == 0
    capsys.readouterr()
    # manifest: case0, case1, broken, case2, case3; parts 1 and 2 of 3 take positions 1, 4, 2, 5
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [
        "case0", "case1", "case2", "case3"
    ]
    assert main(["batch-merge", out]) == 2  # part 3 missing
    assert "3/3 missing" in capsys.readouterr().err
    assert not (tmp_path / "summary.csv").exists()
    assert main(["batch", str(cohort), "--out", out, "--jobs", "1", "--shard", "3/3"]) == 1
    parts = sorted(p.name for p in tmp_path.glob("summary.shard-*.csv"))
    assert parts == [f"summary.shard-{k}-of-3.csv" for k in (1, 2, 3)]
    assert main(["batch-merge", out]) == 1  # the broken row
    assert "1 failed" in capsys.readouterr().out
    merged = _rows(tmp_path / "summary.csv")
    assert merged == _rows(whole_run / "summary.csv")  # the same rows in the same order
    assert merge_shard_summaries(tmp_path) == tmp_path / "summary.csv"


def test_merge_refuses_mixed_or_doubled_parts(cohort: Path, tmp_path: Path) -> None:
    with pytest.raises(SpinetvError, match="no part summary"):
        merge_shard_summaries(tmp_path)
    cases = read(cohort)[:2]
    run_batch(cases, tmp_path, jobs=1, shard="1/1")
    run_batch(cases, tmp_path, jobs=1, shard=Shard(1, 2))
    with pytest.raises(SpinetvError, match="different splits"):
        merge_shard_summaries(tmp_path)
    (tmp_path / "summary.shard-1-of-1.csv").unlink()
    twice = (tmp_path / "summary.shard-1-of-2.csv").read_text(encoding="utf-8")
    (tmp_path / "summary.shard-2-of-2.csv").write_text(twice, encoding="utf-8")
    with pytest.raises(SpinetvError, match="case0 chictr1900023401-involved, .* in more than one"):
        merge_shard_summaries(tmp_path)
    (tmp_path / "summary.shard-2-of-2.csv").write_text("case_id,status\n", encoding="utf-8")
    with pytest.raises(SpinetvError, match="summary.shard-2-of-2.csv: expected the summary"):
        merge_shard_summaries(tmp_path)
    assert not (tmp_path / "summary.csv").exists()


# ---- progress -------------------------------------------------------------------------------
def test_the_progress_line_counts_failed_running_and_time_left(cohort: Path) -> None:
    cases = read(cohort)
    stream = io.StringIO()
    bar = ProgressBar(stream, cases=cases, slots=2)
    total = sum(len(c.protocols) for c in cases)
    bar(1, total, BatchRow("case0", PROTOCOLS[0], BatchStatus.RESUMED))
    bar(2, total, BatchRow("case0", PROTOCOLS[1], BatchStatus.OK))
    bar(3, total, BatchRow("broken", PROTOCOLS[1], BatchStatus.FAILED, error="x"))
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("[") and f" 1/{total} done, 0 failed, 2 running" in lines[0]
    assert "elapsed" in lines[0] and "left" not in lines[0]  # nothing computed yet
    assert f" 2/{total} done, 0 failed, 2 running" in lines[1] and "left" in lines[1]
    # case0 and broken are done: 3 cases to go, 2 at a time
    assert f" 3/{total} done, 1 failed, 2 running" in lines[2]
    assert lines[2].endswith("broken chictr1900023401-whole: failed")
    for done in range(4, total + 1):
        bar(done, total, BatchRow(f"case{1 + (done - 4) // 2}", "p", BatchStatus.OK))
    last = stream.getvalue().splitlines()[-1]
    assert f" {total}/{total} done, 1 failed, 0:0" in last and "running" not in last


# ---- the Dask options without Dask ----------------------------------------------------------
def test_without_the_extra_a_one_line_error_names_it(
    cohort: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(SpinetvError, match=r'pip install "spinetv\[cluster\]"'):
        run_batch(read(cohort)[:1], tmp_path, scheduler="local:2")
    out = tmp_path / "out"
    code = main(["batch", str(cohort), "--out", str(out), "--scheduler", "tcp://127.0.0.1:1"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert "\n" not in err and 'spinetv[cluster]' in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("bad", ["local:0", "local:x", "local:", ""])
def test_bad_scheduler_values(bad: str) -> None:
    with pytest.raises(SpinetvError, match="scheduler"):
        executors.parse_scheduler(bad)


def test_scheduler_values() -> None:
    assert executors.parse_scheduler("local:3") == 3
    assert executors.parse_scheduler(" tcp://10.0.0.1:8786 ") == "tcp://10.0.0.1:8786"


def test_client_and_scheduler_together_are_refused(cohort: Path, tmp_path: Path) -> None:
    with pytest.raises(SpinetvError, match="not both"):
        run_batch(read(cohort)[:1], tmp_path, client=object(), scheduler="local:1")
