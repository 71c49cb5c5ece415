"""``spinetv batch``: plan many cases (and several protocols per case) from a CSV manifest."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from spinetv.batch import (
    MANIFEST_COLUMNS,
    BatchRow,
    BatchStatus,
    default_jobs,
    read_manifest,
    run_batch,
)
from spinetv.commands._common import add_common_options
from spinetv.errors import SpinetvError

__all__ = ["register", "run", "ProgressBar"]

EPILOG = f"""manifest (CSV, header row; relative paths are relative to the manifest's folder):
  {",".join(MANIFEST_COLUMNS)}
  case01,case01/CT,case01/RS.dcm,GTV,auto,chictr1900023401-involved;chictr1900023401-whole,
  case02,case02/CT,,case02/gtv.nii.gz,L1;L2,sib-sbrt-2025,case02/seg.nii.gz

outputs: OUT/<case_id>/<protocol>/RS.dcm and report.json (figures/, report.html on request),
  OUT/summary.csv (one row per case and protocol). A rerun resumes: finished case/protocol
  pairs are skipped (status skipped-resumed), failed ones are retried.

exit code: 0 all ok, 1 some case/protocol failed (see summary.csv), 2 bad manifest or options.

examples:
  spinetv batch cohort.csv --out results/ --jobs 4
  spinetv batch cohort.csv --out results/ --figures --html
  spinetv batch cohort.csv --out results/ --force       # redo everything
"""


def register(subparsers: Any) -> None:
    """Add the ``batch`` sub-command."""
    parser = subparsers.add_parser(
        "batch",
        help="plan many cases and protocols from a CSV manifest",
        description="Read each case of the manifest once, plan every protocol of its row on "
        "it in parallel worker processes, and write one folder per case and protocol plus "
        "summary.csv. A failing case is reported and the others finish.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("manifest", metavar="MANIFEST.csv", help="the cases, one row each")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--jobs",
        type=int,
        default=default_jobs(),
        metavar="N",
        help=f"worker processes (default {default_jobs()}: min(2, CPUs))",
    )
    parser.add_argument(
        "--resume",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="skip case/protocol pairs an earlier run finished (default: resume)",
    )
    parser.add_argument("--figures", action="store_true", help="also write QA figures (PNG)")
    parser.add_argument(
        "--html", action="store_true", help="also write a self-contained report.html"
    )
    add_common_options(parser)
    parser.set_defaults(func=run)


class ProgressBar:
    """A one-line text progress bar on a terminal, one line per result otherwise."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.tty = bool(getattr(stream, "isatty", lambda: False)())

    def __call__(self, done: int, total: int, row: BatchRow) -> None:
        """Show that ``done`` of ``total`` are known, the last being ``row``."""
        filled = self.width * done // max(total, 1)
        bar = "#" * filled + "." * (self.width - filled)
        text = f"[{bar}] {done}/{total} {row.case_id} {row.protocol}: {row.status.value}"
        if self.tty:
            end = "\n" if done == total else ""
            self.stream.write(f"\r\033[K{text}{end}")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def run(args: argparse.Namespace) -> int:
    """Run ``spinetv batch``."""
    if args.jobs < 1:
        raise SpinetvError(f"--jobs: expected at least 1, got {args.jobs}")
    cases = read_manifest(args.manifest)
    summary = run_batch(
        cases,
        args.out,
        jobs=args.jobs,
        resume=args.resume,
        force=args.force,
        figures=args.figures,
        html=args.html,
        progress=ProgressBar(sys.stderr),
    )
    ok = summary.count(BatchStatus.OK)
    resumed = summary.count(BatchStatus.RESUMED)
    failed = summary.failed
    print(
        f"{len(summary.rows)} case/protocol runs of {len(cases)} cases: {ok} ok, "
        f"{resumed} resumed, {len(failed)} failed ({summary.seconds:.1f} s); "
        f"summary: {summary.summary_path}"
    )
    if failed:
        for row in failed:
            print(f"  failed: {row.case_id} {row.protocol}: {row.error}", file=sys.stderr)
        print(f"spinetv batch: {len(failed)} case/protocol run(s) failed", file=sys.stderr)
        return 1
    return 0
