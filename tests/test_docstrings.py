"""Every public function and method documents its parameters and what it returns (numpydoc).

Public: listed in a module's ``__all__`` (commands excepted: their ``run`` and ``register``
take the parsed arguments), and the methods without a leading underscore of the classes listed
there.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import spinetv


def _public_callables() -> list[tuple[str, object]]:
    found = []
    for info in pkgutil.walk_packages(spinetv.__path__, "spinetv."):
        parts = info.name.split(".")[1:]
        if any(p.startswith("_") for p in parts) or parts[0] == "commands":
            continue
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", []):
            value = getattr(module, name, None)
            if inspect.isfunction(value) and value.__module__ == module.__name__:
                found.append((f"{info.name}.{name}", value))
            elif inspect.isclass(value) and value.__module__ == module.__name__:
                found += [
                    (f"{info.name}.{name}.{attr}", member)
                    for attr, member in vars(value).items()
                    if inspect.isfunction(member) and not attr.startswith("_")
                ]
    return found


CALLABLES = _public_callables()


def test_the_check_sees_the_public_api() -> None:
    names = {name for name, _ in CALLABLES}
    assert "spinetv.pipeline.plan" in names and "spinetv.dose.dvh.dvh" in names
    assert len(CALLABLES) > 200


@pytest.mark.parametrize(("name", "function"), CALLABLES, ids=[n for n, _ in CALLABLES])
def test_parameters_and_returns_are_documented(name: str, function: object) -> None:
    doc = inspect.getdoc(function) or ""
    signature = inspect.signature(function)  # type: ignore[arg-type]
    takes = [p for p in signature.parameters if p not in ("self", "cls")]
    if takes:
        assert "Parameters\n" in doc, f"{name}: no Parameters section"
    returned = signature.return_annotation
    if returned not in ("None", None, inspect.Signature.empty):
        assert "Returns\n" in doc or "Yields\n" in doc, f"{name}: no Returns section"
