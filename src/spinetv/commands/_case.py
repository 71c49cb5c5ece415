"""Options and steps shared by the commands that work on one case (plan, sectors, ctv, audit)."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from spinetv.case import Case, load_case
from spinetv.errors import OutputExistsError, SpinetvError
from spinetv.geometry.mask import Mask
from spinetv.io.atomic import check_writable
from spinetv.io.rtstruct import append_rtstruct, write_rtstruct
from spinetv.pipeline import SECTOR_COLOURS, SectorResult
from spinetv.structure import Provenance, Structure, check_tg263_name

__all__ = [
    "add_case_options",
    "case_from_args",
    "case_inputs",
    "check_outputs",
    "check_names",
    "parse_mapping",
    "rename",
    "write_structures",
    "write_figures",
]

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
        help="TotalSegmentator label map on the image grid, for the vertebrae",
    )
    parser.add_argument(
        "--labelmap-task",
        default="total",
        choices=("total", "vertebrae_pp"),
        help="TotalSegmentator task of --labelmap (default total)",
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


def check_names(names: Iterable[str], *, what: str) -> None:
    """Refuse any name that is not a TG-263 structure name (16 characters, letters, _ ^ ~ -)."""
    for name in names:
        problems = check_tg263_name(name)
        if problems:
            raise SpinetvError(
                f"{what}: ROI name {name!r} is not a TG-263 name ({'; '.join(problems)})"
            )


def rename(structures: Sequence[Structure], suffix: str) -> list[Structure]:
    """Append ``suffix`` to each name.

    Raises
    ------
    SpinetvError
        A resulting name is not a TG-263 name (longer than 16 characters, other characters);
        names are never cut, so two structures cannot end up with one name.
    """
    if not suffix:
        return list(structures)
    names = [f"{s.name}{suffix}" for s in structures]
    check_names(names, what=f"--name-suffix {suffix!r}")
    return [
        Structure(name, s.mask, s.roi_type, s.color_rgb, s.provenance)
        for name, s in zip(names, structures)
    ]


def case_inputs(args: argparse.Namespace) -> dict[str, str | None]:
    """The input files and folder the case options name, by option."""
    gtv = getattr(args, "gtv", None)
    return {
        "CT_DIR": args.image,
        "--rtstruct": args.rtstruct,
        "--gtv": gtv if gtv is not None and Path(gtv).is_file() else None,
        "--labelmap": args.labelmap,
    }


def check_outputs(
    outputs: Mapping[str, str | os.PathLike[str] | None],
    inputs: Mapping[str, str | os.PathLike[str] | None],
    *,
    overwrite: bool,
    folders: Mapping[str, str | os.PathLike[str] | None] | None = None,
) -> None:
    """Refuse, before any work, outputs that would replace an input or one another.

    Parameters
    ----------
    outputs : mapping of option to path
        The output files (None entries are skipped); each must be writable
        (:func:`~spinetv.io.atomic.check_writable`), differ from every other and from every
        input file, and lie outside an input folder.
    inputs : mapping of option to path
        The input files and folders (an image folder protects everything inside it).
    overwrite : bool
        --force: existing outputs may be replaced (inputs never).
    folders : mapping of option to path, optional
        Output folders, which must not be an input file nor lie inside an input folder.

    Raises
    ------
    OutputExistsError
        Naming the output and the input (or the other output) it collides with.
    """
    resolved_inputs = [
        (option, Path(path).resolve()) for option, path in inputs.items() if path is not None
    ]

    def refuse_inputs(option: str, path: Path) -> Path:
        target = path.resolve()
        for in_option, source in resolved_inputs:
            if target == source:
                raise OutputExistsError(
                    f"{option} {path}: is the input {in_option}; choose another output path"
                )
            if source.is_dir() and target.is_relative_to(source):
                raise OutputExistsError(
                    f"{option} {path}: lies inside the input folder {in_option} {source}; "
                    "choose another output path"
                )
        return target

    for option, folder in (folders or {}).items():
        if folder is not None:
            refuse_inputs(option, Path(folder))
    seen: dict[Path, str] = {}
    for option, path in outputs.items():
        if path is None:
            continue
        target = refuse_inputs(option, Path(path))
        if target in seen:
            raise OutputExistsError(
                f"{option} {path}: is also the output {seen[target]}; give each output its own path"
            )
        seen[target] = option
        check_writable(path, overwrite=overwrite)


def write_structures(
    case: Case,
    structures: Sequence[Structure],
    out: str | Path,
    *,
    overwrite: bool,
    description: str,
) -> Path:
    """Write ``structures`` next to the input ROIs (new RTSTRUCT file), or alone."""
    if case.reference is None:
        raise SpinetvError("an RTSTRUCT can only be written for a DICOM image series")
    check_writable(out, overwrite=overwrite)
    if case.rtstruct is not None:
        return append_rtstruct(
            case.rtstruct.path, structures, case.reference, out, overwrite=overwrite
        )
    return write_rtstruct(
        structures, case.reference, out, overwrite=overwrite, description=description
    )


def write_figures(
    case: Case,
    gtv: Mask | None,
    sectors: SectorResult,
    named: Sequence[Structure],
    folder: str | Path,
    *,
    overwrite: bool,
    title: str,
) -> list[Path]:
    """Axial PNGs through each labelled level and a sagittal PNG; returns the paths."""
    # matplotlib is imported only when figures are asked for: it costs a second at start-up.
    from spinetv.report.figures import Overlay, save_axial_figure, save_sagittal_figure

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ct = case.image.voxels
    outlines = [Overlay(s.name, s.mask, s.color_rgb) for s in named]
    if gtv is not None:
        outlines.insert(0, Overlay("GTV", gtv, (255, 0, 0)))
    paths = []
    for level, result in sectors.by_level.items():
        sector_outlines = [
            Overlay(f"{number} {name}", result.labels.mask_of(number), SECTOR_COLOURS[number])
            for number, name in result.names.items()
        ]
        paths.append(
            save_axial_figure(
                folder / f"axial_{level}.png",
                grid=case.image.grid,
                ct=ct,
                overlays=sector_outlines + outlines,
                focus=result.labels.mask_of(*range(1, 7)),
                title=f"{title} {level}",
                overwrite=overwrite,
            )
        )
    focus = gtv if gtv is not None else next(iter(case.anatomy.vertebrae.values()))
    paths.append(
        save_sagittal_figure(
            folder / "sagittal.png",
            grid=case.image.grid,
            ct=ct,
            overlays=outlines,
            focus=focus,
            title=title,
            level_labels=dict(case.anatomy.vertebrae),
            overwrite=overwrite,
        )
    )
    return paths


def describe(structure: Structure) -> dict[str, Any]:
    """One structure as a report entry."""
    provenance: Provenance = structure.provenance
    return {
        "name": structure.name,
        "type": structure.roi_type.value,
        "volume_cc": round(structure.volume_cc, 4),
        "description": provenance.description,
    }
