"""The layer rule: imports point down, and no module takes another package's private names.

Every ``import`` and ``from ... import`` of spinetv code in ``src/spinetv`` (at module level, in a
function or under ``TYPE_CHECKING``) is read from the source. A module may import its own
package and packages of a lower layer; never a package of its own layer or above.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "spinetv"

#: Layer of each package (second component of the module name), lowest first.
LAYERS: dict[str, int] = {
    "version": 0,
    "errors": 0,
    "frozen": 0,
    "vocabulary": 1,
    "geometry": 2,
    "structure": 3,
    "io": 4,
    "anatomy": 4,
    "guidelines": 4,
    "sample": 4,
    "dose": 5,
    "phantom": 5,
    "planning": 6,
    "report": 6,
    "pipeline": 7,
    "case": 7,
    "evaluation": 7,
    "outputs": 8,
    "dose_outputs": 8,
    "batch": 9,
    "node": 9,
    "commands": 10,
    "cli": 10,
    "__main__": 11,
}


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        parts = path.relative_to(SOURCE).with_suffix("").parts
        name = ".".join(("spinetv", *parts)).removesuffix(".__init__")
        found.append((name, path))
    return found


def _imports(path: Path, module: str) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken, line) for every spinetv import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, target] if target else base)
            if target == "spinetv" or target.startswith("spinetv."):
                out.append((target, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            out.extend(
                (a.name, [], node.lineno)
                for a in node.names
                if a.name == "spinetv" or a.name.startswith("spinetv.")
            )
    return out


def _package(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def test_every_package_has_a_layer() -> None:
    packages = {_package(name) for name, _ in _modules()} - {""}
    assert packages <= set(LAYERS), f"no layer for {sorted(packages - set(LAYERS))}"


@pytest.mark.parametrize(("module", "path"), _modules(), ids=lambda v: str(v))
def test_imports_point_down(module: str, path: Path) -> None:
    own = _package(module)
    if not own:  # the package root re-exports the public API, lazily
        return
    for target, names, line in _imports(path, module):
        other = _package(target)
        if target == "spinetv":
            taken = [n for n in names if n != "__version__"]
            assert not taken, f"{module}:{line} imports {taken} from the package root"
            continue
        if other == own:
            continue
        assert LAYERS[other] < LAYERS[own], (
            f"{module}:{line} imports {target} (layer {LAYERS[other]}) from layer {LAYERS[own]}"
        )


@pytest.mark.parametrize(("module", "path"), _modules(), ids=lambda v: str(v))
def test_no_private_names_across_packages(module: str, path: Path) -> None:
    for target, names, line in _imports(path, module):
        private = [n for n in names if n.startswith("_") and not n.startswith("__")]
        private_module = any(part.startswith("_") for part in target.split(".")[1:])
        if _package(target) == _package(module):
            continue
        assert not private, f"{module}:{line} imports private {private} from {target}"
        assert not private_module, f"{module}:{line} imports the private module {target}"


def test_the_rule_would_catch_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from spinetv.commands.plan import run\nfrom spinetv.pipeline import _x\n")
    found = _imports(bad, "spinetv.io.bad")
    assert [(t, n) for t, n, _ in found] == [
        ("spinetv.commands.plan", ["run"]),
        ("spinetv.pipeline", ["_x"]),
    ]
    assert LAYERS[_package(found[0][0])] > LAYERS["io"]
