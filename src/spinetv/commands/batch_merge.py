"""``spinetv batch-merge``: join the summaries of a batch run in parts (``--shard K/N``)."""

from __future__ import annotations

import argparse
import csv
import sys
from typing import Any

from spinetv.batch import merge_shard_summaries
from spinetv.commands._common import add_common_options

__all__ = ["register", "run"]

EPILOG = """example (a SLURM job array of 10 parts writing into one folder):
  sbatch --array=1-10 --wrap \\
    'spinetv batch cohort.csv --out results/ --shard $SLURM_ARRAY_TASK_ID/10'
  spinetv batch-merge results/     # results/summary.csv, rows in manifest order

exit code: 0 all ok, 1 some case/protocol failed (see summary.csv), 2 a part missing.
"""


def register(subparsers: Any) -> None:
    """Add the ``batch-merge`` sub-command."""
    parser = subparsers.add_parser(
        "batch-merge",
        help="join the part summaries of 'spinetv batch --shard K/N' into summary.csv",
        description="Check that every part K/N wrote its summary.shard-K-of-N.csv into DIR and "
        "join them into DIR/summary.csv, in manifest order.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("out", metavar="DIR", help="the output folder of the parts")
    add_common_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``spinetv batch-merge``."""
    path = merge_shard_summaries(args.out)
    with path.open(newline="", encoding="utf-8") as handle:
        statuses = [row["status"] for row in csv.DictReader(handle)]
    failed = statuses.count("failed")
    cases = len(statuses)
    print(
        f"{cases} case/protocol runs: {statuses.count('ok')} ok, "
        f"{statuses.count('skipped-resumed')} resumed, {failed} failed; summary: {path}"
    )
    if failed:
        print(f"spinetv batch-merge: {failed} case/protocol run(s) failed", file=sys.stderr)
        return 1
    return 0
