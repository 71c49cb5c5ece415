"""Generate docs/api.md from the docstrings of the public modules (``__all__``).

Run ``python docs/gen_api.py`` after changing a public signature or docstring;
``python docs/gen_api.py --check`` exits 1 when docs/api.md is out of date (the test suite
runs the same check).
"""

from __future__ import annotations

import argparse
import enum
import importlib
import inspect
import re
import sys
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
API_MD = DOCS / "api.md"

#: (module, one-line description), in the order of the page. An object re-exported by several
#: modules is documented in the first one and referred to from the others.
MODULES: tuple[tuple[str, str], ...] = (
    ("spinetv.pipeline", "the whole job on masks: sectors, CTV, planning volumes, report"),
    ("spinetv.vocabulary", "levels, sectors, organ roles, patient sides: the shared words"),
    ("spinetv.case", "reading one case from files"),
    ("spinetv.outputs", "writing a planned case: RTSTRUCT or NIfTI masks, report, figures, HTML"),
    ("spinetv.anatomy", "levels, spinal canal, ISRC sectors, sacrum"),
    ("spinetv.guidelines", "guideline CTVs as data, explanations and audit"),
    ("spinetv.planning.protocols", "protocol presets"),
    ("spinetv.planning.volumes", "PTV, PTV_Eval, PRV, cord evaluation volume"),
    ("spinetv.geometry", "grids, masks, margins, booleans"),
    ("spinetv.structure", "named structures with provenance"),
    ("spinetv.io.image", "images whose voxels load on first use"),
    ("spinetv.io.dicom_series", "DICOM image series"),
    ("spinetv.io.rtstruct", "RTSTRUCT reading and writing"),
    ("spinetv.io.totalsegmentator", "TotalSegmentator label maps"),
    ("spinetv.io.images", "NIfTI / NRRD / MHA images and label maps"),
    ("spinetv.io.rtdose", "RT Dose reading"),
    ("spinetv.dose", "DVHs on the structures' own masks, metrics in the usual notation"),
    ("spinetv.evaluation", "a dose against a protocol's limits"),
    ("spinetv.phantom", "synthetic spine CT phantoms with ground truth"),
    ("spinetv.batch", "cohorts: a manifest in, a folder per case and a summary out"),
    ("spinetv.batch.executors", "where a batch runs: this process, a process pool, Dask"),
    ("spinetv.report.model", "the typed plan report, its JSON form and schema"),
    ("spinetv.report.html", "self-contained HTML report"),
    ("spinetv.report.json_report", "JSON report"),
    ("spinetv.errors", "errors and warnings"),
)

_MAX_DEFAULT = 40


def anchor(module: str, name: str) -> str:
    """The Markdown heading anchor of ``module.name`` (GitHub style)."""
    return re.sub(r"[^a-z0-9_\-]", "", f"{module}.{name}".lower().replace(".", ""))


def _annotation(value: Any) -> str:
    if value is inspect.Parameter.empty:
        return ""
    text = value if isinstance(value, str) else inspect.formatannotation(value)
    return text.replace("'", "")


def _default(value: Any, limit: int = _MAX_DEFAULT) -> str:
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    text = repr(value)
    if " at 0x" in text:
        return f"<{type(value).__name__}>"
    if len(text) > limit:
        return f"{type(value).__name__}(...)" if "(" in text else text[: limit - 3] + "..."
    return text


def signature(obj: Any) -> str:
    """``(a: int, *, b: str = 'x') -> T`` with quotes and long defaults tidied."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return "(...)"
    parts = []
    seen_keyword_only = False
    for param in sig.parameters.values():
        if param.kind is param.KEYWORD_ONLY and not seen_keyword_only:
            parts.append("*")
            seen_keyword_only = True
        prefix = "*" if param.kind is param.VAR_POSITIONAL else ""
        prefix = "**" if param.kind is param.VAR_KEYWORD else prefix
        if param.kind is param.VAR_POSITIONAL:
            seen_keyword_only = True
        text = prefix + param.name
        annotation = _annotation(param.annotation)
        if annotation:
            text += f": {annotation}"
        if param.default is not inspect.Parameter.empty:
            text += f" = {_default(param.default)}" if annotation else f"={_default(param.default)}"
        parts.append(text)
    result = f"({', '.join(parts)})"
    returned = _annotation(sig.return_annotation)
    if returned and not inspect.isclass(obj):
        result += f" -> {returned}"
    return result


def _doc_blocks(obj: Any) -> tuple[str, str]:
    """(summary paragraph, the rest) of the docstring."""
    doc = inspect.getdoc(obj) or ""
    if not doc:
        return "*(no docstring)*", ""
    summary, _, rest = doc.partition("\n\n")
    return " ".join(summary.split()), rest.strip()


def _kind(obj: Any) -> str:
    if inspect.isclass(obj):
        if issubclass(obj, BaseException):
            return "exception"
        if issubclass(obj, Warning):
            return "warning"
        return "class"
    if callable(obj):
        return "function"
    return "constant"


def _members(cls: type) -> list[str]:
    lines = []
    for name, member in inspect.getmembers(cls):
        if name.startswith("_") or name not in cls.__dict__:
            continue
        raw = cls.__dict__[name]
        if isinstance(raw, property):
            summary, _ = _doc_blocks(raw)
            lines.append(f"- `{name}` (property): {summary}")
        elif isinstance(raw, (classmethod, staticmethod)) or inspect.isfunction(raw):
            summary, _ = _doc_blocks(member)
            lines.append(f"- `{name}{signature(member)}`: {summary}")
    return lines


def document(module_name: str, name: str, obj: Any) -> list[str]:
    """The Markdown of one public object."""
    kind = _kind(obj)
    lines = [f"### {module_name}.{name}", ""]
    if kind == "constant":
        text = _default(obj, limit=120) if not isinstance(obj, str) else repr(obj)
        lines += [f"*constant* `{name} = {text}`", ""]
        return lines
    shown = "" if kind in ("exception", "warning") or issubclass_enum(obj) else signature(obj)
    lines += [f"*{kind}* `{name}{shown}`", ""]
    summary, rest = _doc_blocks(obj)
    lines += [summary, ""]
    if rest:
        lines += ["```text", rest, "```", ""]
    if inspect.isclass(obj):
        if issubclass_enum(obj):
            members: list[enum.Enum] = list(getattr(obj, "__members__", {}).values())
            listed = ", ".join(f"`{m.name}` = {m.value!r}" for m in members)
            lines += [f"Members: {listed}", ""]
        else:
            methods = _members(obj)
            if methods:
                lines += ["Methods and properties:", "", *methods, ""]
    return lines


def issubclass_enum(obj: Any) -> bool:
    """True for an Enum class."""
    return inspect.isclass(obj) and issubclass(obj, enum.Enum)


def render() -> str:
    """The whole api.md text."""
    import spinetv

    where: dict[int, tuple[str, str]] = {}
    body: list[str] = []
    toc: list[str] = []
    for module_name, description in MODULES:
        module = importlib.import_module(module_name)
        names = list(getattr(module, "__all__", ()))
        toc.append(f"- [`{module_name}`](#{anchor(module_name, '')}): {description}")
        body += [f"## {module_name}", "", description[0].upper() + description[1:] + ".", ""]
        references = []
        for name in names:
            obj = getattr(module, name)
            key = id(obj)
            if key in where and _kind(obj) != "constant":
                first_module, first_name = where[key]
                references.append(
                    f"- `{name}`: see [`{first_module}.{first_name}`]"
                    f"(#{anchor(first_module, first_name)})"
                )
                continue
            if _kind(obj) != "constant":
                where[key] = (module_name, name)
            body += document(module_name, name, obj)
        if references:
            body += ["Also exported here:", "", *references, ""]

    top = []
    for name in spinetv.__all__:
        if name == "__version__":
            continue
        obj = getattr(spinetv, name)
        if id(obj) in where:
            module_name, first_name = where[id(obj)]
            top.append(f"[`{name}`](#{anchor(module_name, first_name)})")
        else:
            top.append(f"`{name}`")
    header = [
        "# API reference",
        "",
        "<!-- Generated by docs/gen_api.py from the docstrings; do not edit by hand. -->",
        "",
        "The public functions and classes of spinetv, module by module, with their signatures "
        "and docstrings (numpydoc; lengths in mm, volumes in cc, coordinates in DICOM LPS). "
        "Regenerate with `python docs/gen_api.py`.",
        "",
        "The most used names are re-exported by the package itself (`import spinetv`): "
        + ", ".join(top)
        + ".",
        "",
        "## Modules",
        "",
        *toc,
        "",
    ]
    return "\n".join(header + body).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write docs/api.md, or with ``--check`` report whether it is up to date."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if api.md is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = API_MD.read_text(encoding="utf-8") if API_MD.exists() else ""
        if current != text:
            print(f"{API_MD} is out of date: run python docs/gen_api.py", file=sys.stderr)
            return 1
        return 0
    API_MD.write_text(text, encoding="utf-8")
    print(f"wrote {API_MD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
