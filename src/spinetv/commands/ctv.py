"""``spinetv ctv`` and ``spinetv audit``: the guideline CTV, and a clinician's CTV against it."""

from __future__ import annotations

import argparse
from typing import Any

from spinetv.case import Case
from spinetv.commands._case import add_case_options, case_from_args, case_inputs
from spinetv.commands._common import add_common_options
from spinetv.errors import SpinetvError
from spinetv.geometry.mask import Mask
from spinetv.guidelines import audit_ctv, list_guidelines, load_guideline
from spinetv.outputs import check_names, check_outputs, write_structures
from spinetv.pipeline import candidate_levels, label_case_sectors, level_masks, make_ctv
from spinetv.report.json_report import write_json_report
from spinetv.structure import TG263_MAX_LENGTH, Provenance, RoiType, Structure
from spinetv.version import __version__

__all__ = ["register", "run_ctv", "run_audit"]

CTV_EPILOG = f"""guidelines shipped: {", ".join(list_guidelines())}

examples:
  spinetv ctv CT/ --rtstruct RS.dcm --gtv GTV --out RS_ctv.dcm --report ctv.json
  spinetv ctv CT/ --rtstruct RS.dcm --gtv GTV --guideline isrc-2012,whole-vertebra \\
      --out RS_arms.dcm
      both trial arms in one RTSTRUCT: CTV_isrc-2012 and CTV_whole-verteb (names cut to 16)
"""

AUDIT_EPILOG = """examples:
  spinetv audit CT/ --rtstruct RS.dcm --gtv GTV --ctv CTV --report audit.json
"""


def register(subparsers: Any) -> None:
    """Add the ``ctv`` and ``audit`` sub-commands."""
    ctv = subparsers.add_parser(
        "ctv",
        help="the consensus CTV of a GTV, with its explanation",
        description="Build the CTV a consensus guideline prescribes from the GTV and the "
        "labelled vertebrae, and explain every decision.",
        epilog=CTV_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_case_options(ctv)
    ctv.add_argument(
        "--guideline",
        default="isrc-2012",
        metavar="NAME[,NAME]|FILE",
        help="guideline(s) (default isrc-2012)",
    )
    ctv.add_argument("--name", default="CTV", help="ROI name of the CTV (default CTV)")
    ctv.add_argument(
        "--circumferential-epidural",
        action="store_true",
        help="the GTV has circumferential epidural disease (ring CTV)",
    )
    ctv.add_argument(
        "--out",
        required=True,
        metavar="RS_out.dcm|DIR/",
        help="output RTSTRUCT; or a folder (existing, or written with a trailing /) for NIfTI "
        "masks and a sidecar, which is also what a NIfTI image gets",
    )
    ctv.add_argument("--report", metavar="r.json", help="JSON report")
    add_common_options(ctv)
    ctv.set_defaults(func=run_ctv)

    audit = subparsers.add_parser(
        "audit",
        help="deviations of an existing CTV from the guideline",
        description="Compare a clinician's CTV with the guideline CTV per level: uncovered "
        "involved sector, omitted adjacent sector, unwarranted circumferential CTV.",
        epilog=AUDIT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_case_options(audit)
    audit.add_argument("--ctv", required=True, metavar="NAME", help="ROI name of the CTV")
    audit.add_argument("--guideline", default="isrc-2012", metavar="NAME|FILE")
    audit.add_argument("--report", metavar="r.json", help="JSON report")
    add_common_options(audit)
    audit.set_defaults(func=run_audit)


def _gtv_of(case: Case) -> Mask:
    if case.gtv is None:
        raise SpinetvError("give --gtv: the ROI name of the GTV or a mask file")
    return case.gtv


def _sectors_for(case: Any, gtv: Any) -> Any:
    levels = candidate_levels(gtv, level_masks(case.anatomy))
    return label_case_sectors(case.anatomy, levels)


def run_ctv(args: argparse.Namespace) -> int:
    """Run ``spinetv ctv``."""
    guidelines = [g.strip() for g in args.guideline.split(",") if g.strip()]
    if not guidelines:
        raise SpinetvError("--guideline: give at least one guideline name or file")
    # The ROI name comes from the guideline's id, not the text given (which may be a path).
    ids = [load_guideline(g).id for g in guidelines]
    check_names([args.name], what="--name")
    names = [args.name]
    if len(guidelines) > 1:
        # TG-263 allows 16 characters: the guideline id is cut, --name never.
        names = [f"{args.name}_{i}"[:TG263_MAX_LENGTH] for i in ids]
        check_names(names, what="--name with several --guideline")
    if len(set(names)) != len(names):
        raise SpinetvError(
            f"--guideline {args.guideline}: two guidelines give one ROI name "
            f"({', '.join(names)}); use a shorter --name"
        )
    check_outputs(
        {"--out": args.out, "--report": args.report}, case_inputs(args), overwrite=args.force
    )
    case = case_from_args(args)
    gtv = _gtv_of(case)
    sectors = _sectors_for(case, gtv)
    structures, reports = [], []
    for guideline, name in zip(guidelines, names):
        result = make_ctv(
            gtv,
            sectors,
            guideline=guideline,
            circumferential_epidural=args.circumferential_epidural,
        )
        structures.append(
            Structure(
                name,
                result.mask,
                RoiType.CTV,
                (255, 128, 0),
                Provenance("AUTOMATIC", result.roi_description, result.explanation_as_dict()),
            )
        )
        reports.append(
            {
                "roi": name,
                "guideline": result.guideline_id,
                "ctv_volume_cc": round(result.volume_cc, 4),
                "levels": [
                    {
                        "level": e.level,
                        "involved_sectors": list(e.involvement.involved),
                        "ctv_sectors": list(e.sectors),
                        "rows": [r.row_id for r in e.fired],
                        "canal": sectors.canal_methods.get(e.level),
                    }
                    for e in result.levels
                ],
                "explanation": result.explanation_as_dict(),
            }
        )
        print(f"{name}: {result.roi_description}; {result.volume_cc:.1f} cc")
    write_structures(
        case,
        structures,
        args.out,
        overwrite=args.force,
        description=f"spinetv {__version__} ctv",
    )
    if args.report:
        write_json_report(
            {
                "spinetv_version": __version__,
                "sources": case.sources,
                "ctvs": reports,
                "output": str(args.out),
            },
            args.report,
            overwrite=args.force,
        )
    return 0


def run_audit(args: argparse.Namespace) -> int:
    """Run ``spinetv audit``."""
    check_outputs({"--report": args.report}, case_inputs(args), overwrite=args.force)
    case = case_from_args(args)
    if case.rtstruct is None:
        raise SpinetvError("--ctv needs --rtstruct")
    from spinetv.io.rtstruct import rasterize_roi

    ctv = rasterize_roi(case.rtstruct, case.rtstruct.roi(args.ctv).name, case.image.grid)
    sectors = _sectors_for(case, case.gtv)
    result = audit_ctv(
        ctv, _gtv_of(case), list(sectors.by_level.values()), guideline=args.guideline
    )
    print(result.text())
    if args.report:
        write_json_report(
            {
                "spinetv_version": __version__,
                "sources": case.sources,
                "ctv": args.ctv,
                **result.as_dict(),
            },
            args.report,
            overwrite=args.force,
        )
    return 0
