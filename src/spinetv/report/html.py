"""A self-contained HTML report of one plan: figures, the per-level explanation, volumes, sources.

One file a reviewer can open anywhere (figures embedded as base64 PNG data URIs, no script, no
network), built from the JSON-ready report :func:`spinetv.pipeline.plan` returns (or the full
report ``spinetv plan`` writes). Every piece of text is escaped.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from spinetv.errors import SpinetvError
from spinetv.guidelines.loader import (
    SACRAL_SECTOR_NAMES,
    SECTOR_NAMES,
    Guideline,
    list_guidelines,
    load_guideline,
)
from spinetv.io.atomic import write_text_atomic
from spinetv.report.json_report import to_jsonable
from spinetv.report.model import PlanReport, plain_json

__all__ = ["render_html_report", "write_html_report"]

_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px;
       color: #1b1f24; background: #ffffff; max-width: 1150px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 28px;
     border-bottom: 2px solid #2c6fbb; padding-bottom: 3px; }
h3 { font-size: 15px; margin-bottom: 6px; }
.disclaimer { background: #fff4d6; border-left: 4px solid #e0a800; padding: 6px 10px; }
table { border-collapse: collapse; margin: 6px 0 12px 0; font-size: 13px; }
th, td { border: 1px solid #c9d1d9; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #e8f0fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.in-ctv td { background: #fdebd3; } tr.involved td.inv { color: #b00020; font-weight: 600; }
.figures { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; border: 1px solid #c9d1d9; padding: 6px; background: #f6f8fa; }
figure img { max-width: 540px; height: auto; display: block; }
figcaption { font-size: 12px; color: #57606a; }
.small { font-size: 12px; color: #57606a; } .warn { color: #8a4b00; }
code { background: #f0f2f4; padding: 0 3px; }
"""


def _e(value: Any) -> str:
    """Escaped text of any value (None as an em dash)."""
    if value is None:
        return "&#8212;"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return html.escape(f"{value:g}")
    return html.escape(str(value), quote=True)


def _num(value: Any, digits: int = 2) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'<td class="num">{value:.{digits}f}</td>'
    return f'<td class="num">{_e(value)}</td>'


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, raw: bool = False) -> str:
    """A table; cells are escaped unless ``raw`` (then each cell is already ``<td>`` markup)."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(row) if raw else "".join(f"<td>{_e(c)}</td>" for c in row)
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _kv_table(items: Mapping[str, Any]) -> str:
    rows = []
    for key, value in items.items():
        if isinstance(value, Mapping):
            text = ", ".join(f"{k}={_plain(v)}" for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            text = ", ".join(_plain(v) for v in value)
        else:
            text = _plain(value)
        rows.append((key, text))
    return _table(("name", "value"), rows)


def _plain(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}={_plain(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _figure_html(path: Path) -> str:
    mime = _MIME.get(path.suffix.lower())
    if mime is None:
        raise SpinetvError(f"{path}: expected a PNG, JPEG or SVG figure, found {path.suffix!r}")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SpinetvError(f"{path}: figure not found") from None
    encoded = base64.b64encode(data).decode("ascii")
    return (
        f'<figure><img alt="{_e(path.stem)}" src="data:{mime};base64,{encoded}">'
        f"<figcaption>{_e(path.name)}</figcaption></figure>"
    )


def _sector_name(number: int, level: str) -> str:
    names = SACRAL_SECTOR_NAMES if level.upper().startswith("S") else SECTOR_NAMES
    return names.get(number, str(number))


def _level_section(explained: Mapping[str, Any], brief: Mapping[str, Any] | None) -> str:
    level = str(explained.get("level", "?"))
    overlaps = {int(k): v for k, v in dict(explained.get("overlaps_cc", {})).items()}
    volumes = {int(k): v for k, v in dict(explained.get("sector_volumes_cc", {})).items()}
    involved = {int(s) for s in explained.get("involved", [])}
    chosen = {int(s) for s in explained.get("sectors", [])}
    parts = [f"<h3>{_e(level)} ({_e(explained.get('region', ''))})</h3>"]
    if explained.get("text"):
        parts.append(f"<p>{_e(explained['text'])}</p>")
    rows = []
    for number in sorted(set(volumes) | set(overlaps) | set(range(1, 7))):
        css = []
        if number in chosen:
            css.append("in-ctv")
        if number in involved:
            css.append("involved")
        cells = (
            f"<td>{number}</td><td>{_e(_sector_name(number, level))}</td>"
            + _num(volumes.get(number))
            + _num(overlaps.get(number), 3)
            + f'<td class="inv">{_e(number in involved)}</td>'
            + f"<td>{_e(number in chosen)}</td>"
        )
        rows.append(f'<tr class="{" ".join(css)}">{cells}</tr>')
    headers = ("sector", "name", "sector volume (cc)", "GTV overlap (cc)", "involved", "in CTV")
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")

    body = explained.get("body")
    if isinstance(body, Mapping):
        parts.append(
            "<p><b>Body class:</b> "
            f"{_e(body.get('class'))}"
            + (f", side {_e(body.get('side'))}" if body.get("side") else "")
            + f"; GTV fills {_e(_percent(body.get('fraction')))} of the body; offset from the "
            f"mid-sagittal plane {_e(_plain(body.get('offset_range_mm')))} mm; reaches the left "
            f"third: {_e(body.get('reaches_left_third'))}, the right third: "
            f"{_e(body.get('reaches_right_third'))}</p>"
        )
    else:
        parts.append("<p><b>Body class:</b> body not involved</p>")
    fired = list(explained.get("rows", []))
    if fired:
        parts.append(
            _table(
                ("row", "side", "condition met", "sectors added", "source", "verified"),
                (
                    (
                        r.get("id"),
                        r.get("side") or "",
                        r.get("reason"),
                        ", ".join(str(s) for s in r.get("sectors", [])),
                        f"{r.get('citation', '')}, {r.get('locator', '')}",
                        r.get("verified"),
                    )
                    for r in fired
                ),
            )
        )
    else:
        parts.append("<p>No guideline row fired at this level.</p>")
    if explained.get("circumferential"):
        parts.append(f"<p><b>Circumferential:</b> {_e(_plain(explained['circumferential']))}</p>")
    names = ", ".join(f"{s} {_sector_name(s, level)}" for s in sorted(chosen)) or "none"
    parts.append(f"<p><b>CTV sectors:</b> {_e(names)}</p>")
    if brief is not None and brief.get("canal"):
        parts.append(f'<p class="small">Spinal canal: {_e(brief["canal"])}</p>')
    for note in explained.get("notes", []):
        parts.append(f'<p class="warn">Note: {_e(note)}</p>')
    return "".join(parts)


def _percent(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{100 * value:.0f}%"
    return _plain(value)


_STRUCTURE_KEYS_SHOWN = ("volume_cc", "made_by", "source", "clipped_at_image_edge")


def _structures_section(structures: Mapping[str, Any]) -> str:
    rows = []
    for name, entry in structures.items():
        info = dict(entry) if isinstance(entry, Mapping) else {}
        extra = {k: v for k, v in info.items() if k not in _STRUCTURE_KEYS_SHOWN}
        made_by = "; ".join(str(s) for s in info.get("made_by", []))
        clipped = ", ".join(str(s) for s in info.get("clipped_at_image_edge", []))
        rows.append(
            f"<td>{_e(name)}</td>"
            + _num(info.get("volume_cc"))
            + f"<td>{_e(made_by)}</td><td>{_e(info.get('source', ''))}</td>"
            + f"<td>{_e(clipped or 'no')}</td>"
            + f"<td>{_e(', '.join(f'{k}: {_plain(v)}' for k, v in extra.items()))}</td>"
        )
    return _table(
        ("structure", "volume (cc)", "how it was made", "source", "clipped at image edge",
         "details"),
        rows,
        raw=True,
    )


def _guideline_citations(guideline_id: str | None, given: Guideline | None = None) -> str:
    """Citations of the guideline: the value given (a user's file), else a shipped one by id."""
    if given is not None and given.id == guideline_id:
        guideline = given
    elif guideline_id in list_guidelines():
        # Only a shipped id: an id read from a report must never make the page read a file.
        guideline = load_guideline(guideline_id)
    else:
        return ""
    items = []
    for citation in guideline.citations:
        doi = (
            f' <a href="https://doi.org/{_e(citation.doi)}">doi:{_e(citation.doi)}</a>'
            if citation.doi
            else ""
        )
        items.append(f"<li><b>{_e(citation.key)}</b>: {_e(citation.text)}{doi}</li>")
    title = f"<p>{_e(guideline.title)}</p>"
    return title + (f"<ul>{''.join(items)}</ul>" if items else "")


def render_html_report(
    result_report: Mapping[str, Any],
    figures: Sequence[str | os.PathLike[str]] = (),
    *,
    title: str | None = None,
    guideline: Guideline | None = None,
) -> str:
    """The HTML text of a plan's report (see :func:`write_html_report`).

    Parameters
    ----------
    result_report : PlanReport or mapping
        ``PlanResult.report`` from :func:`spinetv.pipeline.plan`, or the JSON report
        ``spinetv plan`` writes (read back as a :class:`~spinetv.report.model.PlanReport`);
        volumes are shown as given (cm³), run time in s.
    figures : sequence of path-like, default ()
        PNG (or JPEG/SVG) figures to embed as data URIs, in this order.
    title : str, optional
        Page heading (default "spinetv plan: <protocol id>").
    guideline : Guideline, optional
        The loaded guideline the plan used, for its citations (else a shipped one is found
        by the report's id; none shown when that fails).

    Returns
    -------
    str
        A complete HTML document, every text escaped, no script.

    Raises
    ------
    SpinetvError
        A figure is missing or not a PNG, JPEG or SVG file.
    """
    report = (
        result_report
        if isinstance(result_report, PlanReport)
        else PlanReport.from_json_dict(to_jsonable(result_report))
    )
    protocol = plain_json(report.protocol)
    guideline_entry = plain_json(report.guideline)
    structures = {name: entry.to_json_dict() for name, entry in report.structures.items()}
    ctv = plain_json(report.ctv)
    heading = title or f"spinetv plan: {protocol.get('id', 'report')}"
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(heading)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(heading)}</h1>",
        '<p class="disclaimer">Contours made by spinetv for review by a qualified clinician; '
        "research software, not a medical device.</p>",
    ]

    summary = {
        "protocol": f"{protocol.get('id', '')} (version {protocol.get('version', '')})",
        "guideline": (
            f"{guideline_entry.get('id', '')} (version {guideline_entry.get('version', '')})"
        ),
        "GTV volume (cc)": report.gtv_volume_cc,
        "candidate levels": list(report.candidate_levels),
        "involved levels": list(report.involved_levels),
    }
    for name in ("CTV", "PTV", "PTV_Eval"):
        if name in report.structures:
            summary[f"{name} volume (cc)"] = report.structures[name].volume_cc
    if report.seconds is not None:
        summary["run time (s)"] = report.seconds
    if report.spinetv_version:
        summary["spinetv version"] = report.spinetv_version
    out += ["<h2>Summary</h2>", _kv_table(summary)]

    if figures:
        out.append("<h2>QA figures</h2>")
        out.append(
            '<p class="small">Axial: patient left on the screen right, anterior up. Sagittal: '
            "anterior left, superior up.</p>"
        )
        out.append('<div class="figures">')
        out += [_figure_html(Path(f)) for f in figures]
        out.append("</div>")

    out.append("<h2>Per-level explanation</h2>")
    briefs = {entry.level: entry.to_json_dict() for entry in report.levels}
    explained_levels = [e for e in ctv.get("levels", []) if isinstance(e, Mapping)]
    if explained_levels:
        out += [_level_section(e, briefs.get(str(e.get("level")))) for e in explained_levels]
    else:
        out.append("<p>No level explanation in this report.</p>")

    anatomy = plain_json(report.anatomy)
    if anatomy:
        out += ["<h2>Anatomy: how each level was labelled</h2>", _anatomy_section(anatomy)]

    out += ["<h2>Structures</h2>", _structures_section(structures)]

    options = plain_json(report.options)
    out.append("<h2>Parameters</h2>")
    sector_options = options.pop("sector_options", None)
    parameters = options.pop("guideline_parameters", None)
    out.append(_kv_table(options))
    if isinstance(parameters, Mapping):
        out += ["<h3>Guideline parameters</h3>", _kv_table(parameters)]
    if isinstance(sector_options, Mapping):
        out += ["<h3>Sector labelling options</h3>", _kv_table(sector_options)]

    out.append("<h2>Protocol and guideline</h2>")
    shown = {k: v for k, v in protocol.items() if k not in ("id",)}
    out.append(_kv_table({"protocol": protocol.get("id"), **shown}))
    out.append(
        _kv_table(
            {
                "guideline": guideline_entry.get("id"),
                "version": guideline_entry.get("version"),
                "guidelines used": guideline_entry.get("all_used", []),
                "CTV ROI description": ctv.get("roi_description"),
            }
        )
    )
    out.append(_guideline_citations(guideline_entry.get("id"), guideline))

    notes = list(report.notes)
    inputs = report.inputs.to_json_dict() if report.inputs is not None else {}
    read_warnings = [str(w) for w in inputs.get("read_warnings", [])]
    out.append("<h2>Notes and warnings</h2>")
    if notes or read_warnings:
        items = [f'<li class="warn">{_e(n)}</li>' for n in notes]
        items += [f'<li class="warn">reading: {_e(w)}</li>' for w in read_warnings]
        out.append(f"<ul>{''.join(items)}</ul>")
    else:
        out.append("<p>None.</p>")

    if inputs:
        out.append("<h2>Inputs</h2>")
        shown_inputs = {k: v for k, v in inputs.items() if k != "read_warnings"}
        if report.output is not None:
            shown_inputs["output"] = report.output
        out.append(_kv_table(shown_inputs))
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _anatomy_section(anatomy: Mapping[str, Any]) -> str:
    """One row per labelled level (frame, canal, checks), the levels left out, the sacrum."""
    rows = []
    levels = anatomy.get("levels") or {}
    for level, q in levels.items():
        if not isinstance(q, Mapping):
            continue
        failed = [c for c in q.get("checks", []) if isinstance(c, Mapping) and not c.get("passed")]
        verdict = "ok" if not failed else "; ".join(
            f"{c.get('severity')}: {c.get('name')} ({c.get('measured')})" for c in failed
        )
        css = ' class="warn"' if failed else ""
        source = str(q.get("frame_source"))
        if q.get("frame_turn_deg") is not None:
            source += f"; turned {q.get('frame_turn_deg')} deg onto the shared left axis"
        if q.get("sacral_body_borders") is not None:
            source += f"; body borders from {q.get('sacral_body_borders')}"
        rows.append(
            f"<tr{css}><td>{_e(level)}</td><td>{_e(source)}</td>"
            f"<td>{_e(q.get('tilt_deg'))}</td><td>{_e(q.get('canal_method'))}</td>"
            f"<td>{_e(q.get('bridged_gap_mm'))}</td><td>{_e(q.get('body_fraction'))}</td>"
            f"<td>{_e(verdict)}</td></tr>"
        )
    html = [
        "<table><tr><th>level</th><th>axis from</th><th>tilt (deg)</th><th>canal</th>"
        "<th>ring gap bridged (mm)</th><th>body fraction</th><th>checks</th></tr>",
        *rows,
        "</table>",
    ]
    unlabelled = anatomy.get("unlabelled") or {}
    if unlabelled:
        items = "".join(
            f'<li class="warn">{_e(lv)}: {_e(why)}</li>' for lv, why in unlabelled.items()
        )
        html.append(f"<p>Not labelled (not needed by the target):</p><ul>{items}</ul>")
    sacrum = anatomy.get("sacrum")
    if isinstance(sacrum, Mapping):
        html.append(f"<p>{_e(sacrum.get('description'))}</p>")
    return "\n".join(html)


def write_html_report(
    result_report: Mapping[str, Any],
    figures: Sequence[str | os.PathLike[str]],
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    title: str | None = None,
    guideline: Guideline | None = None,
) -> Path:
    """Write a self-contained HTML report of one plan.

    Parameters
    ----------
    result_report : mapping
        ``PlanResult.report`` from :func:`spinetv.pipeline.plan`, or the JSON report
        ``spinetv plan`` writes (which adds the inputs and timings).
    figures : sequence of path-like
        PNG (or JPEG/SVG) figures to embed as data URIs, in this order.
    path : path-like
        The HTML file, written atomically.
    overwrite : bool, default False
        Replace an existing file.
    title : str, optional
        Page heading (default "spinetv plan: <protocol id>").
    guideline : Guideline, optional
        The loaded guideline the plan used, for its citations (a shipped one is found by the
        report's id; a user's guideline file is not read again).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    SpinetvError
        A figure is missing or not an image; :class:`~spinetv.errors.OutputExistsError` when
        ``path`` exists and ``overwrite`` is false.
    """
    text = render_html_report(result_report, figures, title=title, guideline=guideline)
    return write_text_atomic(path, text, overwrite=overwrite)
