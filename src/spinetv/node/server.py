"""The running node: a pynetdicom Storage SCP, a planner thread and a sender thread.

The association threads only check and spool objects (fast, see :mod:`spinetv.node.receive`);
planning runs on the planner thread and sending on the sender thread, so that associations
are answered while a case is planned or a destination is down. Both threads work from the
spool's state on disk and are woken when something arrives; they also look every
``poll_s`` seconds (quiet periods, retries).
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from spinetv.errors import SpinetvError
from spinetv.node.config import NodeConfig
from spinetv.node.receive import (
    STATUS_CANNOT_UNDERSTAND,
    STATUS_OUT_OF_RESOURCES,
    check_object,
)
from spinetv.node.spool import (
    ACCEPTED_SOP_CLASSES,
    RT_STRUCTURE_SET_STORAGE,
    CaseRecord,
    CaseState,
    Spool,
    StructureSetInfo,
    read_structure_set_info,
    readiness,
    write_durable,
)
from spinetv.node.work import SendError, plan_case, send_files

__all__ = ["MAX_PLAN_ATTEMPTS", "Node", "require_pynetdicom"]

log = logging.getLogger("spinetv.node")

#: Starts of planning a case before it is failed: planning that never finishes (the node killed
#: or crashed meanwhile) is redone at the next start, but not forever.
MAX_PLAN_ATTEMPTS = 3
#: A-ASSOCIATE-RJ: rejected-permanent, by the service user, calling AE title not recognised.
_REJECT_CALLING_AE = (0x01, 0x01, 0x03)


def require_pynetdicom() -> None:
    """Raise a one-line :class:`SpinetvError` naming the extra when pynetdicom is missing."""
    try:
        import pynetdicom  # noqa: F401
    except ImportError:
        raise SpinetvError(
            'the DICOM node needs pynetdicom: pip install "spinetv[node]"'
        ) from None


@dataclass
class _AssociationTally:
    peer: str
    stored: dict[str, int] = field(default_factory=dict)
    echoes: int = 0
    refused: list[str] = field(default_factory=list)


def _short(uid: str) -> str:
    """The last 12 characters of a UID: enough to tell cases apart in a log."""
    return uid if len(uid) <= 16 else f"...{uid[-12:]}"


class Node:
    """A DICOM node that plans the cases sent to it and sends the structures back.

    Parameters
    ----------
    config : NodeConfig
        The settings.
    poll_s : float, default 0.5
        How often the planner and sender look at the spool when not woken, s.
    """

    def __init__(self, config: NodeConfig, *, poll_s: float = 0.5) -> None:
        require_pynetdicom()
        self.config = config
        self.spool = Spool(config.store)
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._plan_wake = threading.Event()
        self._send_wake = threading.Event()
        self._lock = threading.Lock()
        self._tallies: dict[int, _AssociationTally] = {}
        # Work lists, rebuilt from the spool at start (the spool is the truth): RTSTRUCTs whose
        # case is not complete yet (with when they came), cases to plan, cases to send.
        self._waiting: dict[str, tuple[Path, float]] = {}
        self._to_plan: dict[str, None] = {}
        self._to_send: dict[str, None] = {}
        self._infos: dict[str, tuple[float, StructureSetInfo]] = {}
        self._next_try: dict[str, float] = {}
        self._paused: set[str] = set()
        # Image series folders something arrived in (checked for cases planned on fewer
        # slices once they settle), and the cases planned on each series.
        self._touched: dict[str, None] = {}
        self._cases_of: dict[str, set[str]] = {}
        # Held while a case is sent, and while a case whose series grew is set back.
        self._case_lock = threading.Lock()
        self._server: Any = None
        self._threads: list[threading.Thread] = []

    # -- lifetime -------------------------------------------------------------------------

    def start(self) -> None:
        """Listen on the configured address and port, and start planning and sending."""
        from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, evt
        from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

        self._resume()
        ae = AE(ae_title=self.config.ae_title)
        for sop_class in ACCEPTED_SOP_CLASSES:
            ae.add_supported_context(sop_class, ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(Verification)
        ae.require_called_aet = True
        ae.maximum_associations = 16
        # pynetdicom's default (16 kB PDUs) receives about 6 MB/s on loopback; 1 MiB about 9.
        ae.maximum_pdu_size = 1 << 20
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 60
        handlers: list[Any] = [
            (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_REJECTED, self._on_rejected),
            (evt.EVT_C_ECHO, self._on_echo),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_RELEASED, self._on_closed),
            (evt.EVT_ABORTED, self._on_closed),
        ]
        try:
            self._server = ae.start_server(
                (self.config.bind, self.config.port), block=False, evt_handlers=handlers
            )
        except OSError as error:
            raise SpinetvError(
                f"cannot listen on {self.config.bind}:{self.config.port} "
                f"({error.strerror or error})"
            ) from None
        for name, target in (("spinetv-planner", self._planner), ("spinetv-sender", self._sender)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info(
            "listening as %s on %s:%d; store %s; allowed %s; results to %s",
            self.config.ae_title,
            self.config.bind,
            self.config.port,
            self.config.store,
            ", ".join(str(p) for p in self.config.allow),
            ", ".join(str(d) for d in self.config.return_to) or "nowhere (kept in the store)",
        )

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop listening and let the planner and sender finish their step.

        Parameters
        ----------
        timeout_s : float, default 30
            Longest wait for each thread, s.
        """
        self._stop.set()
        self._plan_wake.set()
        self._send_wake.set()
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        for thread in self._threads:
            thread.join(timeout_s)
        self._threads = []

    def wait(self, stop: threading.Event) -> None:
        """Serve until ``stop`` is set (by a signal handler), then stop.

        Parameters
        ----------
        stop : threading.Event
            Set to stop.
        """
        while not stop.wait(1.0):
            if not all(thread.is_alive() for thread in self._threads):
                log.error("a worker thread ended; stopping")
                break
        self.stop()

    # -- associations ---------------------------------------------------------------------

    def _on_requested(self, event: Any) -> None:
        assoc = event.assoc
        calling = str(assoc.requestor.primitive.calling_ae_title).strip()
        address = str(assoc.requestor.address)
        if not self.config.admits(calling, address):
            log.warning(
                "association from %s@%s rejected: calling AE title not allowed from that host",
                calling,
                address,
            )
            assoc.acse.send_reject(*_REJECT_CALLING_AE)
            # As pynetdicom's own rejection does: wait until the A-ASSOCIATE-RJ is out and the
            # peer has closed, else the connection is dropped before it is sent.
            assoc.kill()
            return
        with self._lock:
            self._tallies[id(assoc)] = _AssociationTally(f"{calling}@{address}")

    def _on_rejected(self, event: Any) -> None:
        """pynetdicom's own rejections: another called AE title, too many associations."""
        assoc = event.assoc
        with self._lock:
            self._tallies.pop(id(assoc), None)
        request = assoc.requestor.primitive
        answer = assoc.acceptor.primitive
        code = (getattr(answer, "result_source", None), getattr(answer, "diagnostic", None))
        if code == (1, 7):
            reason = (
                f"called AE title {str(request.called_ae_title).strip()!r} is not "
                f"{self.config.ae_title!r}"
            )
        elif code == (3, 2):
            reason = "too many associations at once"
        else:
            reason = f"source {code[0]}, reason {code[1]}"
        log.warning(
            "association from %s@%s rejected: %s",
            str(request.calling_ae_title).strip(),
            assoc.requestor.address,
            reason,
        )

    def _on_closed(self, event: Any) -> None:
        with self._lock:
            tally = self._tallies.pop(id(event.assoc), None)
        if tally is None:
            return
        how = "released" if event.event.name == "EVT_RELEASED" else "aborted"
        stored = ", ".join(f"{n} {kind}" for kind, n in sorted(tally.stored.items())) or "nothing"
        refused = f"; {len(tally.refused)} refused ({tally.refused[0]})" if tally.refused else ""
        echoes = f"; {tally.echoes} C-ECHO" if tally.echoes else ""
        log.info("association from %s %s: stored %s%s%s", tally.peer, how, stored, refused, echoes)

    def _on_echo(self, event: Any) -> int:
        tally = self._tally(event)
        with self._lock:
            tally.echoes += 1
        return 0x0000

    def _tally(self, event: Any) -> _AssociationTally:
        with self._lock:
            return self._tallies.setdefault(id(event.assoc), _AssociationTally("?"))

    def _on_store(self, event: Any) -> int:
        tally = self._tally(event)
        raw = event.encoded_dataset()
        context = event.context
        try:
            dataset = event.dataset
            for _ in dataset.iterall():  # decode every element now: damage shows here
                pass
            checked = check_object(
                dataset,
                context_sop_class=str(context.abstract_syntax),
                request_sop_instance=str(event.request.AffectedSOPInstanceUID),
                transfer_syntax=str(context.transfer_syntax),
            )
        except Exception as error:  # a damaged dataset raises anything from pydicom
            reason = f"cannot be decoded ({type(error).__name__}: {error})"
            return self._refuse(tally, raw, STATUS_CANNOT_UNDERSTAND, reason)
        if not checked.accepted:
            return self._refuse(tally, raw, checked.status, checked.reason)
        path = self.spool.object_path(
            checked.study, checked.series, checked.sop_class, checked.sop_instance
        )
        try:
            write_durable(path, raw)
        except OSError as error:
            log.error("cannot write %s: %s", path, error.strerror or error)
            return STATUS_OUT_OF_RESOURCES
        kind = ACCEPTED_SOP_CLASSES[checked.sop_class]
        with self._lock:
            tally.stored[kind] = tally.stored.get(kind, 0) + 1
            if checked.sop_class == RT_STRUCTURE_SET_STORAGE:
                self._waiting[checked.sop_instance] = (path, time.monotonic())
            else:
                self._touched[str(path.parent)] = None
        self._plan_wake.set()
        return 0x0000

    def _refuse(self, tally: _AssociationTally, raw: bytes, status: int, reason: str) -> int:
        try:
            where = str(self.spool.set_aside(raw, f"from {tally.peer}: {reason}"))
        except OSError as error:
            where = f"not kept ({error.strerror or error})"
        log.warning(
            "object from %s refused (status 0x%04X): %s; set aside: %s",
            tally.peer,
            status,
            reason,
            where,
        )
        with self._lock:
            tally.refused.append(reason)
        return status

    # -- planning -------------------------------------------------------------------------

    def _sleep(self, seconds: float) -> bool:
        """Wait, unless stopped; True when stopped."""
        return self._stop.wait(seconds)

    def _loop(self, wake: threading.Event, step: Callable[[], None], what: str) -> None:
        while not self._stop.is_set():
            # Cleared before the step: a wake-up during the step makes the next one start at
            # once rather than after the poll interval.
            wake.clear()
            try:
                step()
            except Exception:  # the thread must outlive any one case's surprise
                log.exception("%s: unexpected error; carrying on", what)
            wake.wait(self.poll_s)

    def _planner(self) -> None:
        self._loop(self._plan_wake, self._plan_step, "planner")

    def _sender(self) -> None:
        self._loop(self._send_wake, self._send_step, "sender")

    def _keys(self) -> list[str]:
        return [d.key for d in self.config.return_to]

    def _resume(self) -> None:
        """Rebuild the work lists from the spool: what a previous run left undone."""
        leftovers = self.spool.remove_leftovers()
        if leftovers:
            log.info("removed %d partly written files of an interrupted run", len(leftovers))
        keys = self._keys()
        for path in self.spool.structure_sets():
            case_id = path.name[3:-4]
            state = self.spool.state(case_id, keys)
            if state is None or (state is CaseState.FAILED and self._sent_again(case_id, path)):
                self._waiting[case_id] = (path, 0.0)
        for case_id in self.spool.case_ids():
            state = self.spool.state(case_id, keys)
            if state is CaseState.RECEIVED:
                self._to_plan[case_id] = None
            elif state is CaseState.PLANNED:
                self._to_send[case_id] = None
            if state in (CaseState.PLANNED, CaseState.SENT, CaseState.SEND_FAILED,
                         CaseState.FAILED):
                # Slices may have come after planning, before a crash: looked at once settled.
                try:
                    record = self.spool.record(case_id)
                except (SpinetvError, OSError, ValueError) as error:
                    log.warning("case %s: %s; not watched for more slices", case_id, error)
                    record = None
                if record is not None:
                    self._cases_of.setdefault(record.series, set()).add(case_id)
                    self._touched[record.series] = None
        if self._waiting or self._to_plan or self._to_send:
            log.info(
                "resuming from the spool: %d cases waiting for images, %d to plan, %d to send",
                len(self._waiting),
                len(self._to_plan),
                len(self._to_send),
            )

    def _structure_set(self, case_id: str, path: Path) -> StructureSetInfo:
        """The RTSTRUCT's references, read once per arrival (a large structure set waiting
        for its images is not parsed at every look)."""
        arrived = self.spool.last_arrival([path])
        cached = self._infos.get(case_id)
        if cached is not None and cached[0] == arrived:
            return cached[1]
        info = read_structure_set_info(path)
        self._infos[case_id] = (arrived, info)
        return info

    def _sent_again(self, case_id: str, rtstruct: Path) -> bool:
        """Whether a failed case's RTSTRUCT arrived again after it failed (a retry by the
        planning system)."""
        failed = self.spool.case_folder(case_id) / "failed.json"
        return self.spool.last_arrival([rtstruct]) > self.spool.last_arrival([failed])

    def _plan_step(self) -> None:
        with self._lock:
            waiting = list(self._waiting.items())
        for case_id, (path, arrived) in waiting:
            if self._consider(case_id, path):
                self._infos.pop(case_id, None)
                with self._lock:
                    if self._waiting.get(case_id) == (path, arrived):
                        del self._waiting[case_id]
        self._check_grown_series()
        while self._to_plan and not self._stop.is_set():
            case_id = next(iter(self._to_plan))
            self._plan(case_id)
            self._to_plan.pop(case_id, None)

    def _check_grown_series(self) -> None:
        """Cases planned on a series that has grown since, once it has settled again."""
        now = time.time()
        with self._lock:
            touched = list(self._touched)
        for series in touched:
            if now - self.spool.last_arrival([Path(series)]) < self.config.settle_s:
                continue
            with self._lock:
                self._touched.pop(series, None)
            for case_id in sorted(self._cases_of.get(series, ())):
                self._check_grown(case_id)

    def _check_grown(self, case_id: str) -> None:
        """Plan a case again (once) when its series holds more slices than it was planned on.

        A physicist expects the structures of the whole series: a result planned on part of
        it is replaced, not kept silently; a series that grows again after that is left as it
        is, with an error in the log. A case whose planning failed on part of its series is
        planned again too (once).
        """
        record = self.spool.record(case_id)
        if record is None:
            return
        if (self.spool.case_folder(case_id) / "failed.json").is_file():
            self._retry_failed(record)
            return
        if not self.spool.result_folder(case_id).is_dir():
            return  # not planned yet: planning counts the slices itself
        planned = self.spool.planned(case_id).get("slices")
        now = len(self.spool.images_in(Path(record.series)))
        if planned is None or now <= int(planned):
            return
        if record.replans >= 1:
            stale = self.spool.case_folder(case_id) / "stale.json"
            if not stale.is_file():
                write_durable(stale, f'{{"planned_on": {planned}, "slices": {now}}}\n'.encode())
                log.error(
                    "case %s: its series grew again, to %d slices, after it was planned again "
                    "on %d; the result is left as it is: check the case",
                    _short(case_id),
                    now,
                    int(planned),
                )
            return
        with self._case_lock:
            sent = [p.name[5:-5] for p in self.spool.case_folder(case_id).glob("sent-*.json")]
            self.spool.supersede(case_id)
            self._to_send.pop(case_id, None)
            self._next_try.pop(case_id, None)
        self.spool.write_record(
            replace(record, slices=now, replans=record.replans + 1, received_at=time.time())
        )
        log.warning(
            "case %s: %d more slices of its series arrived after it was planned on %d; "
            "planning it again on all %d (the earlier result, %s, is kept as superseded)",
            _short(case_id),
            now - int(planned),
            int(planned),
            now,
            f"already sent to {len(sent)} destination(s)" if sent else "not sent",
        )
        self._to_plan[case_id] = None

    def _retry_failed(self, record: CaseRecord) -> None:
        now = len(self.spool.images_in(Path(record.series)))
        if record.replans >= 1 or now <= record.slices:
            return
        self.spool.forget_failure(record.case_id)
        self.spool.write_record(
            replace(record, slices=now, replans=record.replans + 1, received_at=time.time())
        )
        log.warning(
            "case %s failed when its series held %d slices; %d more arrived since: planning "
            "it again on all %d",
            _short(record.case_id),
            record.slices,
            now - record.slices,
            now,
        )
        self._to_plan[record.case_id] = None

    def _consider(self, case_id: str, path: Path) -> bool:
        """Look at a waiting RTSTRUCT; True when its case is decided (no longer waiting)."""
        state = self.spool.state(case_id, self._keys())
        if state is CaseState.FAILED and self._sent_again(case_id, path):
            self.spool.forget_failure(case_id)
            log.info("case %s sent again after it failed: looking at it again", _short(case_id))
            state = None
        if state is not None:
            log.info(
                "case %s: RTSTRUCT received again; the case is %s already, not redone",
                _short(case_id),
                state.value,
            )
            return True
        try:
            info = self._structure_set(case_id, path)
        except SpinetvError as error:
            self._fail(case_id, str(error))
            return True
        now = time.time()
        candidates = self.spool.candidates(info)
        present = self.spool.images_in(candidates[0]) if len(candidates) == 1 else []
        last = self.spool.last_arrival([path, *candidates])
        # Idle, whatever the order: an RTSTRUCT listing only its contoured slices may arrive
        # in the middle of its series, newer than the last image but not after the last one.
        settled = now - last >= self.config.settle_s
        verdict = readiness(
            info, candidates, present, quiet=now - last >= self.config.quiet_s, settled=settled
        )
        if verdict.failed:
            self._fail(case_id, verdict.reason)
            return True
        if not verdict.ready or verdict.series is None:
            return False
        protocols, gtv, why = self.config.choose(info.roi_names, info.label)
        record = CaseRecord(
            case_id=case_id,
            rtstruct=str(path),
            series=str(verdict.series),
            protocols=protocols,
            gtv=gtv,
            reason=why,
            slices=len(self.spool.images_in(verdict.series)),
            ready=verdict.reason,
            received_at=now,
        )
        self.spool.write_record(record)
        self._cases_of.setdefault(record.series, set()).add(case_id)
        self._to_plan[case_id] = None
        log.info(
            "case %s received: %d images of series %s (%s); protocols %s (%s)",
            _short(case_id),
            record.slices,
            _short(verdict.series.name),
            verdict.reason,
            ", ".join(protocols),
            why,
        )
        return True

    def _fail(self, case_id: str, reason: str) -> None:
        self.spool.mark_failed(case_id, reason)
        log.error("case %s failed: %s", _short(case_id), reason)

    def _plan(self, case_id: str) -> None:
        if self.config.pause_before_plan_s and self._sleep(self.config.pause_before_plan_s):
            return
        # A case that kills the node while it is planned (out of memory, a crash in a native
        # library) would otherwise kill it again at every restart.
        attempt = self.spool.count_attempt(case_id)
        if attempt > MAX_PLAN_ATTEMPTS:
            self._fail(
                case_id,
                f"the node stopped while planning this case {attempt - 1} times; not tried "
                "again (send the case again to retry)",
            )
            return
        try:
            record = self.spool.record(case_id)
            assert record is not None
            # The pipeline's warnings are also the report's notes: counted on the case's log
            # line rather than printed apart from it. (catch_warnings is process-wide: a
            # warning of an association thread meanwhile is counted here, never lost.)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                planned = plan_case(self.spool, record, self.config)
        except SpinetvError as error:
            self._fail(case_id, str(error))
            return
        except Exception as error:  # a bug must fail one case, not the node
            log.debug("case %s: planning raised", case_id, exc_info=True)
            self._fail(case_id, f"internal error: {type(error).__name__}: {error}")
            return
        log.info(
            "case %s planned: %s on %d slices; levels %s; %d warnings (notes in the report) "
            "(%.1f s)",
            _short(case_id),
            ", ".join(planned.rtstructs),
            planned.slices,
            ", ".join(planned.levels) or "none",
            len(caught),
            planned.seconds,
        )
        if self.config.return_to:
            self._to_send[case_id] = None
            self._send_wake.set()
        # Slices that came while it was planned are seen once the series settles.
        self._touched[record.series] = None

    # -- sending --------------------------------------------------------------------------

    def _send_step(self) -> None:
        now = time.monotonic()
        for case_id in [c for c in list(self._to_send) if now >= self._next_try.get(c, 0.0)]:
            if self._stop.is_set():
                return
            if self.config.pause_before_send_s and case_id not in self._paused:
                self._paused.add(case_id)
                if self._sleep(self.config.pause_before_send_s):
                    return
            if self._send(case_id):
                self._to_send.pop(case_id, None)

    def _send(self, case_id: str) -> bool:
        """Send a planned case to each due destination not reached yet; True when none is left.

        Each destination is tried on its own (one that is down does not hold back another),
        and only with the files it has not accepted yet. A permanent refusal, or
        ``max_attempts`` transient failures, make the case "send failed" there; otherwise it is
        tried again after a back-off.
        """
        with self._case_lock:
            if not self.spool.result_folder(case_id).is_dir():
                return True  # set back to be planned again: queued again once planned
            return self._send_locked(case_id)

    def _send_locked(self, case_id: str) -> bool:
        files = self.spool.results(case_id)
        recorded = self.spool.planned(case_id).get("destinations")
        configured = {d.key: d for d in self.config.return_to}
        if recorded is None:  # planned before destinations were recorded
            recorded = [{"to": str(d), "key": d.key} for d in self.config.return_to]
        missing: list[tuple[str, Exception, int]] = []
        for item in recorded:
            key, label = str(item["key"]), str(item["to"])
            if self.spool.is_sent(case_id, key) or self.spool.is_send_failed(case_id, key):
                continue
            destination = configured.get(key)
            if destination is None:
                self._give_up(case_id, key, label, "no longer in the configuration", 0)
                continue
            accepted = self.spool.accepted(case_id, key)
            todo = [p for p in files if p.name not in accepted]

            def keep(path: Path, status: int, key: str = key, label: str = label) -> None:
                self.spool.mark_accepted(case_id, key, path.name, status)
                if status != 0x0000:
                    log.warning(
                        "case %s: %s stored %s with warning status 0x%04X",
                        _short(case_id), label, path.name, status,
                    )

            try:
                if todo:  # none when a crash came after the last file was accepted
                    send_files(
                        todo,
                        destination,
                        ae_title=self.config.ae_title,
                        retry=self.config.retry,
                        on_accepted=keep,
                    )
            except Exception as error:  # whatever stops a delivery, it is retried with back-off
                attempts = self.spool.count_send_attempt(case_id, key)
                if isinstance(error, SendError) and error.permanent:
                    self._give_up(case_id, key, label, f"{error} (permanent)", attempts)
                elif attempts >= self.config.retry.max_attempts:
                    self._give_up(case_id, key, label, f"{error}; gave up after {attempts} "
                                  "attempts", attempts)
                else:
                    missing.append((label, error, attempts))
                continue
            statuses = self.spool.accepted(case_id, key)
            self.spool.mark_sent(
                case_id,
                key,
                {"to": label, "files": [p.name for p in files], "at": time.time(),
                 "statuses": [statuses.get(p.name) for p in files]},
            )
            log.info(
                "case %s sent to %s: %s",
                _short(case_id),
                label,
                ", ".join(p.name for p in files),
            )
        if missing:
            failures = max(attempts for _, _, attempts in missing)
            delay = self.config.retry.delay_s(failures)
            self._next_try[case_id] = time.monotonic() + delay
            for label, reason, attempts in missing:
                log.warning(
                    "case %s not sent to %s (attempt %d of %d): %s; retry in %.3g s",
                    _short(case_id),
                    label,
                    attempts,
                    self.config.retry.max_attempts,
                    reason,
                    delay,
                )
            return False
        self._next_try.pop(case_id, None)
        return True

    def _give_up(self, case_id: str, key: str, label: str, reason: str, attempts: int) -> None:
        self.spool.mark_send_failed(
            case_id, key, {"to": label, "reason": reason, "attempts": attempts, "at": time.time()}
        )
        log.error(
            "case %s send failed to %s: %s; not tried again (to retry, delete "
            "send-failed-%s.json and send-attempts-%s in the case folder and restart the node)",
            _short(case_id),
            label,
            reason,
            key,
            key,
        )
