"""A physicist's script: read a case from files, plan it with a protocol, write the outputs.

Reads a planning CT series and an RTSTRUCT (GTV, vertebrae, cord), plans one protocol preset,
and writes into OUT_DIR:

- ``RS_spinetv.dcm``: the input ROIs plus sectors, CTV, PTV, PTV_Eval, PRV, cord evaluation;
- ``report.json``: every decision (levels, sectors, guideline rows fired, volumes);
- ``axial_<level>.png`` and ``report.html``: a QA figure per level and a self-contained report.

Usage::

    python examples/physicist_plan.py OUT_DIR --ct CT_DIR --rtstruct RS.dcm --gtv GTV \\
        [--protocol chictr1900023401-involved]

Without ``--ct`` a synthetic spine phantom (L1-L3, a lesion in the L2 body and left pedicle)
is written to a temporary folder and used, so the script runs without any data.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import spinetv
from spinetv.phantom import GtvSpec, make_spine_phantom, write_phantom
from spinetv.report.figures import Overlay, save_axial_figure
from spinetv.report.html import write_html_report
from spinetv.report.json_report import write_json_report


def phantom_case(folder: Path) -> tuple[Path, Path, str]:
    """Write a small phantom case; return (CT folder, RTSTRUCT, GTV name)."""
    phantom = make_spine_phantom(
        levels=("L1", "L2", "L3"),
        spacing_mm=(2.0, 1.0, 1.0),
        gtv=GtvSpec(level="L2", sectors=(1, 2), body_side="left", epidural_mm=2.0),
    )
    ct_dir, rtstruct = write_phantom(phantom, folder)
    return ct_dir, rtstruct, "GTV"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", default="physicist_plan_out", help="output folder")
    parser.add_argument("--ct", type=Path, help="CT series folder (default: a phantom)")
    parser.add_argument("--rtstruct", type=Path, help="RTSTRUCT with GTV and vertebrae")
    parser.add_argument("--gtv", default="GTV", help="ROI name of the GTV (default GTV)")
    parser.add_argument("--protocol", default="chictr1900023401-involved")
    parser.add_argument("--force", action="store_true", help="replace earlier outputs")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as scratch:
        if args.ct is None:
            ct_dir, rtstruct, gtv_name = phantom_case(Path(scratch) / "phantom")
            print(f"no --ct given: using a synthetic phantom ({ct_dir})")
        else:
            if args.rtstruct is None:
                parser.error("--ct needs --rtstruct")
            ct_dir, rtstruct, gtv_name = args.ct, args.rtstruct, args.gtv

        # 1. Read: the image headers, the GTV and every ROI named like a vertebra or an organ.
        case = spinetv.load_case(ct_dir, rtstruct, gtv=gtv_name)
        assert case.gtv is not None and case.reference is not None
        print(f"levels found: {', '.join(case.anatomy.vertebrae)}; read from {case.sources}")

        # 2. Plan: sectors -> guideline CTV -> PTV, PTV_Eval, PRV (pure functions on masks).
        result = spinetv.plan(case.gtv, case.anatomy, spinetv.PlanOptions(protocol=args.protocol))
        report = result.report
        for level in report["ctv"]["levels"]:
            print(level["text"])

        # 3. Write: a new RTSTRUCT holding the input ROIs and the new ones, the JSON report, a
        #    QA figure per level and the HTML report with the figures embedded.
        rs_out = spinetv.append_rtstruct(
            rtstruct, result.structures, case.reference, out / "RS_spinetv.dcm",
            overwrite=args.force,
        )
        write_json_report(report, out / "report.json", overwrite=args.force)
        named = {s.name: s for s in result.structures}
        outlines = [Overlay("GTV", case.gtv, (255, 0, 0))] + [
            Overlay(name, named[name].mask, named[name].color_rgb)
            for name in ("CTV", "PTV_Eval")
            if name in named
        ]
        figures = [
            save_axial_figure(
                out / f"axial_{level}.png",
                grid=case.image.grid,
                ct=case.image.voxels,
                overlays=outlines,
                focus=case.anatomy.vertebrae[level],
                title=f"{result.protocol.id} {level}",
                overwrite=args.force,
            )
            for level in report["involved_levels"]
        ]
        write_html_report(report, figures, out / "report.html", overwrite=args.force)

    volumes = report["structures"]
    print(f"protocol {result.protocol.id}: involved {', '.join(report['involved_levels'])}")
    for name in ("CTV", "PTV", "PTV_Eval"):
        if name in volumes:
            print(f"  {name:<9}{volumes[name]['volume_cc']:8.2f} cc")
    print(f"wrote {rs_out}, {out / 'report.json'} and {out / 'report.html'}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except spinetv.SpinetvError as error:
        sys.exit(f"error: {error}")
