"""The docs and the examples stay true: links resolve, generated pages are current, the commands
and the worked example in the docs run, and every example script runs."""

from __future__ import annotations

import csv
import importlib
import importlib.util
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import spinetv
from spinetv.cli import COMMANDS, build_parser
from spinetv.guidelines import list_guidelines, load_guideline
from spinetv.phantom import GtvSpec, make_spine_phantom
from spinetv.pipeline import Anatomy, PlanOptions, plan
from spinetv.planning.protocols import load_protocol

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
MARKDOWN = sorted([*DOCS.rglob("*.md"), ROOT / "README.md"])
LINK_RE = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE_RE = re.compile(r"```(\w*)\n(.*?)```", re.DOTALL)


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_docs_{name}", DOCS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = FENCE_RE.sub("", path.read_text(encoding="utf-8"))
    return {_slug(m) for m in re.findall(r"^#{1,6}\s+(.+)$", text, flags=re.MULTILINE)}


# ---- links ----------------------------------------------------------------------------------
def test_docs_exist() -> None:
    for name in ("index.md", "quickstart.md", "api.md", "formats.md", "protocols.md"):
        assert (DOCS / name).is_file(), name


@pytest.mark.parametrize("page", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    text = FENCE_RE.sub("", page.read_text(encoding="utf-8"))
    broken = []
    for target in LINK_RE.findall(text):
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.exists():
            broken.append(f"{target} (no {resolved})")
            continue
        if not resolved.is_relative_to(ROOT):
            broken.append(f"{target} (outside the repository)")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target} (no heading #{anchor})")
    assert broken == [], f"{page}: broken links: {broken}"


def test_index_links_every_guideline_page() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for name in list_guidelines():
        assert f"(guidelines/{name}.md)" in index, name


# ---- generated pages ------------------------------------------------------------------------
def test_guideline_pages_are_up_to_date() -> None:
    generator = _script("gen_guideline_pages")
    pages = generator.render()
    assert set(pages) >= {DOCS / "guidelines" / f"{g}.md" for g in list_guidelines()}
    stale = generator.stale(pages)
    assert stale == [], f"stale: {stale}; run python docs/gen_guideline_pages.py"


def test_guideline_pages_show_every_row_and_source() -> None:
    for name in list_guidelines():
        guideline = load_guideline(name)
        page = (DOCS / "guidelines" / f"{name}.md").read_text(encoding="utf-8")
        for row in guideline.rows:
            assert f"| {row.id} |" in page, (name, row.id)
        for citation in guideline.citations:
            assert f"**{citation.key}**" in page


def test_api_reference_is_up_to_date() -> None:
    text = _script("gen_api").render()
    current = (DOCS / "api.md").read_text(encoding="utf-8")
    assert current == text, "docs/api.md is out of date: run python docs/gen_api.py"


def test_api_reference_documents_every_public_name_and_nothing_else() -> None:
    generator = _script("gen_api")
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^### (\S+)$", text, flags=re.MULTILINE))
    documented_ids = set()
    for heading in headings:
        module_name, _, name = heading.rpartition(".")
        obj = getattr(importlib.import_module(module_name), name)  # exists
        documented_ids.add(id(obj))
    missing = []
    for module_name, _ in generator.MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if f"{module_name}.{name}" not in headings and id(obj) not in documented_ids:
                missing.append(f"{module_name}.{name}")
    for name in spinetv.__all__:
        if name != "__version__" and id(getattr(spinetv, name)) not in documented_ids:
            missing.append(f"spinetv.{name}")
    assert missing == []
    for must in ("plan", "Anatomy", "PlanOptions", "load_case", "label_sectors", "derive_canal",
                 "build_ctv", "audit_ctv", "load_guideline", "expand", "shrink", "Margin",
                 "read_dicom_series", "read_structures", "write_rtstruct", "append_rtstruct",
                 "read_totalsegmentator", "make_spine_phantom", "run_batch",
                 "write_html_report"):
        assert re.search(rf"^### spinetv\.[\w.]+\.{must}$", text, flags=re.MULTILINE), must


# ---- commands and the worked example --------------------------------------------------------
def _doc_commands() -> list[tuple[Path, str]]:
    found = []
    for page in MARKDOWN:
        for _, block in FENCE_RE.findall(page.read_text(encoding="utf-8")):
            for line in block.replace("\\\n", " ").splitlines():
                for part in line.split("&&"):
                    part = part.strip()
                    if part.startswith("spinetv "):
                        found.append((page, part))
    return found


def test_every_documented_command_parses() -> None:
    commands = _doc_commands()
    assert len(commands) >= 5
    for page, command in commands:
        words = shlex.split(command)[1:]
        sub = words[0]
        if sub.startswith("-"):
            continue
        assert sub in COMMANDS, f"{page.name}: unknown command {command!r}"
        try:
            build_parser(sub).parse_args(words)
        except SystemExit:
            pytest.fail(f"{page.name}: {command!r} does not parse")


def _formats_files() -> dict[str, str]:
    text = (DOCS / "formats.md").read_text(encoding="utf-8")
    return dict(re.findall(r"<!-- file: (\S+) -->\n```toml\n(.*?)```", text, flags=re.DOTALL))


def test_worked_example_files_load_and_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _formats_files()
    assert set(files) == {"dept-isrc-body-plus.toml", "dept-sbrt.toml"}
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    guideline = load_guideline(tmp_path / "dept-isrc-body-plus.toml")
    assert guideline.id == "dept-isrc-body-plus" and guideline.parameters["min_overlap_cc"] == 0.05
    protocol = load_protocol(tmp_path / "dept-sbrt.toml")
    assert protocol.ptv.margin.as_tuple() == (2.0, 2.0, 2.0, 2.0, 3.0, 3.0)
    phantom = make_spine_phantom(
        levels=("L1", "L2"),
        spacing_mm=(3.0, 1.5, 1.5),
        gtv=GtvSpec(level="L1", sectors=(1,), body_side="left"),
    )
    assert phantom.gtv is not None
    result = plan(
        phantom.gtv,
        Anatomy(phantom.grid, phantom.vertebrae, cord=phantom.cord),
        PlanOptions(protocol=protocol),
    )
    level = result.report["ctv"]["levels"][0]
    assert [row["id"] for row in level["rows"]] == ["body"]
    assert level["sectors"] == [1, 2, 6]  # the department's rule: body takes both pedicles
    assert {"PTV_Eval", "SpinalCord_PRV15"} <= set(result.report["structures"])


# ---- examples -------------------------------------------------------------------------------
def _run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_every_example_is_tested() -> None:
    scripts = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert scripts == ["cohort_arms.py", "physicist_plan.py", "plugin_arrays.py"]


def test_example_physicist_plan(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = _run("physicist_plan.py", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["involved_levels"] == ["L2"]
    assert (out / "RS_spinetv.dcm").stat().st_size > 0
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in html and "L2" in html
    assert (out / "axial_L2.png").is_file()


def test_example_plugin_arrays(tmp_path: Path) -> None:
    done = _run("plugin_arrays.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "involved levels: T12" in done.stdout
    assert "PTV_Eval:" in done.stdout
    assert list(tmp_path.iterdir()) == []  # no files at all


def test_example_cohort_arms(tmp_path: Path) -> None:
    out = tmp_path / "cohort"
    done = _run("cohort_arms.py", str(out), "--cases", "3", "--jobs", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with (out / "results" / "summary.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6 and {r["status"] for r in rows} == {"ok"}
    by_arm: dict[str, list[float]] = {}
    for row in rows:
        by_arm.setdefault(row["protocol"], []).append(float(row["ctv_cc"]))
    involved = by_arm["chictr1900023401-involved"]
    whole = by_arm["chictr1900023401-whole"]
    assert all(a <= b for a, b in zip(involved, whole))
    assert "median CTV" in done.stdout
