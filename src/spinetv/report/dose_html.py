"""A self-contained HTML page of a dose evaluation: the limits table and the DVHs."""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from spinetv.io.atomic import write_text_atomic
from spinetv.report.html import _CSS, _e, _table

__all__ = ["dvh_plot_png", "render_dose_html", "write_dose_html"]

_VERDICT = {
    True: ("pass", "#1a7f37"),
    False: ("FAIL", "#cf222e"),
    None: ("not evaluable", "#9a6700"),
}


def dvh_plot_png(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], *, title: str) -> bytes:
    """A cumulative DVH plot as PNG bytes.

    Parameters
    ----------
    curves : mapping of str to (ndarray, ndarray)
        Per structure, the doses (Gy) and the share of the volume (%) at or above each.
    title : str
        The plot's title.

    Returns
    -------
    bytes
        The PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    try:
        for name, (doses, shares) in curves.items():
            ax.plot(doses, shares, label=name, linewidth=1.6)
        ax.set_xlabel("dose (Gy)")
        ax.set_ylabel("volume (%)")
        ax.set_ylim(0, 102)
        ax.set_xlim(left=0)
        ax.grid(True, alpha=0.3)
        ax.set_title(title)
        ax.legend(fontsize=8)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buffer.getvalue()


def render_dose_html(report: Mapping[str, Any], dvh_png: bytes | None = None) -> str:
    """The HTML text of a dose evaluation report.

    Parameters
    ----------
    report : mapping
        ``DoseEvaluation.to_json_dict()`` (with any inputs added).
    dvh_png : bytes, optional
        The cumulative DVH plot, embedded.

    Returns
    -------
    str
        One self-contained page.
    """
    summary = report.get("summary", {})
    mandatory = summary.get("mandatory", {})
    optimal = summary.get("optimal", {})
    verdict = "all mandatory limits met" if summary.get("all_mandatory_passed") else (
        "NOT all mandatory limits met"
    )
    rows = []
    for entry in report.get("constraints", []):
        text, colour = _VERDICT[entry.get("passed")]
        value = entry.get("value")
        shown = "&#8212;" if value is None else f"{value:.2f} {_e(entry.get('unit'))}"
        rows.append(
            [
                f"<td>{_e(entry.get('structure'))}</td>",
                f"<td>{_e(entry.get('metric'))}</td>",
                f"<td>{shown}</td>",
                f"<td>{_e(entry.get('limit'))}</td>",
                f"<td>{_e(entry.get('priority'))}</td>",
                f'<td style="color:{colour};font-weight:600">{text}'
                + (f" ({_e(entry.get('reason'))})" if entry.get("reason") else "")
                + "</td>",
                f"<td>{_e(entry.get('source'))}</td>",
            ]
        )
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>spinetv dose evaluation: {_e(report.get('protocol'))}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Dose evaluation: {_e(report.get('protocol'))}</h1>",
        '<p class="disclaimer">Computed by spinetv for review by a qualified physicist; the '
        "planning system's own DVH is the clinical record.</p>",
        f"<p><b>{_e(verdict)}</b>: mandatory {mandatory.get('passed', 0)} passed, "
        f"{mandatory.get('failed', 0)} failed, {mandatory.get('not_evaluable', 0)} not "
        f"evaluable; optimal {optimal.get('passed', 0)} of "
        f"{sum(int(v) for v in optimal.values()) if optimal else 0} passed. Prescription "
        f"{_e(report.get('prescription_gy'))} Gy in {_e(report.get('fractions'))} fractions; "
        f"dose {_e(report.get('dose'))}.</p>",
        "<h2>Limits</h2>",
        _table(
            ("structure", "metric", "value", "limit", "priority", "verdict", "source"),
            rows,
            raw=True,
        ),
    ]
    if dvh_png is not None:
        data = base64.b64encode(dvh_png).decode("ascii")
        out += ["<h2>Cumulative DVH</h2>", f'<img alt="DVH" src="data:image/png;base64,{data}">']
    warnings_ = report.get("warnings") or []
    if warnings_:
        out.append("<h2>Warnings</h2><ul>" + "".join(f"<li>{_e(w)}</li>" for w in warnings_))
        out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out)


def write_dose_html(
    report: Mapping[str, Any],
    path: str | os.PathLike[str],
    *,
    dvh_png: bytes | None = None,
    overwrite: bool = False,
) -> Path:
    """Write :func:`render_dose_html` atomically.

    Parameters
    ----------
    report : mapping
        The evaluation report.
    path : path-like
        The HTML file.
    dvh_png : bytes, optional
        The DVH plot to embed.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    Path
        ``path``.
    """
    return write_text_atomic(path, render_dose_html(report, dvh_png), overwrite=overwrite)
