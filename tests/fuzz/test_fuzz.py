"""Seeded fuzzing of every reader: a correct result or a SpinetvError naming the file, always.

About 25 mutations per target (a few hundred in all, ~15 s); ``benchmarks/bench_fuzz.py`` runs
thousands. On failure the message lists each offending mutation (target, file, mutation).
"""

from __future__ import annotations

from pathlib import Path

import fuzz_harness as fh
import fuzz_targets as ft
import numpy as np
import pytest

PER_TARGET = 25
SEED = 20261129


def _assert_clean(counts: fh.Counts) -> None:
    summary = counts.as_dict()
    details = "\n".join(counts.failures[:20])
    assert summary["other_exceptions"] == 0, details
    assert summary["wrong_results"] == 0, details
    assert summary["errors_not_naming_the_file"] == 0, details
    assert summary["errors_with_numpy_reprs"] == 0, details
    assert summary["inputs_changed"] == 0, details
    assert summary["partial_outputs"] == 0, details
    # The mutations really bite: both outcomes occur on every target kind.
    assert summary["spinetv_errors"] > 0 and summary["correct_results"] > 0


def test_fuzz_written_files(tmp_path: Path) -> None:
    targets = ft.build_targets(tmp_path / "inputs", None)
    counts = fh.run_fuzz(targets, PER_TARGET, SEED, tmp_path / "runs")
    assert counts.tried == PER_TARGET * len(targets)
    _assert_clean(counts)
    for name, outcomes in counts.by_target.items():
        assert outcomes["spinetv_error"] > 0, f"{name}: no mutation was refused"


def test_fuzz_real_files(tmp_path: Path, shared_data: Path) -> None:
    targets = ft.build_targets(tmp_path / "inputs", shared_data)[9:]
    assert len(targets) == 8
    counts = fh.run_fuzz(targets, PER_TARGET, SEED, tmp_path / "runs")
    _assert_clean(counts)


def test_harness_counts_escaping_exceptions_and_changed_inputs(tmp_path: Path) -> None:
    source = tmp_path / "input.txt"
    source.write_text("a = 1\n")

    def bad_reader(root: Path, copies: list[Path], out: Path) -> None:
        text = copies[0].read_text(errors="replace")
        if text != "a = 1\n":
            copies[0].write_text("changed by the reader")
            raise ValueError("escaped")

    def judge(result: object, baseline: object, label: str) -> str:
        return ""

    target = fh.Target("bad", (source,), bad_reader, judge, (fh.flip_bytes,))
    counts = fh.run_fuzz([target], 5, 1, tmp_path / "runs")
    assert counts.tried == 5
    assert counts.outcomes["other_exception"] + counts.outcomes["correct"] == 5
    assert counts.outcomes["other_exception"] >= 1
    assert counts.inputs_changed == counts.outcomes["other_exception"]


@pytest.mark.parametrize("mutator", fh.NIFTI_MUTATORS + fh.TOML_MUTATORS)
def test_mutators_are_seeded(mutator: fh.Mutator) -> None:
    data = bytes(range(256)) * 8
    first = mutator(data, np.random.default_rng(7))
    second = mutator(data, np.random.default_rng(7))
    assert first == second
