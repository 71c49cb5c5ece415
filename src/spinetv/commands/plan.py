"""``spinetv plan``: sectors, CTV, PTV, PTV_Eval, PRV and cord evaluation volume in one run."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from spinetv.commands._case import add_case_options, case_from_args, case_inputs
from spinetv.commands._common import add_common_options
from spinetv.errors import SpinetvError
from spinetv.geometry.margins import Margin
from spinetv.outputs import PlanOutputs, check_names, check_outputs, plan_and_write, planned_names
from spinetv.pipeline import PlanOptions
from spinetv.planning.protocols import DEFAULT_PROTOCOL, list_protocols, load_protocol

__all__ = ["register", "run"]

EPILOG = f"""protocols shipped: {", ".join(list_protocols())}

examples:
  spinetv plan CT/ --rtstruct RS.dcm --gtv GTV --protocol sib-sbrt-2025 \\
      --out RS_plan.dcm --report plan.json --figures qa/
  spinetv plan CT/ --rtstruct RS.dcm --gtv GTV \\
      --protocol chictr1900023401-involved,chictr1900023401-whole --out RS_arms.dcm
      both trial arms: one RTSTRUCT and report per protocol (RS_arms_<protocol>.dcm)
  spinetv plan CT/ --rtstruct RS.dcm --gtv GTV --labelmap seg.nii.gz --ptv-margin 2,2,5 \\
      --out RS_plan.dcm
"""


def register(subparsers: Any) -> None:
    """Add the ``plan`` sub-command."""
    parser = subparsers.add_parser(
        "plan",
        help="sectors, CTV, PTV, PTV_Eval, PRV and cord evaluation volume",
        description="Run a protocol preset on one case and write every planning structure "
        "into a new RTSTRUCT next to the input ROIs, with a JSON report of every decision.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_case_options(parser)
    parser.add_argument(
        "--protocol",
        default=DEFAULT_PROTOCOL,
        metavar="NAME[,NAME]|FILE",
        help=f"protocol preset(s) or a preset file (default {DEFAULT_PROTOCOL})",
    )
    parser.add_argument(
        "--guideline", metavar="NAME|FILE", help="override the protocol's CTV guideline"
    )
    parser.add_argument(
        "--ptv-margin",
        metavar="MM",
        help="override the PTV margin: 3 | axial,SI | LR,AP,SI | L,R,A,P,S,I",
    )
    parser.add_argument(
        "--circumferential-epidural",
        action="store_true",
        help="the GTV has circumferential epidural disease (ring CTV)",
    )
    parser.add_argument(
        "--name-suffix", default="", help="append to every new ROI name (to avoid clashes), e.g. _A"
    )
    parser.add_argument(
        "--out",
        required=True,
        metavar="RS_out.dcm|DIR/",
        help="output RTSTRUCT; or a folder (existing, or written with a trailing /) for one "
        "NIfTI mask per structure, the sector label maps and a sidecar, which is also what a "
        "NIfTI image gets",
    )
    parser.add_argument("--report", metavar="r.json", help="JSON report")
    parser.add_argument("--figures", metavar="DIR", help="QA figures (PNG) into this folder")
    parser.add_argument(
        "--html",
        metavar="report.html",
        help="self-contained HTML report (figures embedded when --figures)",
    )
    add_common_options(parser)
    parser.set_defaults(func=run)


def _per_protocol(path: str | None, protocol: str, many: bool) -> Path | None:
    if path is None:
        return None
    target = Path(path)
    if not many:
        return target
    stem = Path(protocol).stem
    suffix = "".join(target.suffixes) or ""
    base = target.name[: len(target.name) - len(suffix)] if suffix else target.name
    return target.with_name(f"{base}_{stem}{suffix}")


def run(args: argparse.Namespace) -> int:
    """Run ``spinetv plan``."""
    protocols = [p.strip() for p in args.protocol.split(",") if p.strip()]
    if not protocols:
        raise SpinetvError("--protocol: give at least one preset name or file")
    many = len(protocols) > 1
    # Everything that can be checked without the images is checked first: a typo must not
    # cost a case read.
    margin = Margin.parse(args.ptv_margin) if args.ptv_margin else None
    # Each file is read once, here; the loaded values are passed on.
    loaded = {protocol: load_protocol(protocol) for protocol in protocols}
    guideline = None
    if args.guideline:
        from spinetv.guidelines import load_guideline

        guideline = load_guideline(args.guideline)
    for protocol, preset in loaded.items():
        check_names(
            [f"{name}{args.name_suffix}" for name in planned_names(preset)],
            what=f"--name-suffix {args.name_suffix!r} with {protocol}",
        )
    planned: list[tuple[str, PlanOutputs]] = []
    paths: dict[str, Path | None] = {}
    figure_folders: dict[str, Path | None] = {}
    for protocol in protocols:
        out = _per_protocol(args.out, protocol, many)
        assert out is not None
        figures = None
        if args.figures:
            figures = Path(args.figures) / Path(protocol).stem if many else Path(args.figures)
        outputs = PlanOutputs(
            structures=out,
            report=_per_protocol(args.report, protocol, many),
            html=_per_protocol(args.html, protocol, many),
            figures=figures,
        )
        tag = f" ({protocol})" if many else ""
        paths.update(outputs.files(tag))
        figure_folders[f"--figures{tag}"] = figures
        planned.append((protocol, outputs))
    check_outputs(paths, case_inputs(args), overwrite=args.force, folders=figure_folders)
    case = case_from_args(args)
    for protocol, outputs in planned:
        written = plan_and_write(
            case,
            PlanOptions(
                protocol=loaded[protocol],
                guideline=guideline,
                ptv_margin=margin,
                circumferential_epidural=args.circumferential_epidural,
            ),
            outputs,
            overwrite=args.force,
            name_suffix=args.name_suffix,
        )
        print(
            f"{protocol}: levels {', '.join(written.report['involved_levels'])}; "
            f"CTV {written.result.ctv.volume_cc:.1f} cc; wrote {outputs.structures} "
            f"({written.seconds:.2f} s)"
        )
        for line in margin_lines(written.report):
            print(f"  {line}")
    return 0


_SIDE_LETTERS = (
    ("left", "L"),
    ("right", "R"),
    ("anterior", "A"),
    ("posterior", "P"),
    ("superior", "S"),
    ("inferior", "I"),
)


def margin_lines(report: Mapping[str, Any]) -> list[str]:
    """One console line per planning volume with a margin: what it reaches, per patient side.

    Parameters
    ----------
    report : dict
        A plan report (``PlanResult.report``).
    """
    lines = []
    for name, details in report.get("structures", {}).items():
        reach = details.get("effective_margin_mm")
        if not isinstance(reach, dict):
            continue
        sides = " ".join(f"{letter} {reach[side]:g}" for side, letter in _SIDE_LETTERS)
        lines.append(
            f"{name}: margin reaches {sides} mm (asked {details.get('margin_mm', '?')}; "
            f"rounding {details.get('margin_rounding', '?')})"
        )
    return lines
