"""The node's settings: read from a TOML file (and command-line options), checked on construction.

Every problem is a :class:`NodeConfigError` naming the file (or option) and the key, so that
``spinetv serve --check`` can refuse a bad configuration before a service starts on it.
"""

from __future__ import annotations

import fnmatch
import hashlib
import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spinetv.errors import SpinetvError
from spinetv.io.toml_file import read_toml

__all__ = [
    "DEFAULT_PORT",
    "Destination",
    "NodeConfig",
    "NodeConfigError",
    "Peer",
    "ProtocolRule",
    "RetryPolicy",
    "check_ae_title",
    "load_node_config",
    "parse_destination",
    "parse_peer",
]

#: The registered DICOM port (PS3.15 / IANA "dicom" is 104, which needs root on Unix; 11112 is
#: the IANA port for DICOM over TCP that any user may open).
DEFAULT_PORT = 11112


class NodeConfigError(SpinetvError):
    """A node configuration (file or option) is invalid; the message names where and why."""


def check_ae_title(title: str, *, what: str) -> str:
    """Return ``title`` stripped, or raise if it is not a valid AE title.

    An AE title is 1 to 16 characters of the default character repertoire, no backslash and
    no control characters, and not only spaces (PS3.5 6.2, VR AE).

    Parameters
    ----------
    title : str
        The AE title.
    what : str
        Where it comes from, for the message.

    Returns
    -------
    str
        The title without leading and trailing spaces.

    Raises
    ------
    NodeConfigError
        When the title is empty, too long or holds a forbidden character.
    """
    if not isinstance(title, str):
        raise NodeConfigError(f"{what}: expected an AE title (text), got {title!r}")
    stripped = title.strip()
    if not stripped:
        raise NodeConfigError(f"{what}: the AE title is empty")
    if len(stripped) > 16:
        raise NodeConfigError(f"{what}: AE title {stripped!r} is longer than 16 characters")
    bad = [c for c in stripped if c == "\\" or not (" " <= c <= "~")]
    if bad:
        raise NodeConfigError(
            f"{what}: AE title {stripped!r} holds {bad[0]!r} (only printable ASCII, "
            "no backslash)"
        )
    return stripped


def _check_port(port: Any, *, what: str) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise NodeConfigError(f"{what}: expected a TCP port 1..65535, got {port!r}")
    return port


_HOST = re.compile(r"^[A-Za-z0-9_.:\-\[\]%]+$")


def _check_host(host: Any, *, what: str) -> str:
    if not isinstance(host, str) or not _HOST.match(host.strip()):
        raise NodeConfigError(f"{what}: expected a host name or IP address, got {host!r}")
    return host.strip()


@dataclass(frozen=True)
class Peer:
    """A calling AE allowed to associate: its title and, when given, the only host it may use.

    Parameters
    ----------
    ae_title : str
        The calling AE title.
    host : str, optional
        IP address the association must come from (None: any); not a host name.
    """

    ae_title: str
    host: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ae_title", check_ae_title(self.ae_title, what="allowed AE"))
        if self.host is not None:
            # Compared with the address the association comes from: a name would never match.
            try:
                address = ipaddress.ip_address(str(self.host).strip())
            except ValueError:
                raise NodeConfigError(
                    f"allowed host: expected an IP address (as associations come from), "
                    f"got {self.host!r}"
                ) from None
            object.__setattr__(self, "host", str(address))

    def admits(self, ae_title: str, address: str) -> bool:
        """Whether a calling ``ae_title`` from ``address`` is this peer.

        Parameters
        ----------
        ae_title : str
            The calling AE title of the association request (trailing spaces ignored).
        address : str
            The requestor's IP address.

        Returns
        -------
        bool
            True when the title matches and the host is unset or equal to ``address``.
        """
        return ae_title.strip() == self.ae_title and self.host in (None, address)

    def __str__(self) -> str:
        return self.ae_title if self.host is None else f"{self.ae_title}@{self.host}"


@dataclass(frozen=True)
class Destination:
    """Where results are sent by C-STORE.

    Parameters
    ----------
    ae_title : str
        The destination's (called) AE title.
    host : str
        Its host name or IP address.
    port : int
        Its TCP port.
    """

    ae_title: str
    host: str
    port: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "ae_title", check_ae_title(self.ae_title, what="destination"))
        object.__setattr__(self, "host", _check_host(self.host, what="destination host"))
        _check_port(self.port, what="destination port")

    @property
    def key(self) -> str:
        """A file-name-safe name of the destination, for its delivery markers.

        The cleaned title, host and port, then a short hash of the exact destination: cleaning
        alone maps ``'A B'`` and ``'A_B'`` to one name.
        """
        readable = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{self.ae_title}@{self.host}_{self.port}")
        digest = hashlib.sha256(str(self).encode("utf-8")).hexdigest()[:8]
        return f"{readable}-{digest}"

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"


def parse_peer(text: str, *, what: str = "--allow-ae") -> Peer:
    """``TITLE`` or ``TITLE@HOST`` as given to ``--allow-ae``.

    Parameters
    ----------
    text : str
        The option's value.
    what : str
        The option, for the message.

    Returns
    -------
    Peer
        The allowed calling AE.
    """
    title, _, host = text.partition("@")
    try:
        return Peer(title, host or None)
    except NodeConfigError as error:
        raise NodeConfigError(f"{what} {text!r}: {error}") from None


def parse_destination(text: str, *, what: str = "--return-to") -> Destination:
    """``AE@host:port`` as given to ``--return-to``.

    Parameters
    ----------
    text : str
        The option's value.
    what : str
        The option, for the message.

    Returns
    -------
    Destination
        The destination.
    """
    match = re.fullmatch(r"([^@]+)@(.+):(\d+)", text.strip())
    if match is None:
        raise NodeConfigError(f"{what} {text!r}: expected AE@host:port, e.g. ECLIPSE@10.0.0.5:104")
    try:
        return Destination(match[1], match[2], int(match[3]))
    except NodeConfigError as error:
        raise NodeConfigError(f"{what} {text!r}: {error}") from None


@dataclass(frozen=True)
class ProtocolRule:
    """Pick the protocol(s) of a case from its RTSTRUCT.

    A rule matches when every condition it sets matches (case-insensitive shell patterns,
    ``*`` and ``?``); the first matching rule of the configuration wins, and a case no rule
    matches gets the default protocols.

    Parameters
    ----------
    protocols : tuple of str
        The protocol presets (names or files) to run.
    roi_name : str, optional
        Pattern that at least one ROI name must match.
    structure_set_label : str, optional
        Pattern the StructureSetLabel must match.
    gtv : tuple of str, optional
        GTV ROI names for this rule (default: the configuration's).
    """

    protocols: tuple[str, ...]
    roi_name: str | None = None
    structure_set_label: str | None = None
    gtv: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not self.protocols:
            raise NodeConfigError("a rule names no protocol")
        if self.roi_name is None and self.structure_set_label is None:
            raise NodeConfigError("a rule needs roi_name and/or structure_set_label")

    def matches(self, roi_names: Sequence[str], structure_set_label: str) -> bool:
        """Whether the rule applies to an RTSTRUCT with these ROI names and label.

        Parameters
        ----------
        roi_names : sequence of str
            The RTSTRUCT's ROI names.
        structure_set_label : str
            Its StructureSetLabel ("" when absent).

        Returns
        -------
        bool
            True when every condition set matches.
        """
        if self.roi_name is not None:
            pattern = self.roi_name.lower()
            if not any(fnmatch.fnmatchcase(name.lower(), pattern) for name in roi_names):
                return False
        if self.structure_set_label is not None:
            label = structure_set_label.lower()
            if not fnmatch.fnmatchcase(label, self.structure_set_label.lower()):
                return False
        return True

    def describe(self) -> str:
        """The rule's conditions as text, for the log.

        Returns
        -------
        str
            E.g. ``roi_name='GTV_S*'``.
        """
        parts = []
        if self.roi_name is not None:
            parts.append(f"roi_name={self.roi_name!r}")
        if self.structure_set_label is not None:
            parts.append(f"structure_set_label={self.structure_set_label!r}")
        return " and ".join(parts)


@dataclass(frozen=True)
class RetryPolicy:
    """How sending a result is retried while the destination is down.

    Parameters
    ----------
    first_delay_s : float
        Wait after the first failure, s.
    max_delay_s : float
        The wait doubles after each failure up to this, s.
    timeout_s : float
        Timeout of connecting and of each DIMSE exchange, s.
    max_attempts : int
        Attempts to deliver a case to one destination that fail for a transient reason (no
        answer, out of resources, rejected-transient) before the case is "send failed" there.
    """

    first_delay_s: float = 5.0
    max_delay_s: float = 300.0
    timeout_s: float = 30.0
    max_attempts: int = 20

    def __post_init__(self) -> None:
        for name in ("first_delay_s", "max_delay_s", "timeout_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise NodeConfigError(f"send.{name}: expected a positive number, got {value!r}")
        attempts = self.max_attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise NodeConfigError(
                f"send.max_attempts: expected a whole number >= 1, got {attempts!r}"
            )
        if self.max_delay_s < self.first_delay_s:
            raise NodeConfigError("send.max_delay_s: must not be less than send.first_delay_s")

    def delay_s(self, failures: int) -> float:
        """The wait after some consecutive failures.

        Parameters
        ----------
        failures : int
            Failures so far (1 or more).

        Returns
        -------
        float
            The wait, s.
        """
        return float(min(self.max_delay_s, self.first_delay_s * 2 ** max(failures - 1, 0)))


@dataclass(frozen=True)
class NodeConfig:
    """Everything ``spinetv serve`` needs, checked.

    Parameters
    ----------
    ae_title : str
        The node's own AE title.
    port : int
        TCP port it listens on.
    store : Path
        The spool and results folder.
    allow : tuple of Peer
        The calling AEs accepted; at least one.
    return_to : tuple of Destination
        Where results are sent (none: they stay in the store).
    protocols : tuple of str
        Default protocol preset(s) (names or files).
    gtv : tuple of str
        GTV ROI names, tried in order (case-insensitive) in each RTSTRUCT.
    rules : tuple of ProtocolRule
        Protocol rules, first match wins.
    bind : str
        Address to listen on ("0.0.0.0": every interface).
    quiet_s : float
        A case whose RTSTRUCT does not list every slice it references is planned when nothing
        of it arrived for this long, s.
    settle_s : float
        A case whose RTSTRUCT and referenced images have all arrived is planned once nothing of
        its series arrived for this long, s (the slices the RTSTRUCT does not list may still
        be coming).
    html : bool
        Write the HTML report beside the JSON one.
    retry : RetryPolicy
        Sending retries.
    pause_before_plan_s, pause_before_send_s : float
        Test hooks only: wait this long after a case is received, or planned, before going on
        (to kill the node in that window). Never set them in service.
    source : str
        Where the settings came from, for messages.
    """

    ae_title: str
    port: int
    store: Path
    allow: tuple[Peer, ...]
    return_to: tuple[Destination, ...] = ()
    protocols: tuple[str, ...] = ("sib-sbrt-2025",)
    gtv: tuple[str, ...] = ("GTV",)
    rules: tuple[ProtocolRule, ...] = ()
    bind: str = "0.0.0.0"
    quiet_s: float = 60.0
    settle_s: float = 2.0
    html: bool = True
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    pause_before_plan_s: float = 0.0
    pause_before_send_s: float = 0.0
    source: str = "options"

    def __post_init__(self) -> None:
        where = self.source
        set_field = object.__setattr__
        set_field(self, "ae_title", check_ae_title(self.ae_title, what=f"{where}: ae_title"))
        _check_port(self.port, what=f"{where}: port")
        set_field(self, "store", Path(self.store))
        set_field(self, "bind", _check_host(self.bind, what=f"{where}: bind"))
        if not self.allow:
            raise NodeConfigError(
                f"{where}: no calling AE is allowed; give [[allow]] entries or --allow-ae TITLE"
            )
        if not self.protocols:
            raise NodeConfigError(f"{where}: plan.protocols is empty")
        if not self.gtv:
            raise NodeConfigError(f"{where}: plan.gtv is empty")
        for name in ("quiet_s", "settle_s", "pause_before_plan_s", "pause_before_send_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise NodeConfigError(f"{where}: {name}: expected a number >= 0, got {value!r}")
        if self.quiet_s == 0:
            raise NodeConfigError(f"{where}: plan.quiet_seconds must be more than 0")

    def admits(self, ae_title: str, address: str) -> bool:
        """Whether a calling ``ae_title`` from ``address`` may associate.

        Parameters
        ----------
        ae_title : str
            The calling AE title.
        address : str
            The requestor's IP address.

        Returns
        -------
        bool
            True when one of :attr:`allow` admits it.
        """
        return any(peer.admits(ae_title, address) for peer in self.allow)

    def choose(
        self, roi_names: Sequence[str], structure_set_label: str
    ) -> tuple[tuple[str, ...], tuple[str, ...], str]:
        """The protocols and GTV names for an RTSTRUCT, and why.

        Parameters
        ----------
        roi_names : sequence of str
            The RTSTRUCT's ROI names.
        structure_set_label : str
            Its StructureSetLabel.

        Returns
        -------
        (tuple of str, tuple of str, str)
            Protocols, GTV names, and the reason ("rule ..." or "default").
        """
        for rule in self.rules:
            if rule.matches(roi_names, structure_set_label):
                return rule.protocols, rule.gtv or self.gtv, f"rule {rule.describe()}"
        return self.protocols, self.gtv, "default"


_TOP_KEYS = {"node", "allow", "return_to", "plan", "rule", "send", "testing"}
_NODE_KEYS = {"ae_title", "port", "bind", "store"}
_PLAN_KEYS = {"protocols", "gtv", "quiet_seconds", "settle_seconds", "html"}
_SEND_KEYS = {"first_delay_seconds", "max_delay_seconds", "timeout_seconds"}
_SEND_COUNT_KEYS = {"max_attempts"}
_TESTING_KEYS = {"pause_before_plan_seconds", "pause_before_send_seconds"}


class _Table:
    """Typed access to one table of the file; errors name the file and the key."""

    def __init__(self, data: Any, path: str, name: str, keys: set[str]) -> None:
        self.path, self.name = path, name
        if not isinstance(data, Mapping):
            raise NodeConfigError(f"{path}: [{name}] must be a table")
        unknown = sorted(set(data) - keys)
        if unknown:
            raise NodeConfigError(
                f"{path}: [{name}] unknown key {unknown[0]!r} (known: {', '.join(sorted(keys))})"
            )
        self.data = data

    def where(self, key: str) -> str:
        return f"{self.path}: {self.name}.{key}"

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        value = self.data.get(key, default)
        if value is default:
            return value
        if isinstance(value, bool) and kind is not bool:
            raise NodeConfigError(f"{self.where(key)}: expected {_kind(kind)}, got {value!r}")
        if not isinstance(value, kind):
            raise NodeConfigError(f"{self.where(key)}: expected {_kind(kind)}, got {value!r}")
        return value

    def names(self, key: str) -> tuple[str, ...] | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise NodeConfigError(f"{self.where(key)}: expected a list of names, got {value!r}")
        return tuple(v.strip() for v in value)


def _kind(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    words = {str: "text", int: "a whole number", float: "a number", bool: "true or false"}
    return " or ".join(words.get(k, k.__name__) for k in kinds)


def _tables(data: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise NodeConfigError(f"{path}: {key} must be an array of tables ([[{key}]])")
    return value


def _entry(path: str, key: str, number: int, make: Any) -> Any:
    try:
        return make()
    except NodeConfigError as error:
        raise NodeConfigError(f"{path}: [[{key}]] #{number}: {error}") from None


def load_node_config(
    path: str | os.PathLike[str] | None = None, **overrides: Any
) -> NodeConfig:
    """Read a node configuration file, with options taking precedence, and check it.

    Parameters
    ----------
    path : path-like, optional
        The TOML file (see docs/node.md); None builds the configuration from ``overrides``
        alone.
    **overrides
        :class:`NodeConfig` fields given on the command line (None values are ignored;
        ``allow`` and ``return_to`` add to the file's).

    Returns
    -------
    NodeConfig
        The checked configuration; a relative ``store`` is relative to the file's folder.

    Raises
    ------
    NodeConfigError
        The file cannot be read, is not TOML, has an unknown table or key, a value of the wrong
        type, or the result is incomplete (no AE title, port, store or allowed AE).
    """
    given = {k: v for k, v in overrides.items() if v is not None and v != ()}
    fields: dict[str, Any] = {}
    source = "options"
    if path is not None:
        source = str(path)
        fields = _read_file(Path(path))
    for key in ("allow", "return_to"):
        if key in given:
            given[key] = tuple(fields.get(key, ())) + tuple(given[key])
    fields.update(given)
    fields["source"] = source
    missing = [k for k in ("ae_title", "store") if k not in fields]
    if missing:
        raise NodeConfigError(
            f"{source}: no {missing[0]} given (node.{missing[0]} in the file or "
            f"--{missing[0].replace('_', '-')})"
        )
    fields.setdefault("port", DEFAULT_PORT)
    fields.setdefault("allow", ())
    return NodeConfig(**fields)


def _read_file(path: Path) -> dict[str, Any]:
    where = str(path)
    data = read_toml(path, NodeConfigError, kind="configuration file")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise NodeConfigError(
            f"{where}: unknown table {unknown[0]!r} (known: {', '.join(sorted(_TOP_KEYS))})"
        )
    fields: dict[str, Any] = {}
    node = _Table(data.get("node", {}), where, "node", _NODE_KEYS)
    for key, kind in (("ae_title", str), ("port", int), ("bind", str), ("store", str)):
        value = node.get(key, kind)
        if value is not None:
            fields[key] = value
    if "store" in fields:
        store = Path(fields["store"]).expanduser()
        fields["store"] = store if store.is_absolute() else path.parent / store
    allow = []
    for number, item in enumerate(_tables(data, "allow", where), 1):
        table = _Table(item, where, f"allow #{number}", {"ae_title", "host"})
        title, host = table.get("ae_title", str), table.get("host", str)
        allow.append(_entry(where, "allow", number, lambda t=title, h=host: Peer(t, h)))
    fields["allow"] = tuple(allow)
    destinations = []
    for number, item in enumerate(_tables(data, "return_to", where), 1):
        table = _Table(item, where, f"return_to #{number}", {"ae_title", "host", "port"})
        values = (table.get("ae_title", str), table.get("host", str), table.get("port", int))
        destinations.append(_entry(where, "return_to", number, lambda v=values: Destination(*v)))
    fields["return_to"] = tuple(destinations)
    plan = _Table(data.get("plan", {}), where, "plan", _PLAN_KEYS)
    for key in ("protocols", "gtv"):
        names = plan.names(key)
        if names is not None:
            fields[key] = names
    for key in ("quiet_seconds", "settle_seconds"):
        value = plan.get(key, (int, float))
        if value is not None:
            fields[key.replace("_seconds", "_s")] = float(value)
    html = plan.get("html", bool)
    if html is not None:
        fields["html"] = html
    rules = []
    for number, item in enumerate(_tables(data, "rule", where), 1):
        table = _Table(
            item, where, f"rule #{number}", {"roi_name", "structure_set_label", "protocols", "gtv"}
        )
        rule = (
            table.names("protocols") or (),
            table.get("roi_name", str),
            table.get("structure_set_label", str),
            table.names("gtv"),
        )
        rules.append(_entry(where, "rule", number, lambda v=rule: ProtocolRule(*v)))
    fields["rules"] = tuple(rules)
    send = _Table(data.get("send", {}), where, "send", _SEND_KEYS | _SEND_COUNT_KEYS)
    retry: dict[str, Any] = {}
    for key in _SEND_KEYS:
        value = send.get(key, (int, float))
        if value is not None:
            retry[key.replace("_seconds", "_s")] = float(value)
    attempts = send.get("max_attempts", int)
    if attempts is not None:
        retry["max_attempts"] = attempts
    try:
        fields["retry"] = RetryPolicy(**retry)
    except NodeConfigError as error:
        raise NodeConfigError(f"{where}: {error}") from None
    testing = _Table(data.get("testing", {}), where, "testing", _TESTING_KEYS)
    for key in _TESTING_KEYS:
        value = testing.get(key, (int, float))
        if value is not None:
            fields[key.replace("_seconds", "_s")] = float(value)
    return fields

