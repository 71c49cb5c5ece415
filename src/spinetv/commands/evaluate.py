"""``spinetv evaluate``: a plan's dose against the protocol's limits."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from spinetv.commands._common import add_common_options
from spinetv.outputs import check_outputs

__all__ = ["register", "run"]

EPILOG = """examples:
  spinetv evaluate CT/ --rtstruct RS_plan.dcm --dose RD.dcm --protocol sib-sbrt-2025 \\
      --report dose.json --html dose.html --dvh-csv dvh.csv
  spinetv evaluate CT/ --rtstruct RS_plan.dcm --dose RD_beam1.dcm --dose RD_beam2.dcm \\
      --plan RP.dcm --protocol sib-sbrt-2025 --report dose.json --strict
      BEAM doses are summed; the plan's fractions are checked against the protocol's
"""


def register(subparsers: Any) -> None:
    """Add the ``evaluate`` sub-command."""
    parser = subparsers.add_parser(
        "evaluate",
        help="a plan's dose against the protocol's limits (DVH metrics)",
        description="Evaluate an RTDOSE against every dose limit of a protocol preset, on the "
        "structures of an RTSTRUCT; report each limit's value, whether it holds, and its "
        "source.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("image", metavar="CT_DIR", help="planning image: DICOM series folder")
    parser.add_argument("--rtstruct", required=True, metavar="RS.dcm", help="the structures")
    parser.add_argument(
        "--dose",
        required=True,
        action="append",
        metavar="RD.dcm",
        help="RTDOSE; repeat for BEAM doses of one plan (summed on their common grid)",
    )
    parser.add_argument(
        "--plan", metavar="RP.dcm", help="RTPLAN: its fractions are checked against the protocol"
    )
    parser.add_argument("--protocol", required=True, metavar="NAME|FILE", help="protocol preset")
    parser.add_argument(
        "--name",
        action="append",
        default=[],
        metavar="LIMIT=ROI",
        help="the ROI a limit's structure is called in the RTSTRUCT, e.g. GTV=GTV_L3",
    )
    parser.add_argument("--report", required=True, metavar="r.json", help="JSON report")
    parser.add_argument("--html", metavar="r.html", help="HTML page: table and DVH plot")
    parser.add_argument("--dvh-csv", metavar="DVH.csv", help="cumulative DVHs, 0.1 Gy bins")
    parser.add_argument(
        "--figures", metavar="DIR", help="isodose lines over the structures (axial, sagittal)"
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="a fractionation different from the protocol's is an error, not a warning",
    )
    parser.add_argument("--series-uid", metavar="UID", help="which series of the folder")
    add_common_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``spinetv evaluate``."""
    from spinetv.dose_outputs import evaluate_files

    inputs = {
        "CT_DIR": args.image,
        "--rtstruct": args.rtstruct,
        "--plan": args.plan,
        **{f"--dose {i + 1}": d for i, d in enumerate(args.dose)},
    }
    outputs = {"--report": args.report, "--html": args.html, "--dvh-csv": args.dvh_csv}
    check_outputs(
        outputs, inputs, overwrite=args.force, folders={"--figures": args.figures}
    )
    evaluation = evaluate_files(
        args.image,
        args.rtstruct,
        [Path(d) for d in args.dose],
        args.protocol,
        plan=args.plan,
        names=_names(args.name),
        series_uid=args.series_uid,
        strict=args.strict,
        report=args.report,
        html=args.html,
        dvh_csv=args.dvh_csv,
        figures=args.figures,
        overwrite=args.force,
    )
    for result in evaluation.results:
        c = result.constraint
        verdict = {True: "pass", False: "FAIL", None: "not evaluable"}[result.passed]
        value = "-" if result.value is None else f"{result.value:.2f} {result.unit}"
        extra = f" ({result.reason})" if result.reason else ""
        print(f"{c.priority:9s} {c.structure:18s} {c.metric:9s} {value:>12s}  {c.describe():22s}"
              f" {verdict}{extra}")
    summary = evaluation.summary
    print(
        f"mandatory: {summary['mandatory']['passed']} passed, {summary['mandatory']['failed']} "
        f"failed, {summary['mandatory']['not_evaluable']} not evaluable; optimal: "
        f"{summary['optimal']['passed']} of "
        f"{sum(summary['optimal'].values())} passed; wrote {args.report}"
    )
    return 0


def _names(pairs: list[str]) -> dict[str, str]:
    from spinetv.errors import SpinetvError

    names = {}
    for pair in pairs:
        if "=" not in pair:
            raise SpinetvError(f"--name {pair!r}: expected LIMIT=ROI, e.g. GTV=GTV_L3")
        limit, roi = (part.strip() for part in pair.split("=", 1))
        if not limit or not roi:
            raise SpinetvError(f"--name {pair!r}: expected LIMIT=ROI, e.g. GTV=GTV_L3")
        names[limit] = roi
    return names
