"""A DICOM node: planning systems send a case (CT or MR series and RTSTRUCT), the node plans it as
``spinetv plan`` does and sends the new RTSTRUCT back (pynetdicom, the ``node`` extra).

See docs/node.md for the configuration, the spool on disk and how a restart resumes.
"""

from __future__ import annotations

from spinetv.node.config import (
    Destination,
    NodeConfig,
    NodeConfigError,
    Peer,
    ProtocolRule,
    RetryPolicy,
    load_node_config,
    parse_destination,
    parse_peer,
)
from spinetv.node.server import Node, require_pynetdicom
from spinetv.node.spool import CaseState, Spool

__all__ = [
    "CaseState",
    "Destination",
    "Node",
    "NodeConfig",
    "NodeConfigError",
    "Peer",
    "ProtocolRule",
    "RetryPolicy",
    "Spool",
    "load_node_config",
    "parse_destination",
    "parse_peer",
    "require_pynetdicom",
]
