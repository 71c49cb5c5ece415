"""Evaluating a plan's dose from files and writing the report, DVH table and HTML page.

Library code below the command line (``spinetv evaluate``) and :mod:`spinetv.batch`: read the
image series (for the grid the structures are rasterised on), the structures a protocol's
limits name, the RTDOSE(s) and optionally the RTPLAN, evaluate (:func:`spinetv.evaluate`), and
write what was asked. Structures are rasterised on the image grid and sampled with sub-voxels
(:mod:`spinetv.dose.dvh`).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spinetv.evaluation import DoseEvaluation, evaluate
from spinetv.io.atomic import write_text_atomic
from spinetv.planning.protocols import load_protocol
from spinetv.version import __version__
from spinetv.vocabulary import OrganRole

if TYPE_CHECKING:
    from spinetv.case import Case
    from spinetv.geometry.mask import Mask
    from spinetv.pipeline import PlanResult

__all__ = ["DVH_BIN_GY", "dvh_csv_text", "evaluate_files", "evaluate_planned", "plan_structures"]

#: Dose step of the DVH table and plot, Gy.
DVH_BIN_GY = 0.1


def _curves(evaluation: DoseEvaluation) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    top = max((d.max for d in evaluation.dvhs.values() if d.doses.size), default=0.0)
    bins = np.arange(0.0, top + 2 * DVH_BIN_GY, DVH_BIN_GY)
    curves = {}
    for name, dvh in evaluation.dvhs.items():
        if dvh.sampled_cc > 0:
            curves[name] = (bins, 100 * dvh.cumulative(bins) / dvh.sampled_cc)
    return curves


def dvh_csv_text(evaluation: DoseEvaluation) -> str:
    """The cumulative DVHs as CSV: one row per dose bin, one column per structure.

    Parameters
    ----------
    evaluation : DoseEvaluation
        The evaluation and its DVHs.

    Returns
    -------
    str
        CSV text: ``dose_gy`` then, per structure, the share of its volume (%) receiving at
        least that dose (bins of :data:`DVH_BIN_GY`).
    """
    curves = _curves(evaluation)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["dose_gy", *(f"{name}_pct" for name in curves)])
    if curves:
        bins = next(iter(curves.values()))[0]
        for index, dose in enumerate(bins):
            writer.writerow(
                [f"{dose:.2f}", *(f"{shares[index]:.3f}" for _, shares in curves.values())]
            )
    return out.getvalue()


def plan_structures(case: Case, result: PlanResult) -> dict[str, Mask]:
    """The masks a dose is evaluated on after planning: what the plan made, the GTV and the
    case's organs under their TG-263 names (a structure the plan made wins).

    Parameters
    ----------
    case : Case
        The case that was planned.
    result : PlanResult
        The plan.

    Returns
    -------
    dict of str to Mask
        By ROI name.
    """
    structures = {s.name: s.mask for s in result.structures}
    if case.gtv is not None:
        structures.setdefault("GTV", case.gtv)
    anatomy = case.anatomy
    for role in OrganRole:
        mask = getattr(anatomy, role.value, None)
        if mask is not None:
            structures.setdefault(role.tg263, mask)
    return structures


def evaluate_planned(
    case: Case,
    result: PlanResult,
    doses: Sequence[str | os.PathLike[str]],
    *,
    report: str | os.PathLike[str] | None = None,
    html: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> DoseEvaluation:
    """Evaluate a dose against the protocol a case was just planned with.

    Parameters
    ----------
    case : Case
        The planned case.
    result : PlanResult
        Its plan (the protocol's limits name its structures).
    doses : sequence of path-like
        The RTDOSE, or BEAM doses to sum.
    report, html : path-like, optional
        JSON report and HTML page.
    overwrite : bool
        Replace existing outputs.

    Returns
    -------
    DoseEvaluation
        Every limit evaluated.
    """
    from spinetv.io.rtdose import read_rtdose, sum_doses

    dose = sum_doses([read_rtdose(path) for path in doses])
    evaluation = evaluate(plan_structures(case, result), dose, result.protocol)
    document = {
        "spinetv_version": __version__,
        "inputs": {"doses": [str(d) for d in doses]},
        **evaluation.to_json_dict(),
    }
    _write(evaluation, document, result.protocol.id, report, html, None, overwrite)
    return evaluation


def _write(
    evaluation: DoseEvaluation,
    document: dict[str, Any],
    protocol_id: str,
    report: str | os.PathLike[str] | None,
    html: str | os.PathLike[str] | None,
    dvh_csv: str | os.PathLike[str] | None,
    overwrite: bool,
) -> None:
    if report is not None:
        from spinetv.report.json_report import write_json_report

        write_json_report(document, report, overwrite=overwrite)
    if dvh_csv is not None:
        write_text_atomic(dvh_csv, dvh_csv_text(evaluation), overwrite=overwrite)
    if html is not None:
        from spinetv.report.dose_html import dvh_plot_png, write_dose_html

        curves = _curves(evaluation)
        png = dvh_plot_png(curves, title=f"{protocol_id}: cumulative DVH") if curves else None
        write_dose_html(document, html, dvh_png=png, overwrite=overwrite)


def evaluate_files(
    image: str | os.PathLike[str],
    rtstruct: str | os.PathLike[str],
    doses: Sequence[str | os.PathLike[str]],
    protocol: str,
    *,
    plan: str | os.PathLike[str] | None = None,
    names: Mapping[str, str] | None = None,
    series_uid: str | None = None,
    strict: bool = False,
    report: str | os.PathLike[str] | None = None,
    html: str | os.PathLike[str] | None = None,
    dvh_csv: str | os.PathLike[str] | None = None,
    figures: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> DoseEvaluation:
    """Evaluate dose files against a protocol and write the outputs asked for.

    Parameters
    ----------
    image : path-like
        The planning image series (DICOM folder) the RTSTRUCT refers to.
    rtstruct : path-like
        The structures.
    doses : sequence of path-like
        One RTDOSE, or the BEAM doses of one plan (summed).
    protocol : str
        Protocol preset name or file, with a ``[dose]`` section.
    plan : path-like, optional
        The RTPLAN, whose fractions are compared with the protocol's.
    names : mapping of str to str, optional
        ROI name in the RTSTRUCT of a structure the limits name (``{"GTV": "GTV_L3"}``).
    series_uid : str, optional
        Which series of the image folder.
    strict : bool
        A different fractionation is an error, not a warning.
    report, html, dvh_csv : path-like, optional
        JSON report, HTML page, cumulative DVH table.
    figures : path-like, optional
        Folder for isodose figures (axial and sagittal through the GTV, or the first target
        found), at 50, 80, 100 and 140 % of the prescription.
    overwrite : bool
        Replace existing outputs.

    Returns
    -------
    DoseEvaluation
        Every limit evaluated.

    Raises
    ------
    SpinetvError
        A subclass naming the file and the problem (unreadable file, other frame of reference,
        no dose limits in the protocol, fractions differing under ``strict``).
    """
    from spinetv.io.dicom_read import read_dicom_series
    from spinetv.io.rtdose import read_plan_fractionation, read_rtdose, sum_doses
    from spinetv.io.rtstruct import read_rtstruct, read_structures

    preset = load_protocol(protocol)
    wanted = {c.structure for c in preset.dose.constraints} if preset.dose else set()
    renamed = dict(names or {})
    image_value = read_dicom_series(image, series_uid=series_uid)
    data = read_rtstruct(rtstruct)
    present = {roi.name for roi in data.rois}
    lookup = {limit: renamed.get(limit, limit) for limit in wanted}
    found = {limit: roi for limit, roi in lookup.items() if roi in present}
    reference = image_value.reference if image_value.reference is not None else image_value.grid
    read = read_structures(data, reference, names=sorted(set(found.values())))
    structures = {limit: read[roi].mask for limit, roi in found.items()}
    dose = sum_doses([read_rtdose(path) for path in doses])
    fractions = read_plan_fractionation(plan).fractions if plan is not None else None
    evaluation = evaluate(structures, dose, preset, fractions=fractions, strict=strict)
    document: dict[str, Any] = {
        "spinetv_version": __version__,
        "inputs": {
            "image": str(image),
            "rtstruct": str(rtstruct),
            "doses": [str(d) for d in doses],
            "plan": None if plan is None else str(plan),
            "roi_names": lookup,
            "plan_fractions": fractions,
        },
        **evaluation.to_json_dict(),
    }
    _write(evaluation, document, preset.id, report, html, dvh_csv, overwrite)
    if figures is not None:
        from spinetv.report.figures import Overlay, save_isodose_figure

        folder = Path(figures)
        folder.mkdir(parents=True, exist_ok=True)
        focus = next(
            (structures[n] for n in ("GTV", "PTV_Eval", "PTV") if n in structures), None
        )
        if focus is not None and preset.dose is not None:
            levels = [f * preset.dose.prescription_gy for f in (0.5, 0.8, 1.0, 1.4)]
            colours = [(255, 0, 0), (0, 200, 255), (0, 255, 0), (255, 0, 255), (255, 255, 0)]
            overlays = [
                Overlay(name, mask, colours[i % len(colours)])
                for i, (name, mask) in enumerate(structures.items())
            ]
            for plane in ("axial", "sagittal"):
                save_isodose_figure(
                    folder / f"isodose_{plane}.png",
                    grid=image_value.grid,
                    ct=image_value.voxels,
                    dose=dose,
                    levels_gy=levels,
                    overlays=overlays,
                    focus=focus,
                    title=preset.id,
                    plane=plane,
                    overwrite=overwrite,
                )
    return evaluation

