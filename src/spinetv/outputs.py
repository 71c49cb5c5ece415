"""Writing a planned case: structures, JSON report, QA figures and HTML page.

This is library code below the command line and :mod:`spinetv.batch`: ``spinetv plan``, ``demo``
and ``batch`` and a planning-system plugin make the same call, :func:`plan_and_write`, which
plans one protocol on a read case and writes everything asked for in :class:`PlanOutputs`.

Structures go to a new RTSTRUCT (next to the input ROIs when the case came with one) for a DICOM
image series, or to a folder of NIfTI masks (one per structure with the
``spinetv_structures.json`` sidecar, and each level's sector label map in ``sectors/``) when the
image is NIfTI or the output is a folder, so that research datasets (VerSe, CTSpine1K,
TotalSegmentator's) run end to end.

Paths are checked before any work (:func:`check_outputs`): no output may replace an input, lie
inside an input folder or be another output, and an existing file is replaced only when asked.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spinetv.errors import OutputExistsError, SpinetvError
from spinetv.io.atomic import check_writable
from spinetv.report.model import PlanReport, ReportInputs
from spinetv.structure import Provenance, Structure, check_tg263_name
from spinetv.version import __version__

if TYPE_CHECKING:
    from spinetv.case import Case
    from spinetv.geometry.mask import Mask
    from spinetv.pipeline import PlanOptions, PlanResult, SectorResult
    from spinetv.planning.protocols import Protocol

__all__ = [
    "PlanOutputs",
    "WrittenPlan",
    "check_names",
    "check_outputs",
    "describe",
    "is_mask_folder",
    "plan_and_write",
    "planned_names",
    "rename",
    "write_figures",
    "write_structures",
]

log = logging.getLogger("spinetv")


@dataclass(frozen=True)
class PlanOutputs:
    """Where the outputs of one planned protocol go.

    Parameters
    ----------
    structures : Path
        The RTSTRUCT file, or a folder for NIfTI masks (see :func:`is_mask_folder`).
    report : Path, optional
        JSON report of every decision.
    html : Path, optional
        Self-contained HTML review page (figures embedded when ``figures`` is given).
    figures : Path, optional
        Folder for the QA figures (PNG).
    """

    structures: Path
    report: Path | None = None
    html: Path | None = None
    figures: Path | None = None

    def __post_init__(self) -> None:
        for name in ("structures", "report", "html", "figures"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value))

    def files(self, tag: str = "") -> dict[str, Path | None]:
        """The output files by option (``--out``, ``--report``, ``--html``), for checking.

        Parameters
        ----------
        tag : str, default ""
            Appended to each option name (to tell apart the outputs of several protocols).

        Returns
        -------
        dict of str to Path or None
            ``--out<tag>``, ``--report<tag>`` and ``--html<tag>`` to their paths (None when not
            asked for); the figures folder is not listed.
        """
        return {
            f"--out{tag}": self.structures,
            f"--report{tag}": self.report,
            f"--html{tag}": self.html,
        }


@dataclass(frozen=True)
class WrittenPlan:
    """A planned protocol and what was written for it.

    Parameters
    ----------
    result : PlanResult
        The planning result (structures, sectors, CTV, the pipeline's report).
    report : PlanReport
        The full report as written to JSON: the pipeline's report with the inputs, the output
        paths and the time taken.
    structures : tuple of Path
        The RTSTRUCT, or the mask files and sidecar of a NIfTI folder.
    figures : tuple of Path
        The QA figures written.
    seconds : float
        Wall time of planning and writing, s.
    """

    result: PlanResult
    report: PlanReport
    structures: tuple[Path, ...]
    figures: tuple[Path, ...]
    seconds: float


def is_mask_folder(out: str | os.PathLike[str], case: Case | None = None) -> bool:
    """Whether structures for ``out`` are written as a NIfTI mask folder, not an RTSTRUCT.

    Parameters
    ----------
    out : path-like
        The structures output.
    case : Case, optional
        The case; a NIfTI image (no DICOM series to reference) always gives a folder.

    Returns
    -------
    bool
        True when the image is not a DICOM series, ``out`` is an existing folder, or ``out`` is
        written with a trailing path separator.
    """
    text = os.fspath(out)
    if case is not None and case.reference is None:
        return True
    return Path(text).is_dir() or text.endswith(("/", os.sep))


def check_names(names: Iterable[str], *, what: str) -> None:
    """Refuse any name that is not a TG-263 structure name (16 characters, letters, _ ^ ~ -).

    Parameters
    ----------
    names : iterable of str
        ROI names.
    what : str
        What the names come from, for the message (an option, a setting).

    Raises
    ------
    SpinetvError
        Naming the first offending name and why.
    """
    for name in names:
        problems = check_tg263_name(name)
        if problems:
            raise SpinetvError(
                f"{what}: ROI name {name!r} is not a TG-263 name ({'; '.join(problems)})"
            )


def rename(structures: Sequence[Structure], suffix: str) -> list[Structure]:
    """Append ``suffix`` to each name.

    Parameters
    ----------
    structures : sequence of Structure
        The structures.
    suffix : str
        Appended to every name ("" keeps them).

    Returns
    -------
    list of Structure
        The renamed structures, in order.

    Raises
    ------
    SpinetvError
        A resulting name is not a TG-263 name (longer than 16 characters, other characters);
        names are never cut, so two structures cannot end up with one name.
    """
    if not suffix:
        return list(structures)
    names = [f"{s.name}{suffix}" for s in structures]
    check_names(names, what=f"name suffix {suffix!r}")
    return [
        Structure(name, s.mask, s.roi_type, s.color_rgb, s.provenance)
        for name, s in zip(names, structures)
    ]


def planned_names(protocol: Protocol) -> list[str]:
    """The ROI names a protocol makes besides the sectors (CTV, PTV, PTV_Eval, PRVs...).

    Parameters
    ----------
    protocol : Protocol
        A loaded protocol preset.

    Returns
    -------
    list of str
        The names, in the order they are written.
    """
    names = ["CTV", "PTV"]
    if protocol.ptv_eval is not None:
        names.append(protocol.ptv_eval.name)
    names.extend(p.name for p in protocol.prvs)
    if protocol.thecal_sac is not None:
        names.append(protocol.thecal_sac.name)
    if protocol.cord_evaluation is not None:
        names.append(protocol.cord_evaluation.name)
    return names


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
        Existing outputs may be replaced (inputs never).
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
        if not Path(path).is_dir():
            check_writable(path, overwrite=overwrite)


def write_structures(
    case: Case,
    structures: Sequence[Structure],
    out: str | os.PathLike[str],
    *,
    overwrite: bool,
    description: str,
    sectors: SectorResult | None = None,
) -> list[Path]:
    """Write ``structures`` as an RTSTRUCT, or as a NIfTI mask folder.

    Parameters
    ----------
    case : Case
        The case (its image series is referenced; its input RTSTRUCT's ROIs are kept).
    structures : sequence of Structure
        The new structures.
    out : path-like
        RTSTRUCT file, or folder (:func:`is_mask_folder`).
    overwrite : bool
        Replace existing outputs.
    description : str
        StructureSetDescription (RTSTRUCT) or the sidecar's source (folder).
    sectors : SectorResult, optional
        Sector labels (1-6) written as ``sectors/<level>_sectors.nii.gz`` into a mask folder, in
        a sub-folder so that the folder's masks convert back to an RTSTRUCT (ignored for an
        RTSTRUCT, which holds the sectors as ROIs).

    Returns
    -------
    list of Path
        The RTSTRUCT, or every file of the folder.
    """
    if is_mask_folder(out, case):
        from spinetv.io.mask_folder import write_mask_folder

        label_maps = (
            {f"sectors/{lv}_sectors.nii.gz": r.labels for lv, r in sectors.by_level.items()}
            if sectors is not None
            else {}
        )
        return write_mask_folder(
            structures, out, overwrite=overwrite, source=description, label_maps=label_maps
        )
    from spinetv.io.rtstruct import append_rtstruct, write_rtstruct

    assert case.reference is not None  # is_mask_folder() is True without one
    check_writable(out, overwrite=overwrite)
    if case.rtstruct is not None:
        return [
            append_rtstruct(
                case.rtstruct.path, structures, case.reference, out, overwrite=overwrite
            )
        ]
    return [
        write_rtstruct(
            structures, case.reference, out, overwrite=overwrite, description=description
        )
    ]


def write_figures(
    case: Case,
    gtv: Mask | None,
    sectors: SectorResult,
    named: Sequence[Structure],
    folder: str | os.PathLike[str],
    *,
    overwrite: bool,
    title: str,
) -> list[Path]:
    """Axial PNGs through each labelled level and a sagittal PNG.

    Parameters
    ----------
    case : Case
        The case (its image is drawn).
    gtv : Mask, optional
        Outlined in red.
    sectors : SectorResult
        Each level's sectors, outlined on its axial figure.
    named : sequence of Structure
        Further outlines (CTV, PTV...).
    folder : path-like
        Output folder (made when absent).
    overwrite : bool
        Replace existing figures.
    title : str
        Figure titles' prefix.

    Returns
    -------
    list of Path
        The written PNGs.
    """
    # matplotlib is imported only when figures are asked for: it costs a second at start-up.
    from spinetv.pipeline import SECTOR_COLOURS
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
    """One structure as a report entry.

    Parameters
    ----------
    structure : Structure
        The structure.

    Returns
    -------
    dict
        ``name``, ``type`` (RTROIInterpretedType), ``volume_cc`` (cm³, 4 decimals) and
        ``description``.
    """
    provenance: Provenance = structure.provenance
    return {
        "name": structure.name,
        "type": structure.roi_type.value,
        "volume_cc": round(structure.volume_cc, 4),
        "description": provenance.description,
    }


def _input_report(case: Case) -> ReportInputs:
    image = case.image_source
    if case.reference is not None and case.reference.paths:
        image = str(case.reference.paths[0].parent)
    return ReportInputs(
        image=image,
        rtstruct=str(case.rtstruct.path) if case.rtstruct else None,
        sources=case.sources,
        read_warnings=case.read_warnings,
        notes=case.notes,
    )


def plan_and_write(
    case: Case,
    options: PlanOptions,
    outputs: PlanOutputs,
    *,
    overwrite: bool = False,
    name_suffix: str = "",
) -> WrittenPlan:
    """Plan one protocol on a read case and write its structures, report, figures and HTML.

    Parameters
    ----------
    case : Case
        A case read with :func:`spinetv.load_case`, with its GTV.
    options : PlanOptions
        The protocol and its overrides.
    outputs : PlanOutputs
        Where to write; ``report``, ``html`` and ``figures`` only when given.
    overwrite : bool
        Replace existing outputs (inputs never).
    name_suffix : str
        Appended to every new ROI name (TG-263 checked, never cut).

    Returns
    -------
    WrittenPlan
        The result, the full report and the written paths.

    Raises
    ------
    SpinetvError
        The case has no GTV, a name is not a TG-263 name, or a subclass for the reason planning
        or writing failed.
    """
    from spinetv.pipeline import plan

    if case.gtv is None:
        raise SpinetvError("the case has no GTV: read it with gtv=<ROI name or mask file>")
    start = time.perf_counter()
    result = plan(case.gtv, case.anatomy, options)
    structures = rename(result.structures, name_suffix)
    written = write_structures(
        case,
        structures,
        outputs.structures,
        overwrite=overwrite,
        description=f"spinetv {__version__} {result.protocol.id}",
        sectors=result.sectors,
    )
    figure_paths: list[Path] = []
    if outputs.figures is not None:
        named = [s for s in structures if s.roi_type.value in ("CTV", "PTV")]
        figure_paths = write_figures(
            case,
            case.gtv,
            result.sectors,
            named,
            outputs.figures,
            overwrite=overwrite,
            title=result.protocol.id,
        )
    seconds = time.perf_counter() - start
    report = result.report.with_outputs(
        inputs=_input_report(case),
        output=str(outputs.structures),
        output_format="nifti" if is_mask_folder(outputs.structures, case) else "rtstruct",
        figures=tuple(str(p) for p in figure_paths),
        name_suffix=name_suffix,
        seconds=round(seconds, 3),
    )
    if outputs.report is not None:
        from spinetv.report.json_report import write_json_report

        write_json_report(report.to_json_dict(), outputs.report, overwrite=overwrite)
    if outputs.html is not None:
        from spinetv.report.html import write_html_report  # only when asked

        write_html_report(
            report,
            figure_paths,
            outputs.html,
            overwrite=overwrite,
            guideline=options.resolved_guideline(),
        )
    log.info(
        "%s: %d structures written to %s", result.protocol.id, len(structures), outputs.structures
    )
    return WrittenPlan(
        result=result,
        report=report,
        structures=tuple(written),
        figures=tuple(figure_paths),
        seconds=seconds,
    )
