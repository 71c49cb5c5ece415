"""Benchmark: thousands of seeded mutations through every spinetv reader (the fuzz harness).

The same harness as ``tests/fuzz/test_fuzz.py`` (which runs a few hundred): CT and MR series
(written and real JPEG-LS / native MR), RTSTRUCTs (written; real ARIA, CERR, matRad and one
without file meta), NIfTI label maps (written and TotalSegmentator's), a guideline and a protocol
TOML, a batch manifest, and ``spinetv convert`` both ways. Each mutation deletes or corrupts a
tag, changes a VR, empties or swaps sequences, breaks coordinates, duplicates ROIs, changes the
modality or transfer syntax, truncates at a random offset, flips bytes, breaks NIfTI header
fields or cuts voxel data, or damages TOML/CSV lines. Every mutation must end in a correct result
or a SpinetvError naming the file; inputs must be unchanged; no partial output may remain.

Real files are read from ``../shared/data`` when present (skipped, and said so, otherwise).

Run: ``python benchmarks/bench_fuzz.py [--per-target 300] [--seed 1]``; writes
``benchmarks/results/fuzz.json`` (counts per target and the first failures, if any).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import pydicom

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fuzz"))

import fuzz_harness as fh  # noqa: E402
import fuzz_targets as ft  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results" / "fuzz.json"


def main() -> int:
    """Run the mutations, print the counts and write them to ``benchmarks/results/fuzz.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-target", type=int, default=300, help="mutations per target")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    shared = SHARED if SHARED.is_dir() else None
    if shared is None:
        print(f"real files skipped: {SHARED} is absent")
    with tempfile.TemporaryDirectory(prefix="spinetv-fuzz-") as work:
        targets = ft.build_targets(Path(work) / "inputs", shared)
        start = time.perf_counter()
        counts = fh.run_fuzz(targets, args.per_target, args.seed, Path(work) / "runs")
        seconds = time.perf_counter() - start
    summary = counts.as_dict()
    result = {
        "benchmark": "fuzz",
        "seed": args.seed,
        "per_target": args.per_target,
        "targets": len(targets),
        "real_files": shared is not None,
        "seconds": round(seconds, 1),
        "mutations_per_second": round(counts.tried / seconds, 1),
        **summary,
        "first_failures": counts.failures[:50],
        "environment": {
            "python": platform.python_version(),
            "pydicom": pydicom.__version__,
            "machine": platform.machine(),
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for key in ("mutations_tried", "correct_results", "spinetv_errors", "other_exceptions",
                "wrong_results", "errors_not_naming_the_file", "errors_with_numpy_reprs",
                "inputs_changed", "partial_outputs", "seconds"):
        print(f"{key:28s} {result[key]}")
    for failure in counts.failures[:10]:
        print("FAILURE", failure.splitlines()[0])
    print(f"wrote {RESULTS}")
    bad = ("other_exceptions", "wrong_results", "errors_not_naming_the_file",
           "errors_with_numpy_reprs", "inputs_changed", "partial_outputs")
    return 1 if any(summary[key] for key in bad) else 0


if __name__ == "__main__":
    sys.exit(main())
