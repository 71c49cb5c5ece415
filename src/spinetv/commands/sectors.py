"""``spinetv sectors``: the six ISRC sectors of each vertebra (sacral compartments too)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from spinetv.anatomy.levels import level_order
from spinetv.commands._case import add_case_options, case_from_args, case_inputs
from spinetv.commands._common import add_common_options
from spinetv.errors import AnatomyError
from spinetv.io.images import write_label_image
from spinetv.outputs import check_outputs, write_structures
from spinetv.pipeline import (
    anatomy_report,
    derived_structures,
    label_case_sectors,
    level_masks,
    sector_structures,
)
from spinetv.report.json_report import write_json_report
from spinetv.structure import Provenance, Structure
from spinetv.version import __version__

__all__ = ["register", "run"]

EPILOG = """examples:
  spinetv sectors CT/ --rtstruct RS.dcm --out RS_sectors.dcm --report sectors.json
  spinetv sectors CT/ --rtstruct RS.dcm --vertebrae L1,L2 --labels-out labels/ --out RS_s.dcm
  spinetv sectors CT/ --labelmap seg.nii.gz --rtstruct RS.dcm --out RS_s.dcm
"""


def register(subparsers: Any) -> None:
    """Add the ``sectors`` sub-command."""
    parser = subparsers.add_parser(
        "sectors",
        help="ISRC sectors of each vertebra, and the derived canal",
        description="Label each vertebra's six ISRC sectors (1 body, 2 left pedicle, 3 left "
        "TP+lamina, 4 spinous, 5 right TP+lamina, 6 right pedicle; patient's left/right) and "
        "write them as <Level>_Sector<k> ROIs (sacrum: <Segment>_Body, _Ala_L, ...).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_case_options(parser, gtv=False)
    parser.add_argument(
        "--out",
        required=True,
        metavar="RS_out.dcm|DIR/",
        help="output RTSTRUCT; or a folder (existing, or written with a trailing /) for NIfTI "
        "masks and a sidecar, which is also what a NIfTI image gets",
    )
    parser.add_argument(
        "--labels-out",
        metavar="DIR",
        help="also write <Level>_sectors.nii.gz label maps (0-6) here",
    )
    parser.add_argument("--report", metavar="r.json", help="JSON report")
    add_common_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``spinetv sectors``."""
    inputs = case_inputs(args)
    outputs: dict[str, str | Path | None] = {"--out": args.out, "--report": args.report}
    folders = {"--labels-out": args.labels_out}
    check_outputs(outputs, inputs, overwrite=args.force, folders=folders)
    case = case_from_args(args, need_gtv=False)
    levels = sorted(level_masks(case.anatomy), key=level_order)
    if args.labels_out:
        # The label files are named by level: checked once the levels are known, before
        # anything is computed or written.
        for level in levels:
            outputs[f"--labels-out {level}"] = Path(args.labels_out) / f"{level}_sectors.nii.gz"
        check_outputs(outputs, inputs, overwrite=args.force, folders=folders)
    # Labelling every level: one that cannot be labelled is a warning, not a stop.
    sectors = label_case_sectors(case.anatomy, levels, required=())
    if not sectors.by_level:
        raise AnatomyError(
            "no level could be labelled: "
            + "; ".join(f"{lv}: {why}" for lv, why in sectors.unlabelled.items())
        )
    structures = sector_structures(sectors)
    derived = [
        Structure(name, mask, roi_type, (200, 200, 200), Provenance("AUTOMATIC", made_by))
        for name, mask, roi_type, made_by in derived_structures(
            case.anatomy, sectors, list(sectors.by_level)
        )
    ]
    write_structures(
        case,
        structures + derived,
        args.out,
        overwrite=args.force,
        description=f"spinetv {__version__} sectors",
        sectors=sectors,
    )
    label_files = []
    if args.labels_out:
        folder = Path(args.labels_out)
        for level, result in sectors.by_level.items():
            label_files.append(
                str(
                    write_label_image(
                        result.labels, folder / f"{level}_sectors.nii.gz", overwrite=args.force
                    )
                )
            )
    if args.report:
        write_json_report(
            {
                "spinetv_version": __version__,
                "levels": [
                    {
                        "level": lv,
                        "scheme": r.scheme,
                        "canal": r.canal_method,
                        "sector_volumes_cc": {
                            f"{k} {r.names[k]}": round(v, 4) for k, v in r.volumes_cc.items()
                        },
                    }
                    for lv, r in sectors.by_level.items()
                ],
                "anatomy": anatomy_report(sectors),
                "sources": case.sources,
                "label_files": label_files,
                "output": str(args.out),
            },
            args.report,
            overwrite=args.force,
        )
    for lv, r in sectors.by_level.items():
        volumes = " ".join(f"{k}:{v:.1f}" for k, v in r.volumes_cc.items())
        print(f"{lv}: sectors cc {volumes}; canal {r.canal_method}")
    for lv, why in sectors.unlabelled.items():
        print(f"{lv}: not labelled ({why})")
    return 0
