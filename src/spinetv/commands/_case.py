"""Options shared by the commands that work on one case (plan, sectors, ctv, audit): parse and
read. Writing the outputs is library code, :mod:`spinetv.outputs`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from spinetv.case import Case, load_case
from spinetv.errors import SpinetvError

__all__ = ["add_case_options", "case_from_args", "case_inputs", "parse_mapping"]

log = logging.getLogger("spinetv")


def add_case_options(parser: argparse.ArgumentParser, *, gtv: bool = True) -> None:
    """The image, RTSTRUCT, GTV, vertebra and organ options."""
    parser.add_argument(
        "image", metavar="CT_DIR", help="planning image: DICOM series folder (or NIfTI file)"
    )
    parser.add_argument(
        "--rtstruct", metavar="RS.dcm", help="RTSTRUCT holding the GTV, vertebrae and organs"
    )
    if gtv:
        parser.add_argument(
            "--gtv",
            required=True,
            metavar="GTV",
            help="ROI name of the GTV in --rtstruct, or a mask file",
        )
    parser.add_argument(
        "--vertebrae",
        default="auto",
        metavar="auto|L1,L2|ROI=LEVEL,...",
        help="vertebrae to use: 'auto' (every ROI named like a level), a list of levels, or "
        "ROI=LEVEL / LEVEL=ROI pairs overriding the names (default auto)",
    )
    parser.add_argument(
        "--labelmap",
        metavar="SEG.nii.gz",
        help="label map on the image grid (TotalSegmentator, or VerSe masks), for the vertebrae",
    )
    parser.add_argument(
        "--labelmap-task",
        default="total",
        choices=("total", "vertebrae_pp", "verse"),
        help="label table of --labelmap: TotalSegmentator task total (default) or vertebrae_pp, "
        "or verse (VerSe benchmark masks)",
    )
    parser.add_argument("--cord", metavar="NAME", help="ROI name of the spinal cord")
    parser.add_argument(
        "--canal", metavar="NAME", help="ROI name of a contoured spinal canal (derived when absent)"
    )
    parser.add_argument(
        "--series-uid",
        metavar="UID",
        help="SeriesInstanceUID to read when the folder holds several series",
    )


def parse_mapping(text: str) -> str | list[str] | dict[str, str]:
    """``auto``, ``L1,L2`` or ``ROI=LEVEL,...`` as given to --vertebrae."""
    text = text.strip()
    if text in ("", "auto"):
        return "auto"
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if all("=" in p for p in parts):
        pairs = [p.split("=", 1) for p in parts]
        return {key.strip(): value.strip() for key, value in pairs}
    if any("=" in p for p in parts):
        raise SpinetvError(f"--vertebrae {text!r}: mix of levels and NAME=LEVEL pairs")
    return parts


def case_from_args(args: argparse.Namespace, *, need_gtv: bool = True) -> Case:
    """Read the case the options name; refuse a case that has no vertebra."""
    if args.rtstruct is None and args.labelmap is None:
        raise SpinetvError("give --rtstruct (and/or --labelmap) with the vertebrae")
    organ_names = {}
    if getattr(args, "cord", None):
        organ_names["cord"] = args.cord
    if getattr(args, "canal", None):
        organ_names["canal"] = args.canal
    case = load_case(
        args.image,
        args.rtstruct,
        gtv=getattr(args, "gtv", None) if need_gtv else None,
        vertebrae=parse_mapping(args.vertebrae),
        labelmap=args.labelmap,
        labelmap_task=args.labelmap_task,
        organ_names=organ_names,
        series_uid=args.series_uid,
    )
    if not case.anatomy.vertebrae:
        raise SpinetvError(
            "no vertebra found: name ROIs like L2 / Vertebra_L2 / vertebrae_L2, map them with "
            "--vertebrae ROI=L2, or give --labelmap"
        )
    log.info(
        "case read: levels %s; organs %s",
        ", ".join(case.anatomy.vertebrae),
        ", ".join(k for k in case.sources if not k[0].isupper()),
    )
    return case


def case_inputs(args: argparse.Namespace) -> dict[str, str | None]:
    """The input files and folder the case options name, by option."""
    gtv = getattr(args, "gtv", None)
    return {
        "CT_DIR": args.image,
        "--rtstruct": args.rtstruct,
        "--gtv": gtv if gtv is not None and Path(gtv).is_file() else None,
        "--labelmap": args.labelmap,
    }
