"""Options every sub-command shares."""

from __future__ import annotations

import argparse

__all__ = ["add_common_options"]


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Add ``-v/--verbose`` and ``--force`` to a sub-command parser."""
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-vv for debugging)")
    parser.add_argument("--force", action="store_true",
                        help="overwrite existing output files")
