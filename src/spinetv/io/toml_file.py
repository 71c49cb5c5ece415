"""Reading a user's TOML file (a protocol, a node configuration) with errors that name it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from spinetv.errors import SpinetvError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def read_toml(path: Path, error: type[SpinetvError], *, kind: str) -> dict[str, Any]:
    """The tables of a TOML file, or ``error`` with one line naming the file and the problem.

    Parameters
    ----------
    path : Path
        The file.
    error : type of SpinetvError
        The error raised (its message starts with ``path``).
    kind : str
        What the file is, for the messages ("protocol file", "configuration file").

    Returns
    -------
    dict
        The parsed document.

    Raises
    ------
    SpinetvError
        ``error`` when the file is missing, a folder, not UTF-8, unreadable or not valid TOML.
    """
    noun = kind.removesuffix(" file")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: {kind} not found") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, expected a {noun} .toml file") from None
    except UnicodeDecodeError:
        raise error(f"{path}: not UTF-8 text; a {kind} is TOML") from None
    except OSError as os_error:
        raise error(f"{path}: cannot be read ({os_error.strerror or os_error})") from None
    except tomllib.TOMLDecodeError as toml_error:
        raise error(f"{path}: not valid TOML: {toml_error}") from None
