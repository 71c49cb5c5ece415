"""``spinetv info PATH``: what an RTSTRUCT, a DICOM folder, a DICOMDIR or a label map holds."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

__all__ = ["register", "run", "recognised_role"]

EPILOG = """examples:
  spinetv info RS.dcm            ROIs with type, colour, contours and planes; levels and organs
  spinetv info CT_DIR            series with modality, orientation, spacing, slices; RTSTRUCTs
  spinetv info media/DICOMDIR    the series a DICOMDIR file-set lists
  spinetv info seg.nii.gz        labels with voxel counts and volumes
  spinetv info RS.dcm --json     the same as JSON
"""


def register(subparsers: Any) -> None:
    """Add the ``info`` sub-command."""
    parser = subparsers.add_parser(
        "info",
        help="what an RTSTRUCT, series folder, DICOMDIR or label map holds",
        description=(
            "Print what a file or folder holds (headers only, nothing is decoded or written): "
            "ROIs of an RTSTRUCT with their types, contour counts and frame of reference; image "
            "series with modality, orientation, spacing and slices; labels of a label map; and "
            "the vertebral levels and organs spinetv recognises."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", metavar="PATH",
                        help="an RTSTRUCT file, a DICOM folder, a DICOMDIR or a label image")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-vv for debugging)")
    parser.set_defaults(func=run)


def recognised_role(roi_name: str) -> str:
    """The vertebral level or organ role spinetv reads an ROI name as ("" when neither)."""
    from spinetv.anatomy.levels import parse_level
    from spinetv.case import ORGAN_ALIASES

    level = parse_level(roi_name)
    if level is not None:
        return f"level {level}"
    folded = roi_name.strip().casefold()
    for role, aliases in ORGAN_ALIASES.items():
        if folded in (alias.casefold() for alias in aliases):
            return role.replace("_", " ")
    return ""


def _label_role(value: int) -> str:
    from spinetv.io.totalsegmentator import TotalSegmentator

    return TotalSegmentator.TOTAL.get(value, "")


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def _color(value: Any) -> str:
    return "\\".join(str(c) for c in value) if value else "-"


def _spacing(value: Any) -> str:
    return " x ".join(f"{v:g}" for v in value) if value else "-"


def _rtstruct_text(summary: Any) -> str:
    rows = [
        [str(roi.number), roi.name, roi.roi_type or "-", _color(roi.color_rgb),
         str(roi.contours), str(roi.planes), ",".join(roi.geometric_types) or "-",
         recognised_role(roi.name) or "-"]
        for roi in summary.rois
    ]
    head = [
        f"RTSTRUCT {summary.path}",
        f"frame of reference {summary.frame_of_reference_uid or '(none)'}",
        f"references series {summary.referenced_series_uid or '(none)'}",
        f"{len(summary.rois)} ROIs",
    ]
    table = _table(rows, ["#", "name", "type", "colour", "contours", "planes", "geometry",
                          "spinetv reads as"])
    notes = [f"warning: {w}" for w in summary.warnings]
    notes += [f"damaged: ROI {roi.name!r} has {roi.damaged_contours} contour(s) with damaged "
              "ContourData" for roi in summary.rois if roi.damaged_contours]
    return "\n".join([*head, "", table, *([""] + notes if notes else [])])


def _folder_text(summary: Any) -> str:
    rows = [
        [s.modality, s.description or "-", str(s.slices), f"{s.rows}x{s.columns}",
         _spacing(s.spacing_mm), s.patient_position or "-", s.transfer_syntax or "-",
         s.series_instance_uid or "(empty UID)"]
        for s in summary.series
    ]
    lines = [f"{'DICOMDIR' if summary.kind == 'dicomdir' else 'folder'} {summary.path}",
             f"{len(summary.series)} image series", "",
             _table(rows, ["modality", "description", "slices", "size", "spacing mm",
                           "position", "transfer syntax", "series UID"])]
    for series in summary.series:
        if series.problem:
            lines.append(f"not readable as a volume: {series.series_instance_uid or '(empty UID)'}"
                         f": {series.problem}")
        elif not series.frame_of_reference_uid:
            lines.append(f"no FrameOfReferenceUID: {series.series_instance_uid or '(empty UID)'}")
    if summary.rtstructs:
        lines += ["", "RTSTRUCT files: " + ", ".join(summary.rtstructs)]
    return "\n".join(lines)


def _labelmap_text(summary: Any) -> str:
    rows = [[str(label.value), str(label.voxels), f"{label.volume_cc:.2f}",
             _label_role(label.value) or "-"] for label in summary.labels]
    return "\n".join([
        f"label map {summary.path}",
        f"{'x'.join(str(n) for n in summary.shape)} voxels (slice, row, column), "
        f"{_spacing(summary.spacing_mm)} mm, {summary.patient_position}",
        f"{len(summary.labels)} labels", "",
        _table(rows, ["label", "voxels", "cc", "name if TotalSegmentator 'total' ids"]),
    ])


def _as_json(summary: Any) -> str:
    document = dataclasses.asdict(summary)
    if summary.kind == "rtstruct":
        for roi in document["rois"]:
            roi["recognised_as"] = recognised_role(roi["name"])
    if summary.kind == "labelmap":
        for label in document["labels"]:
            label["totalsegmentator_total"] = _label_role(label["value"])
    return json.dumps(document, indent=2, ensure_ascii=False)


def run(args: argparse.Namespace) -> int:
    """Run ``spinetv info``; returns the exit code."""
    from spinetv.io.inspect import inspect_path

    summary = inspect_path(args.path)
    if args.json:
        print(_as_json(summary))
        return 0
    text = {"rtstruct": _rtstruct_text, "folder": _folder_text, "dicomdir": _folder_text,
            "labelmap": _labelmap_text}[summary.kind](summary)
    print(text)
    return 0
