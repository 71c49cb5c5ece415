"""The ``spinetv`` command: parses arguments, calls the API, prints. Nothing clinical lives here.

Each sub-command is a module in :mod:`spinetv.commands` with ``register(subparsers)``, which adds
its parser and sets ``func`` (taking the parsed arguments, returning an exit code).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import sys
import warnings
from collections.abc import Sequence

from spinetv.errors import SpinetvError
from spinetv.io.atomic import output_transaction
from spinetv.version import __version__

__all__ = ["main", "build_parser"]

#: Sub-command -> module in :mod:`spinetv.commands` (a module may register several commands).
COMMANDS: dict[str, str] = {
    "demo": "demo",
    "plan": "plan",
    "sectors": "sectors",
    "ctv": "ctv",
    "audit": "ctv",
    "convert": "convert",
    "phantom": "phantom",
    "batch": "batch",
    "batch-merge": "batch_merge",
    "info": "info",
    "evaluate": "evaluate",
    "serve": "serve",
}
COMMAND_MODULES: tuple[str, ...] = tuple(dict.fromkeys(COMMANDS.values()))

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
#: Commands whose finished outputs stay when interrupted: a batch keeps its completed cases,
#: so that a re-run resumes; a node keeps its spool. Every other command removes the outputs it
#: made (Ctrl-C).
#: Commands that run for long (a cohort, a server): the garbage collector stays on for them.
_LONG_RUNNING = frozenset({"batch", "serve"})
_KEEP_OUTPUTS_ON_INTERRUPT = frozenset({"batch", "serve"})


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with every sub-command, or only the module serving ``only``.

    Importing every command pulls in matplotlib, SimpleITK and scikit-image; a run of one
    command imports only its own module, which keeps start-up short.

    Parameters
    ----------
    only : str or None, default None
        A command name; when it is one of ``COMMANDS`` only its module is registered,
        otherwise (None, an option, an unknown word) every command is.

    Returns
    -------
    argparse.ArgumentParser
        The ``spinetv`` parser with ``--version`` and the sub-commands.
    """
    parser = argparse.ArgumentParser(
        prog="spinetv",
        description="Consensus spine SBRT target volumes from a CT and an RTSTRUCT.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"spinetv {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = (COMMANDS[only],) if only in COMMANDS else COMMAND_MODULES
    for name in modules:
        module = importlib.import_module(f"spinetv.commands.{name}")
        module.register(subparsers)
    return parser


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING - 10 * min(verbosity, 2)
    logging.basicConfig(level=level, format="spinetv: %(levelname)s: %(message)s")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0 success, 2 bad input or refused output).

    The garbage collector is off while the command runs (see :func:`_run`) and back as it
    was on return, for a caller that runs commands in its own process.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name; None reads ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit code: the command's own (0 when it returns None), 2 (``EXIT_USER_ERROR``)
        on a :class:`SpinetvError` or when no command is given, 130
        (``EXIT_INTERRUPTED``) on Ctrl-C. A :class:`SpinetvError` is printed as one line on
        stderr, not raised.
    """
    collecting = gc.isenabled()
    try:
        return _run(argv)
    finally:
        if collecting:
            gc.enable()


def _run(argv: Sequence[str] | None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in arguments if not a.startswith("-")), None)
    # A one-shot command (plan, sectors, ...) makes a few hundred thousand objects that live
    # until it exits (modules, headers, contours) and little cyclic garbage: the collector,
    # which would walk them again and again, stays off (about 0.03 s of a cold "spinetv plan").
    # A long-running one (batch, serve) keeps it, after freezing the imported modules' objects.
    gc.disable()
    try:
        # Importing a command's module takes most of a second (scipy, pydicom): a Ctrl-C there
        # is an interrupt like any other, not a traceback.
        parser = build_parser(first)
    except KeyboardInterrupt:
        print(f"spinetv {first}: interrupted" if first else "spinetv: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if first in _LONG_RUNNING:
            if argv is None:  # the program itself, not a caller's process
                gc.freeze()
            gc.enable()
    args = parser.parse_args(arguments)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USER_ERROR
    _configure_logging(getattr(args, "verbose", 0))
    warnings.simplefilter("default")
    # A file or folder left for the garbage collector by a library (pydicom's FileSet stages
    # into a TemporaryDirectory) is not the user's concern: its ResourceWarning is not shown.
    warnings.filterwarnings("ignore", category=ResourceWarning)
    warnings.showwarning = _show_warning
    try:
        if args.command in _KEEP_OUTPUTS_ON_INTERRUPT:
            return int(args.func(args) or 0)
        with output_transaction():
            return int(args.func(args) or 0)
    except SpinetvError as error:
        print(f"spinetv {args.command}: error: {_one_line(str(error))}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        # Unclosed temporary files of the interrupted write would be warned about on exit.
        warnings.simplefilter("ignore")
        print(f"spinetv {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _one_line(text: str) -> str:
    """A message on one printable line: line breaks and control characters become spaces or
    escapes (file content quoted in a message must not break the one-line promise)."""
    flat = " ".join(text.split())
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in flat)


def _show_warning(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
    print(f"spinetv: warning: {_one_line(str(message))}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
