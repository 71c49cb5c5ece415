"""Writing outputs so that nothing is lost: never over an existing file unless asked, never half."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from spinetv.errors import OutputExistsError

__all__ = [
    "atomic_output",
    "check_writable",
    "output_transaction",
    "record_created",
    "write_bytes_atomic",
    "write_text_atomic",
]

#: The open output transactions (innermost last): lists of files and folders created new.
_TRANSACTIONS: list[list[Path]] = []
_LOCK = threading.Lock()


def record_created(path: str | os.PathLike[str]) -> None:
    """Note that ``path`` (a file or a folder) did not exist before and was made by this run.

    Outside :func:`output_transaction` this does nothing.

    Parameters
    ----------
    path : path-like
        The file or folder made, recorded in the innermost open transaction.
    """
    with _LOCK:
        if _TRANSACTIONS:
            _TRANSACTIONS[-1].append(Path(path))


def _make_parents(folder: Path) -> None:
    """``mkdir -p`` that records each folder it creates."""
    missing = []
    for parent in (folder, *folder.parents):
        if parent.exists():
            break
        missing.append(parent)
    folder.mkdir(parents=True, exist_ok=True)
    for created in reversed(missing):
        record_created(created)


@contextmanager
def output_transaction() -> Iterator[list[Path]]:
    """Collect the outputs written atomically inside the block; remove them if it is interrupted.

    On ``KeyboardInterrupt`` every file and folder the block created new (through
    :func:`atomic_output` and :func:`record_created`) is removed again, so an interrupted
    command leaves none of its outputs behind. Files replaced under ``overwrite`` cannot be
    brought back and are left as written. Other exceptions leave the outputs alone.

    Yields
    ------
    list of Path
        The paths created so far (in creation order).
    """
    created: list[Path] = []
    with _LOCK:
        _TRANSACTIONS.append(created)
    try:
        yield created
    except KeyboardInterrupt:
        _remove_created(created)
        raise
    finally:
        with _LOCK:
            _TRANSACTIONS.remove(created)


def _remove_created(created: list[Path]) -> None:
    for path in reversed(created):
        try:
            if path.is_dir():
                path.rmdir()  # only when empty: never a folder holding anything else
            elif path.exists():
                path.unlink()
        except OSError:
            continue


def check_writable(path: str | os.PathLike[str], *, overwrite: bool) -> Path:
    """Raise :class:`OutputExistsError` if ``path`` cannot be written as a new file.

    That is: it exists and ``overwrite`` is false, it is a folder, or a folder on its way
    exists as a regular file.

    Parameters
    ----------
    path : path-like
        The output file to be.
    overwrite : bool
        Whether an existing file may be replaced.

    Returns
    -------
    Path
        ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    OutputExistsError
        When ``path`` exists and ``overwrite`` is false, is a folder, or a folder on its way is
        a file.
    """
    target = Path(path)
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputExistsError(
                    f"{target}: cannot be written, {parent} is a file, expected a folder"
                )
            break
    if target.exists() and not overwrite:
        raise OutputExistsError(f"{target}: exists; pass overwrite=True (--force) to replace it")
    if target.is_dir():
        raise OutputExistsError(f"{target}: is a folder, expected a file path")
    return target


@contextmanager
def atomic_output(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    Parameters
    ----------
    path : path-like
        The final output file.
    overwrite : bool
        Replace an existing file. When false an existing file raises
        :class:`OutputExistsError` before anything is written.

    Yields
    ------
    Path
        A temporary file (``.<name>.*.part``) in ``path``'s folder, made empty; write to it.

    Raises
    ------
    OutputExistsError
        As :func:`check_writable`, and when ``path`` appeared during the block and
        ``overwrite`` is false (the temporary file is removed, ``path`` left alone).
    """
    target = check_writable(path, overwrite=overwrite)
    _make_parents(target.parent)
    handle, temp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".part", dir=target.parent
    )
    os.close(handle)
    temp = Path(temp_name)
    try:
        yield temp
        if not overwrite and target.exists():
            raise OutputExistsError(f"{target}: appeared while writing; not replaced")
        # mkstemp makes the file private (0600); an output should get the user's usual mode.
        os.chmod(temp, 0o666 & ~_current_umask())
        existed = target.exists()
        os.replace(temp, target)
        if not existed:
            record_created(target)
    finally:
        if temp.exists():
            temp.unlink()


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_with(
    path: str | os.PathLike[str], overwrite: bool, write: Callable[[Path], object]
) -> Path:
    with atomic_output(path, overwrite=overwrite) as temp:
        write(temp)
    return Path(path)


def write_bytes_atomic(
    path: str | os.PathLike[str], data: bytes, *, overwrite: bool = False
) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`).

    Parameters
    ----------
    path : path-like
        The output file.
    data : bytes
        The whole content.
    overwrite : bool, default False
        Replace an existing file.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    OutputExistsError
        When ``path`` cannot be written as a new file (see :func:`check_writable`).
    """
    return _write_with(path, overwrite, lambda temp: temp.write_bytes(data))


def write_text_atomic(path: str | os.PathLike[str], text: str, *, overwrite: bool = False) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_output`).

    Parameters
    ----------
    path : path-like
        The output file.
    text : str
        The whole content, written as UTF-8.
    overwrite : bool, default False
        Replace an existing file.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    OutputExistsError
        When ``path`` cannot be written as a new file (see :func:`check_writable`).
    """
    return _write_with(path, overwrite, lambda temp: temp.write_text(text, encoding="utf-8"))
