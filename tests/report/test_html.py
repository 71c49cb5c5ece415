"""The HTML report: content of a plan on a phantom, escaping, and a real render in Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image as PILImage

from spinetv.errors import OutputExistsError, SpinetvError
from spinetv.phantom import GtvSpec, make_spine_phantom
from spinetv.pipeline import Anatomy, PlanOptions, PlanResult, plan
from spinetv.report.figures import Overlay, save_axial_figure
from spinetv.report.html import render_html_report, write_html_report

CHROMIUM = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
    None,
)


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> tuple[PlanResult, list[Path]]:
    phantom = make_spine_phantom(
        levels=("L1", "L2", "L3"),
        spacing_mm=(3.0, 1.5, 1.5),
        gtv=GtvSpec(level="L2", sectors=(1, 2), body_side="left"),
    )
    assert phantom.gtv is not None
    result = plan(
        phantom.gtv,
        Anatomy(phantom.grid, phantom.vertebrae, cord=phantom.cord),
        PlanOptions(protocol="chictr1900023401-involved"),
    )
    named = {s.name: s for s in result.structures}
    folder = tmp_path_factory.mktemp("figures")
    figure = save_axial_figure(
        folder / "axial_L2.png",
        grid=phantom.grid,
        ct=phantom.hu,
        overlays=[
            Overlay("GTV", phantom.gtv, (255, 0, 0)),
            Overlay("CTV", named["CTV"].mask, named["CTV"].color_rgb),
        ],
        focus=phantom.vertebrae["L2"],
        title="test L2",
    )
    return result, [figure]


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


def test_report_holds_the_explanation_volumes_parameters_and_sources(
    planned: tuple[PlanResult, list[Path]], tmp_path: Path
) -> None:
    result, figures = planned
    path = write_html_report(result.report, figures, tmp_path / "report.html")
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    # self-contained: the figure embedded, nothing fetched
    assert html.count("data:image/png;base64,") == 1
    assert not re.search(r"""(src|href)=["'](?!data:|https://doi\.org/)""", html)
    text = _text(html)
    # per-level explanation: the rows fired with their sources, body class, chosen sectors
    for expected in ("L2 (lumbar)", "lateralized", "Table 2, row 2", "Table 2, row 4",
                     "left transverse process and lamina", "CTV sectors:"):
        assert expected in text, expected
    explained = result.report["ctv"]["levels"][0]
    overlap = explained["overlaps_cc"]["1"]
    assert f"{overlap:.3f}" in text
    # structures with how each was made, parameters, protocol and guideline citation
    for name in ("CTV", "PTV", "PTV_Eval", "SpinalCord_PRV02"):
        volume = result.report["structures"][name]["volume_cc"]
        assert re.search(rf"<td>{name}</td><td class=\"num\">{volume:.2f}</td>", html), name
    assert "CTV + 3 mm isotropic" in text
    assert "min_overlap_cc" in text and "midline_tolerance_mm" in text
    assert "chictr1900023401-involved" in text
    assert "https://doi.org/10.1016/j.ijrobp.2012.03.009" in html


def test_all_text_is_escaped(planned: tuple[PlanResult, list[Path]]) -> None:
    result, _ = planned
    report: dict[str, Any] = dict(result.report)
    report["notes"] = ["<script>alert('x')</script> & more"]
    report["inputs"] = {"rtstruct": 'a"b<c>.dcm', "read_warnings": ["<b>bold</b>"]}
    html = render_html_report(report)
    assert "<script>" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in html
    assert "a&quot;b&lt;c&gt;.dcm" in html


def test_refuses_to_overwrite_and_names_a_missing_figure(
    planned: tuple[PlanResult, list[Path]], tmp_path: Path
) -> None:
    result, figures = planned
    path = write_html_report(result.report, figures, tmp_path / "r.html")
    with pytest.raises(OutputExistsError):
        write_html_report(result.report, figures, path)
    write_html_report(result.report, [], path, overwrite=True)
    assert "data:image" not in path.read_text(encoding="utf-8")
    with pytest.raises(SpinetvError, match="nowhere.png: figure not found"):
        write_html_report(result.report, [tmp_path / "nowhere.png"], tmp_path / "x.html")


def _screenshot(html: Path, png: Path) -> None:
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                f"--screenshot={png}",
                "--window-size=1200,1600",
                html.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium on PATH: install it (Debian: apt-get install -y chromium) to render",
)
def test_report_renders_in_chromium_with_the_figure_visible(
    planned: tuple[PlanResult, list[Path]], tmp_path: Path
) -> None:
    result, figures = planned
    with_figure = write_html_report(result.report, figures, tmp_path / "with.html")
    without = write_html_report(result.report, [], tmp_path / "without.html")
    shots = {}
    for name, page in (("with", with_figure), ("without", without)):
        png = tmp_path / f"{name}.png"
        _screenshot(page, png)
        shots[name] = np.asarray(PILImage.open(png).convert("RGB"), dtype=np.int16)
    shot = shots["with"]
    assert shot.shape[:2] == (1600, 1200)
    colours = len(np.unique(shot.reshape(-1, 3), axis=0))
    not_white = np.any(shot < 240, axis=2).mean()
    assert colours > 200, f"only {colours} distinct colours: blank render?"
    assert not_white > 0.05, f"only {not_white:.1%} of the page is not white"
    # the figure region: dark CT pixels (grey, R=G=B < 80) appear only with the figure
    def dark_grey(image: np.ndarray) -> float:
        r, g, b = image[..., 0], image[..., 1], image[..., 2]
        return float(((r < 80) & (abs(r - g) < 6) & (abs(g - b) < 6)).mean())

    assert dark_grey(shot) > 0.02
    assert dark_grey(shots["without"]) < dark_grey(shot) / 4


def test_anatomy_table_shows_each_level_and_its_failed_checks(
    planned: tuple[PlanResult, list[Path]],
) -> None:
    result, _ = planned
    report = dict(result.report)
    anatomy = dict(report["anatomy"])
    levels = {lv: dict(q) for lv, q in anatomy["levels"].items()}
    level = next(iter(levels))
    failed = {"name": "canal method", "passed": False, "severity": "warning",
              "measured": "estimated from arch", "expected": "closed ring"}
    levels[level]["checks"] = [*levels[level]["checks"], failed]
    anatomy["levels"] = levels
    anatomy["unlabelled"] = {"L5": "canal not found"}
    report["anatomy"] = anatomy
    html = render_html_report(report)
    assert "Anatomy: how each level was labelled" in html
    assert f"<td>{level}</td>" in html
    assert "warning: canal method (estimated from arch)" in html
    assert "L5: canal not found" in html
