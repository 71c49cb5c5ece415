"""A researcher's cohort: both arms of a trial on every case, with one summary table.

Makes a few synthetic cases (phantoms with lesions in different sectors), writes a manifest
CSV naming both arms of ChiCTR1900023401 for each case, runs the batch engine (the same one as
``spinetv batch``) and compares the arms' CTV and PTV_Eval volumes.

Usage::

    python examples/cohort_arms.py [OUT_DIR] [--cases 4] [--jobs 2] [--scheduler local:2]

With your own data, write the manifest by hand and run ``spinetv batch manifest.csv --out DIR``
(see docs/quickstart.md).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from pathlib import Path

from spinetv.batch import BatchStatus, read_manifest, run_batch
from spinetv.phantom import GtvSpec, make_spine_phantom, write_phantom

ARMS = ("chictr1900023401-involved", "chictr1900023401-whole")
LESIONS = (
    (("L1", "L2", "L3"), GtvSpec(level="L2", sectors=(1,), body_side="focal")),
    (("L1", "L2", "L3"), GtvSpec(level="L2", sectors=(1, 2), body_side="left")),
    (("T11", "T12", "L1"), GtvSpec(level="T12", sectors=(1, 6), body_side="right")),
    (("L2", "L3", "L4"), GtvSpec(level="L3", sectors=(4,))),
    (("T8", "T9", "T10"), GtvSpec(level="T9", sectors=(1,), body_side="diffuse")),
)


def write_cohort(folder: Path, n_cases: int) -> Path:
    """Write ``n_cases`` phantom cases and a manifest naming both arms; return the manifest."""
    rows = []
    for i in range(n_cases):
        levels, lesion = LESIONS[i % len(LESIONS)]
        case_id = f"case{i + 1:02d}"
        if not (folder / case_id / "RTSTRUCT.dcm").exists():
            phantom = make_spine_phantom(
                levels=levels, spacing_mm=(3.0, 1.5, 1.5), gtv=lesion, seed=i
            )
            write_phantom(phantom, folder / case_id)
        rows.append(
            {
                "case_id": case_id,
                "image": f"{case_id}/CT",  # relative to the manifest's folder
                "rtstruct": f"{case_id}/RTSTRUCT.dcm",
                "gtv": "GTV",
                "vertebrae": "auto",
                "protocols": ";".join(ARMS),
            }
        )
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", default="cohort_arms_out", help="output folder")
    parser.add_argument("--cases", type=int, default=4, help="number of phantom cases")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument(
        "--scheduler",
        help='a Dask scheduler (tcp://host:8786) or local:N; needs pip install "spinetv[cluster]"',
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    cohort = out / "cohort"
    cohort.mkdir(parents=True, exist_ok=True)

    manifest = write_cohort(cohort, args.cases)
    cases = read_manifest(manifest)
    summary = run_batch(
        cases,
        out / "results",
        jobs=args.jobs,
        scheduler=args.scheduler,
        progress=lambda done, total, row: print(
            f"  [{done}/{total}] {row.case_id} {row.protocol}: {row.status.value}"
        ),
    )

    print(f"\n{'case':<8}{'arm':<28}{'levels':<8}{'CTV sectors':<18}{'CTV cc':>8}"
          f"{'PTV_Eval cc':>13}")
    for row in summary.rows:
        sectors = " ".join(f"{lv}:{','.join(map(str, s))}" for lv, s in row.ctv_sectors.items())
        print(
            f"{row.case_id:<8}{row.protocol:<28}{';'.join(row.levels):<8}{sectors:<18}"
            f"{row.ctv_cc or 0:8.1f}{row.ptv_eval_cc or 0:13.1f}"
        )
    for arm in ARMS:
        volumes = [r.ctv_cc for r in summary.rows if r.protocol == arm and r.ctv_cc is not None]
        if volumes:
            print(f"{arm}: median CTV {statistics.median(volumes):.1f} cc over {len(volumes)}")
    print(f"summary: {summary.summary_path} ({summary.seconds:.1f} s)")
    failed = summary.count(BatchStatus.FAILED)
    if failed:
        print(f"{failed} case/protocol run(s) failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
