"""``spinetv demo``: the main job (``plan`` with the default protocol) on the bundled sample."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from spinetv.case import load_case
from spinetv.commands._common import add_common_options
from spinetv.errors import OutputExistsError
from spinetv.outputs import PlanOutputs, check_outputs, plan_and_write
from spinetv.pipeline import PlanOptions
from spinetv.planning.protocols import DEFAULT_PROTOCOL

__all__ = ["register", "run"]

EPILOG = """examples:
  spinetv demo --out demo_out
  spinetv demo --out demo_out --protocol chictr1900023401-whole --force
"""


def register(subparsers: Any) -> None:
    """Add the ``demo`` sub-command."""
    parser = subparsers.add_parser(
        "demo",
        help="run the main job on the bundled sample case",
        description="Plan the bundled sample case (a real CT, TotalSegmentator vertebrae and a "
        "demonstration GTV in L2) with the default protocol; writes the RTSTRUCT, the JSON "
        "report, the QA figures and an HTML review page into --out.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--out", default="spinetv_demo", metavar="DIR", help="output folder (default spinetv_demo)"
    )
    parser.add_argument("--protocol", default=DEFAULT_PROTOCOL, metavar="NAME|FILE")
    add_common_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``spinetv demo``."""
    from spinetv.sample import SAMPLE_GTV_NAME, sample_case_dir

    folder = Path(args.out)
    out = folder / "RS_spinetv.dcm"
    report = folder / "report.json"
    figures = folder / "figures"
    html = folder / "report.html"
    if not args.force and any(p.exists() for p in (out, report, figures, html)):
        raise OutputExistsError(f"{folder}: holds an earlier demo; pass --force to replace it")
    sample = sample_case_dir()
    check_outputs(
        {"--out RS": out, "--out report": report, "--out html": html},
        {"the sample case": sample},
        overwrite=args.force,
        folders={"--out": folder, "--out figures": figures},
    )
    rtstructs = sorted(sample.glob("RS*.dcm"))
    case = load_case(sample / "CT", rtstructs[0], gtv=SAMPLE_GTV_NAME)
    written = plan_and_write(
        case,
        PlanOptions(protocol=args.protocol),
        PlanOutputs(structures=out, report=report, html=html, figures=figures),
        overwrite=args.force,
    )
    volumes = written.report["structures"]
    print(
        f"sample case, protocol {written.result.protocol.id}: involved "
        f"{', '.join(written.report['involved_levels'])} ({written.seconds:.2f} s)"
    )
    for name in ("CTV", "PTV", "PTV_Eval", "SpinalCord_PRV02"):
        if name in volumes:
            print(f"  {name:<17}{volumes[name]['volume_cc']:8.2f} cc")
    # The report's notes were printed as warnings while planning.
    print(f"wrote {out}, {report}, {html} and {figures}/")
    return 0
