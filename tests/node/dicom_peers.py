"""Real DICOM peers on 127.0.0.1 for the node's tests: a storage SCP that collects what the node
sends back, a storescu (pynetdicom's application and its API), the node as a subprocess.

Every server or process started here is stopped by the fixture that started it, and every wait
is bounded.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

pynetdicom = pytest.importorskip(
    "pynetdicom", reason="the DICOM node needs pynetdicom (node extra)"
)

from pynetdicom import AE, evt  # noqa: E402
from pynetdicom.sop_class import (  # type: ignore[attr-defined]  # noqa: E402
    CTImageStorage,
    RTDoseStorage,
    RTStructureSetStorage,
    Verification,
)

SRC = Path(__file__).resolve().parents[2] / "src"
NODE_AE = "SPINETV"
TPS_AE = "TPS"
DEST_AE = "TPS_IMPORT"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Poll ``condition`` every 50 ms until it is truthy; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}")


class ResultSCP:
    """A storage SCP (the planning system's import node) keeping every dataset it receives."""

    def __init__(self, ae_title: str = DEST_AE, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[bytes] = []
        self._lock = threading.Lock()
        ae = AE(ae_title=ae_title)
        ae.add_supported_context(RTStructureSetStorage)
        ae.add_supported_context(Verification)
        self._server = ae.start_server(
            ("127.0.0.1", self.port), block=False, evt_handlers=[(evt.EVT_C_STORE, self._store)]
        )

    def _store(self, event: Any) -> int:
        with self._lock:
            self.received.append(event.encoded_dataset())
        return 0x0000

    def count(self) -> int:
        with self._lock:
            return len(self.received)

    def stop(self) -> None:
        self._server.shutdown()


def send(
    port: int,
    datasets: Sequence[Any],
    *,
    calling: str = TPS_AE,
    called: str = NODE_AE,
    contexts: Sequence[str] = (CTImageStorage, RTStructureSetStorage),
) -> tuple[Any, list[int]]:
    """Associate with the node and C-STORE each dataset (or file); the association and the
    statuses (no status when no context was accepted for it: -1)."""
    ae = AE(ae_title=calling)
    for context in contexts:
        ae.add_requested_context(context)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 20
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    statuses = []
    if assoc.is_established:
        try:
            for item in datasets:
                try:
                    response = assoc.send_c_store(item)
                except ValueError:  # no accepted presentation context for it
                    statuses.append(-1)
                    continue
                statuses.append(int(getattr(response, "Status", -2)))
        finally:
            assoc.release()
    return assoc, statuses


def storescu(port: int, folder: Path, *, calling: str = TPS_AE) -> subprocess.CompletedProcess[str]:
    """pynetdicom's ``storescu`` application sending every file under ``folder``."""
    return subprocess.run(
        [sys.executable, "-m", "pynetdicom", "storescu", "127.0.0.1", str(port), str(folder),
         "-r", "-aet", calling, "-aec", NODE_AE, "-ta", "20", "-td", "20", "-tn", "20"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def echo(port: int, calling: str = TPS_AE) -> bool:
    """Whether the node answers C-ECHO with success."""
    ae = AE(ae_title=calling)
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
    assoc = ae.associate("127.0.0.1", port, ae_title=NODE_AE)
    if not assoc.is_established:
        return False
    try:
        status = assoc.send_c_echo()
        return bool(status) and status.Status == 0x0000
    finally:
        assoc.release()


def write_config(
    path: Path,
    *,
    port: int,
    store: Path,
    dest_port: int,
    extra: str = "",
    allow: str = '[[allow]]\nae_title = "TPS"\n',
) -> Path:
    """A node.toml for the tests (1 s quiet period, short retries)."""
    path.write_text(
        f"""[node]
ae_title = "{NODE_AE}"
port = {port}
bind = "127.0.0.1"
store = "{store}"

{allow}
[[return_to]]
ae_title = "{DEST_AE}"
host = "127.0.0.1"
port = {dest_port}

[plan]
protocols = ["sib-sbrt-2025"]
gtv = ["GTV"]
quiet_seconds = 1
settle_seconds = 0.3
html = false

[send]
first_delay_seconds = 0.2
max_delay_seconds = 1
timeout_seconds = 5
{extra}
""",
        encoding="utf-8",
    )
    return path


class NodeProcess:
    """``spinetv serve --config`` as a subprocess, its log in a file."""

    def __init__(self, config: Path, log: Path, port: int) -> None:
        self.log = log
        self.port = port
        path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
        env = {**os.environ, "PYTHONPATH": path}
        self._stream = log.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "spinetv", "serve", "--config", str(config)],
            stdout=self._stream,
            stderr=subprocess.STDOUT,
            env=env,
        )
        wait_until(lambda: self._listening(), 30, "the node to listen")

    def _listening(self) -> bool:
        if self.process.poll() is not None:
            pytest.fail(f"the node exited with {self.process.returncode}: {self.text()}")
        return echo(self.port)

    def text(self) -> str:
        """What the node logged so far (it writes to the file itself)."""
        return self.log.read_text(encoding="utf-8")

    def lines(self, word: str) -> list[str]:
        return [line for line in self.text().splitlines() if f" {word}" in line]

    def kill(self) -> None:
        """SIGKILL: no chance to tidy up."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        if not self._stream.closed:
            self._stream.close()

    def stop(self) -> int:
        """SIGTERM, as systemd stops a service; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if not self._stream.closed:
            self._stream.close()
        return int(self.process.returncode)


__all__ = [
    "CTImageStorage",
    "NodeProcess",
    "RTDoseStorage",
    "RTStructureSetStorage",
    "ResultSCP",
    "echo",
    "free_port",
    "send",
    "storescu",
    "wait_until",
    "write_config",
]
