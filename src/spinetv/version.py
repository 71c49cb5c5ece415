"""The package version, in a module of its own: every layer may import it without importing
the package's public API (which would run back up the layers)."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

__all__ = ["__version__", "build_id"]

__version__ = "0.1.0"

#: Files whose content makes a build: the code and the data it loads (guidelines, protocols).
_BUILD_SUFFIXES = (".py", ".toml", ".json")


@functools.lru_cache(maxsize=1)
def build_id() -> str:
    """The version and a digest of the installed package's code and data.

    Two installs of one version that differ in any module or data file (a development
    checkout one commit apart, a file edited in place) have different build ids, so that
    processes that must give the same results (a client and its Dask workers) can check it.

    Returns
    -------
    str
        ``"<version>+<12 hex digits>"`` (SHA-256 over the files' paths and bytes).
    """
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(p for p in package.rglob("*") if p.suffix in _BUILD_SUFFIXES):
        if "__pycache__" in path.parts or not path.is_file():
            continue
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return f"{__version__}+{digest.hexdigest()[:12]}"
