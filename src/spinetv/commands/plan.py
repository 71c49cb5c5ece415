"""``spinetv plan``: sectors, CTV, PTV, PTV_Eval, PRV and cord evaluation volume in one run."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

from spinetv.version import __version__
from spinetv.commands._case import (
    add_case_options,
    case_from_args,
    case_inputs,
    check_names,
    check_outputs,
    rename,
    write_figures,
    write_structures,
)
from spinetv.commands._common import add_common_options
from spinetv.errors import SpinetvError
from spinetv.geometry.margins import Margin
from spinetv.pipeline import PlanOptions, PlanResult, plan
from spinetv.planning.protocols import DEFAULT_PROTOCOL, Protocol, list_protocols, load_protocol
from spinetv.report.json_report import write_json_report

__all__ = ["register", "run", "run_plan"]

log = logging.getLogger("spinetv")

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
    parser.add_argument("--out", required=True, metavar="RS_out.dcm", help="output RTSTRUCT")
    parser.add_argument("--report", metavar="r.json", help="JSON report")
    parser.add_argument("--figures", metavar="DIR", help="QA figures (PNG) into this folder")
    parser.add_argument(
        "--html",
        metavar="report.html",
        help="self-contained HTML report (figures embedded when --figures)",
    )
    add_common_options(parser)
    parser.set_defaults(func=run)


def planned_names(protocol: Protocol) -> list[str]:
    """The ROI names a protocol makes besides the sectors (CTV, PTV, PTV_Eval, PRVs...)."""
    names = ["CTV", "PTV"]
    if protocol.ptv_eval is not None:
        names.append(protocol.ptv_eval.name)
    names.extend(p.name for p in protocol.prvs)
    if protocol.thecal_sac is not None:
        names.append(protocol.thecal_sac.name)
    if protocol.cord_evaluation is not None:
        names.append(protocol.cord_evaluation.name)
    return names


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
    loaded = {protocol: load_protocol(protocol) for protocol in protocols}
    if args.guideline:
        from spinetv.guidelines import load_guideline

        load_guideline(args.guideline)
    for protocol, preset in loaded.items():
        check_names(
            [f"{name}{args.name_suffix}" for name in planned_names(preset)],
            what=f"--name-suffix {args.name_suffix!r} with {protocol}",
        )
    outputs = []
    paths: dict[str, Path | None] = {}
    figure_folders: dict[str, Path | None] = {}
    for protocol in protocols:
        out = _per_protocol(args.out, protocol, many)
        report = _per_protocol(args.report, protocol, many)
        html = _per_protocol(args.html, protocol, many)
        assert out is not None
        tag = f" ({protocol})" if many else ""
        paths.update({f"--out{tag}": out, f"--report{tag}": report, f"--html{tag}": html})
        if args.figures:
            figure_folders[f"--figures{tag}"] = (
                Path(args.figures) / Path(protocol).stem if many else Path(args.figures)
            )
        outputs.append((protocol, out, report, html))
    check_outputs(paths, case_inputs(args), overwrite=args.force, folders=figure_folders)
    case = case_from_args(args)
    # The sector names depend on the levels the GTV reaches: rename() checks them before the
    # first file is written (the levels are the same for every protocol).
    for protocol, out, report, html in outputs:
        figures = None
        if args.figures:
            figures = Path(args.figures) / Path(protocol).stem if many else Path(args.figures)
        result, seconds = run_plan(
            case,
            protocol=protocol,
            guideline=args.guideline,
            margin=margin,
            circumferential=args.circumferential_epidural,
            suffix=args.name_suffix,
            out=out,
            report=report,
            figures=figures,
            overwrite=args.force,
            html=html,
        )
        print(
            f"{protocol}: levels {', '.join(result.report['involved_levels'])}; "
            f"CTV {result.ctv.volume_cc:.1f} cc; wrote {out} ({seconds:.2f} s)"
        )
        for line in margin_lines(result.report):
            print(f"  {line}")
    return 0


_SIDE_LETTERS = (("left", "L"), ("right", "R"), ("anterior", "A"), ("posterior", "P"),
                 ("superior", "S"), ("inferior", "I"))


def margin_lines(report: dict[str, Any]) -> list[str]:
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


def run_plan(
    case: Any,
    *,
    protocol: str,
    guideline: str | None,
    margin: Margin | None,
    circumferential: bool,
    suffix: str,
    out: Path,
    report: Path | None,
    figures: Path | None,
    overwrite: bool,
    html: Path | None = None,
) -> tuple[PlanResult, float]:
    """Plan one protocol on a read case and write its outputs; returns the result and time.

    ``html`` names a self-contained HTML report (figures embedded) to write as well.
    """
    start = time.perf_counter()
    assert case.gtv is not None
    result = plan(
        case.gtv,
        case.anatomy,
        PlanOptions(
            protocol=protocol,
            guideline=guideline,
            ptv_margin=margin,
            circumferential_epidural=circumferential,
        ),
    )
    structures = rename(result.structures, suffix)
    write_structures(
        case,
        structures,
        out,
        overwrite=overwrite,
        description=f"spinetv {__version__} {result.protocol.id}",
    )
    figure_paths: list[Path] = []
    if figures is not None:
        named = [s for s in structures if s.roi_type.value in ("CTV", "PTV")]
        figure_paths = write_figures(
            case,
            case.gtv,
            result.sectors,
            named,
            figures,
            overwrite=overwrite,
            title=result.protocol.id,
        )
    seconds = time.perf_counter() - start
    full_report = {
        "spinetv_version": __version__,
        "inputs": {
            "image": str(case.image.reference.paths[0].parent)
            if case.reference is not None and case.reference.paths
            else None,
            "rtstruct": str(case.rtstruct.path) if case.rtstruct else None,
            "sources": case.sources,
            "read_warnings": list(case.read_warnings),
            "notes": list(getattr(case, "notes", ())),
        },
        "output": str(out),
        "figures": [str(p) for p in figure_paths],
        "name_suffix": suffix,
        **result.report,
        "seconds": round(seconds, 3),
    }
    if report is not None:
        write_json_report(full_report, report, overwrite=overwrite)
    if html is not None:
        from spinetv.report.html import write_html_report  # only when asked

        write_html_report(full_report, figure_paths, html, overwrite=overwrite)
    log.info("%s: %d structures written to %s", protocol, len(structures), out)
    return result, seconds
