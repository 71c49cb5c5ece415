"""``spinetv serve``: a DICOM node that plans the cases sent to it and sends the structures back."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any

from spinetv.errors import SpinetvError

__all__ = ["register", "run"]

EPILOG = """examples:
  spinetv serve --config /etc/spinetv/node.toml
  spinetv serve --config node.toml --check          # validate, print the settings, exit
  spinetv serve --ae-title SPINETV --port 11112 --store /var/lib/spinetv \\
      --allow-ae ECLIPSE --return-to ECLIPSE_IMPORT@10.0.0.5:104 --gtv GTV

options given on the command line take precedence over the file (--allow-ae and --return-to add
to its lists). See docs/node.md for the file, the spool and a systemd unit.
"""


def register(subparsers: Any) -> None:
    """Add the ``serve`` sub-command."""
    parser = subparsers.add_parser(
        "serve",
        help="DICOM node: receive CT/MR + RTSTRUCT, plan, send the RTSTRUCT back",
        description="A DICOM Storage SCP (C-STORE of CT, MR and RTSTRUCT, C-ECHO). Every object "
        "is spooled on disk as it arrives; a case (an RTSTRUCT and the complete series it "
        "references) is planned as `spinetv plan` does and the new RTSTRUCT is sent back by "
        "C-STORE, retried while the destination is down. A restart resumes from the spool.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="node.toml", help="configuration file")
    parser.add_argument("--ae-title", metavar="TITLE", help="the node's AE title")
    parser.add_argument("--port", type=int, metavar="N", help="TCP port (default 11112)")
    parser.add_argument("--bind", metavar="ADDRESS", help="address to listen on (default all)")
    parser.add_argument("--store", metavar="DIR", help="spool and results folder")
    parser.add_argument(
        "--allow-ae",
        action="append",
        default=[],
        metavar="TITLE[@HOST]",
        help="a calling AE title allowed to associate (repeatable)",
    )
    parser.add_argument(
        "--return-to",
        action="append",
        default=[],
        metavar="AE@HOST:PORT",
        help="where result RTSTRUCTs are sent (repeatable)",
    )
    parser.add_argument(
        "--protocol", metavar="NAME[,NAME]", help="protocol preset(s) (default sib-sbrt-2025)"
    )
    parser.add_argument("--gtv", metavar="NAME[,NAME]", help="GTV ROI name(s), first found wins")
    parser.add_argument(
        "--check", action="store_true", help="validate the configuration, print it and exit"
    )
    # No --force: the node never overwrites a result; a case is planned once.
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="pynetdicom's warnings too (-vv: its debugging output)")
    parser.set_defaults(func=run)


def _names(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    return tuple(p.strip() for p in text.split(",") if p.strip())


def config_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~spinetv.node.NodeConfig` the options (and ``--config``) describe."""
    from spinetv.node.config import load_node_config, parse_destination, parse_peer

    return load_node_config(
        args.config,
        ae_title=args.ae_title,
        port=args.port,
        bind=args.bind,
        store=args.store,
        allow=tuple(parse_peer(text) for text in args.allow_ae),
        return_to=tuple(parse_destination(text) for text in args.return_to),
        protocols=_names(args.protocol),
        gtv=_names(args.gtv),
    )


def check(config: Any) -> list[str]:
    """Check what a configuration names beyond its syntax; return the summary lines.

    Raises :class:`SpinetvError` for a protocol that does not load, a store that cannot be
    written, or pynetdicom missing.
    """
    from spinetv.node import require_pynetdicom
    from spinetv.planning.protocols import load_protocol

    require_pynetdicom()
    for protocol in {*config.protocols, *(p for rule in config.rules for p in rule.protocols)}:
        load_protocol(protocol)
    store = config.store
    existing = next((p for p in (store, *store.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        raise SpinetvError(f"{config.source}: store {store}: {existing} is not a folder")
    import os

    if not os.access(existing, os.W_OK | os.X_OK):
        raise SpinetvError(f"{config.source}: store {store}: {existing} is not writable")
    lines = [
        f"node {config.ae_title} on {config.bind}:{config.port}, store {store}",
        f"allowed: {', '.join(str(p) for p in config.allow)}",
        "results to: "
        + (", ".join(str(d) for d in config.return_to) or "nowhere (kept in the store)"),
        f"protocols: {', '.join(config.protocols)}; GTV: {', '.join(config.gtv)}; "
        f"quiet period {config.quiet_s:g} s, settle time {config.settle_s:g} s",
        f"sending: up to {config.retry.max_attempts} attempts per destination, back-off "
        f"{config.retry.first_delay_s:g} s doubling up to {config.retry.max_delay_s:g} s",
    ]
    lines += [f"rule: {rule.describe()} -> {', '.join(rule.protocols)}" for rule in config.rules]
    if config.pause_before_plan_s or config.pause_before_send_s:
        lines.append("warning: [testing] pauses are set; never in service")
    return lines


def run(args: argparse.Namespace) -> int:
    """Run ``spinetv serve``."""
    config = config_from_args(args)
    lines = check(config)
    if args.check:
        print(f"{config.source}: ok")
        for line in lines:
            print(f"  {line}")
        return 0
    from spinetv.node import Node

    restore = _log_to_stderr(args.verbose)
    stop = threading.Event()

    def on_signal(number: int, frame: Any) -> None:
        stop.set()

    previous = {
        number: signal.signal(number, on_signal) for number in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        node = Node(config)
        node.start()
        node.wait(stop)
        logging.getLogger("spinetv.node").info("stopped")
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        restore()
    return 0


def _log_to_stderr(verbosity: int) -> Any:
    """The node's own log lines (one per association and per case) go to stderr, with time.

    Returns a function that puts the loggers back as they were (for a run inside Python).
    """
    logger = logging.getLogger("spinetv.node")
    netdicom = logging.getLogger("pynetdicom")
    before = (logger.level, logger.propagate, netdicom.level)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s spinetv serve: %(levelname)s: %(message)s")
    )
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbosity >= 2 else logging.INFO)
    logger.propagate = False
    # The node's own lines give each failure's reason; pynetdicom's are for debugging.
    levels = {0: logging.CRITICAL, 1: logging.WARNING}
    netdicom.setLevel(levels.get(verbosity, logging.DEBUG))

    def restore() -> None:
        logger.removeHandler(handler)
        logger.setLevel(before[0])
        logger.propagate = before[1]
        netdicom.setLevel(before[2])

    return restore
