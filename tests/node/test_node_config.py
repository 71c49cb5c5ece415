"""The node's configuration (file, options, ``spinetv serve --check``), protocol rules, retry
delays, the readiness rule and the checks of a received object: plain functions, no network."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from spinetv.cli import main
from spinetv.node.config import (
    NodeConfigError,
    Peer,
    ProtocolRule,
    RetryPolicy,
    load_node_config,
    parse_destination,
    parse_peer,
)
from spinetv.node.receive import STATUS_CANNOT_UNDERSTAND, STATUS_DOES_NOT_MATCH, check_object
from spinetv.node.spool import (
    CT_IMAGE_STORAGE,
    RT_STRUCTURE_SET_STORAGE,
    StructureSetInfo,
    readiness,
)

GOOD = """[node]
ae_title = "SPINETV"
port = 11112
store = "spool"

[[allow]]
ae_title = "ECLIPSE"
host = "10.0.0.5"

[[allow]]
ae_title = "RAYSTATION"

[[return_to]]
ae_title = "ECLIPSE_IMPORT"
host = "10.0.0.5"
port = 104

[plan]
protocols = ["sib-sbrt-2025"]
gtv = ["GTV", "GTV_Spine"]
quiet_seconds = 30

[[rule]]
roi_name = "GTV_S*"
protocols = ["rtog-0631"]

[[rule]]
structure_set_label = "*trial*"
protocols = ["chictr1900023401-involved", "chictr1900023401-whole"]

[send]
first_delay_seconds = 2
max_delay_seconds = 60
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "node.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_reads_with_options_taking_precedence(tmp_path: Path) -> None:
    config = load_node_config(_write(tmp_path, GOOD), port=4242, allow=(parse_peer("MIM"),))
    assert config.port == 4242 and config.store == tmp_path / "spool"
    assert [str(p) for p in config.allow] == ["ECLIPSE@10.0.0.5", "RAYSTATION", "MIM"]
    assert [str(d) for d in config.return_to] == ["ECLIPSE_IMPORT@10.0.0.5:104"]
    assert config.admits("ECLIPSE", "10.0.0.5") and not config.admits("ECLIPSE", "10.0.0.6")
    assert config.admits("RAYSTATION  ", "192.168.1.1") and not config.admits("OTHER", "10.0.0.5")
    assert config.quiet_s == 30 and config.retry.max_delay_s == 60
    assert config.choose(["GTV", "L2"], "") == (("sib-sbrt-2025",), ("GTV", "GTV_Spine"), "default")
    assert config.choose(["gtv_sacrum", "S1"], "")[0] == ("rtog-0631",)
    protocols, _, why = config.choose(["GTV"], "Spine TRIAL arm")
    assert protocols == ("chictr1900023401-involved", "chictr1900023401-whole")
    assert why == "rule structure_set_label='*trial*'"


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (("port = 11112", "port = 70000"), r"node\.toml: port: expected a TCP port"),
        (("port = 11112", 'port = "11112"'), r"node\.port: expected a whole number"),
        (('ae_title = "SPINETV"', 'ae_title = "SPINETV_IS_TOO_LONG"'), "longer than 16"),
        (('ae_title = "SPINETV"', 'ae_title = "A\\\\B"'), "no backslash"),
        (("[send]", "[sned]"), "unknown table 'sned'"),
        (("quiet_seconds = 30", "quiet_secs = 30"), r"\[plan\] unknown key 'quiet_secs'"),
        (('host = "10.0.0.5"\nport = 104', 'host = "10.0.0.5"'), r"\[\[return_to\]\] #1"),
        (('roi_name = "GTV_S*"\n', ""), r"\[\[rule\]\] #1: a rule needs roi_name"),
        (("max_delay_seconds = 60", "max_delay_seconds = 1"), "must not be less than"),
        (("[plan]", "[plan"), "not valid TOML"),
    ],
)
def test_a_bad_file_names_the_file_and_the_key(
    tmp_path: Path, change: tuple[str, str], match: str
) -> None:
    assert change[0] in GOOD
    with pytest.raises(NodeConfigError, match=match):
        load_node_config(_write(tmp_path, GOOD.replace(*change)))


def test_nothing_allowed_or_no_store_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NodeConfigError, match="no calling AE is allowed"):
        load_node_config(None, ae_title="N", store=tmp_path)
    with pytest.raises(NodeConfigError, match="no store given"):
        load_node_config(None, ae_title="N", allow=(Peer("A"),))
    with pytest.raises(NodeConfigError, match="expected AE@host:port"):
        parse_destination("ECLIPSE@10.0.0.5")
    with pytest.raises(NodeConfigError, match="--allow-ae 'TOO_LONG_FOR_AN_AE_TITLE'"):
        parse_peer("TOO_LONG_FOR_AN_AE_TITLE")
    with pytest.raises(NodeConfigError, match="expected an IP address"):
        parse_peer("ECLIPSE@eclipse.hospital.local")
    assert parse_peer("ECLIPSE@::1").admits("ECLIPSE", "::1")


def test_check_accepts_a_good_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pynetdicom", reason="serve --check needs pynetdicom (node extra)")
    code = main(["serve", "--config", str(_write(tmp_path, GOOD)), "--check"])
    out = capsys.readouterr().out
    assert code == 0
    assert "node.toml: ok" in out and "allowed: ECLIPSE@10.0.0.5, RAYSTATION" in out
    assert "rule: roi_name='GTV_S*' -> rtog-0631" in out
    assert not (tmp_path / "spool").exists()  # checking writes nothing


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--protocol", "no-such-protocol"], "unknown protocol 'no-such-protocol'"),
        (["--return-to", "X@h"], "--return-to 'X@h': expected AE@host:port"),
        (["--port", "0"], "port: expected a TCP port"),
    ],
)
def test_check_refuses_a_bad_configuration_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], match: str
) -> None:
    pytest.importorskip("pynetdicom", reason="serve --check needs pynetdicom (node extra)")
    code = main(["serve", "--config", str(_write(tmp_path, GOOD)), "--check", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("spinetv serve: error: ") and err.count("\n") == 1
    assert match in err


def test_check_refuses_a_store_under_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("pynetdicom", reason="serve --check needs pynetdicom (node extra)")
    (tmp_path / "file").write_text("x")
    code = main(["serve", "--check", "--ae-title", "N", "--allow-ae", "A",
                 "--store", str(tmp_path / "file" / "spool")])
    assert code == 2
    assert "is not a folder" in capsys.readouterr().err


def test_retry_delays_double_up_to_the_maximum() -> None:
    policy = RetryPolicy(first_delay_s=2, max_delay_s=10)
    assert [policy.delay_s(n) for n in (1, 2, 3, 4, 5)] == [2, 4, 8, 10, 10]


def test_a_rule_needs_every_condition_it_sets() -> None:
    rule = ProtocolRule(("p",), roi_name="GTV*", structure_set_label="SBRT")
    assert rule.matches(["gtv_1"], "sbrt")
    assert not rule.matches(["gtv_1"], "SBRT 2")
    assert not rule.matches(["CTV"], "SBRT")


def _info(images: set[str], series: tuple[str, ...] = ("1.2.3",)) -> StructureSetInfo:
    return StructureSetInfo(Path("RS.dcm"), "9.9", "1.1", series, frozenset(images), ("GTV",), "")


@pytest.mark.parametrize(
    ("info", "candidates", "present", "quiet", "expected"),
    [
        (_info({"a", "b"}), [Path("s")], {"a", "b", "c"}, False, (True, False)),
        (_info({"a", "b"}), [Path("s")], {"a"}, False, (False, False)),
        (_info({"a", "b"}), [Path("s")], {"a"}, True, (False, True)),
        (_info(set()), [Path("s")], {"a"}, False, (False, False)),
        (_info(set()), [Path("s")], {"a"}, True, (True, False)),
        (_info({"a"}), [], set(), False, (False, False)),
        (_info({"a"}), [], set(), True, (False, True)),
        (_info(set(), ()), [Path("s"), Path("t")], set(), True, (False, True)),
    ],
)
def test_readiness(info, candidates, present, quiet, expected) -> None:  # type: ignore[no-untyped-def]
    verdict = readiness(info, candidates, present, quiet=quiet)
    assert (verdict.ready, verdict.failed) == expected
    assert verdict.series == (candidates[0] if verdict.ready else None)


def test_a_complete_case_waits_for_its_series_to_settle() -> None:
    info = _info({"a", "b"})
    verdict = readiness(info, [Path("s")], {"a", "b"}, quiet=False, settled=False)
    assert (verdict.ready, verdict.failed) == (False, False)
    verdict = readiness(info, [Path("s")], {"a", "b"}, quiet=True, settled=False)
    assert (verdict.ready, verdict.failed) == (False, False)  # never failed while complete



def _ct(**changes: object) -> Dataset:
    dataset = Dataset()
    dataset.SOPClassUID, dataset.SOPInstanceUID = CT_IMAGE_STORAGE, "1.2.3.4"
    dataset.StudyInstanceUID, dataset.SeriesInstanceUID = "1.2.3", "1.2.3.5"
    dataset.Modality = "CT"
    dataset.Rows = dataset.Columns = 4
    dataset.BitsAllocated = 16
    dataset.PixelData = b"\0" * 32
    dataset.ImagePositionPatient = [0, 0, 0]
    dataset.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    dataset.PixelSpacing = [1, 1]
    with warnings.catch_warnings():  # pydicom warns of the invalid UID made on purpose
        warnings.simplefilter("ignore", UserWarning)
        for keyword, value in changes.items():
            if value is None:
                delattr(dataset, keyword)
            else:
                setattr(dataset, keyword, value)
    return dataset


@pytest.mark.parametrize(
    ("changes", "context", "status", "reason"),
    [
        ({}, CT_IMAGE_STORAGE, 0, ""),
        ({}, RT_STRUCTURE_SET_STORAGE, STATUS_DOES_NOT_MATCH, "not the presentation context's"),
        ({"Modality": "RTDOSE"}, CT_IMAGE_STORAGE, STATUS_DOES_NOT_MATCH, "Modality RTDOSE"),
        ({"SeriesInstanceUID": "../../etc"}, CT_IMAGE_STORAGE, STATUS_DOES_NOT_MATCH,
         "not a valid UID"),
        ({"ImagePositionPatient": None}, CT_IMAGE_STORAGE, STATUS_DOES_NOT_MATCH,
         "missing ImagePositionPatient"),
        ({"PixelData": b"\0" * 30}, CT_IMAGE_STORAGE, STATUS_CANNOT_UNDERSTAND, "truncated"),
    ],
)
def test_received_objects_are_checked(
    changes: dict[str, object], context: str, status: int, reason: str
) -> None:
    checked = check_object(
        _ct(**changes),
        context_sop_class=context,
        request_sop_instance="1.2.3.4",
        transfer_syntax="1.2.840.10008.1.2.1",
    )
    assert checked.status == status
    assert reason in checked.reason


def test_the_documented_configuration_reads(tmp_path: Path) -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "node.md").read_text(encoding="utf-8")
    text = page.split("```toml\n", 1)[1].split("```", 1)[0]
    config = load_node_config(_write(tmp_path, text))
    assert [str(p) for p in config.allow] == ["ECLIPSE@10.0.0.5", "MIM"]
    assert config.choose(["GTV_RTOG_1"], "")[:2] == (("rtog-0631",), ("GTV_RTOG",))
    assert config.retry.max_delay_s == 300


def test_mr_images_are_accepted_too() -> None:
    from spinetv.node.spool import MR_IMAGE_STORAGE

    checked = check_object(
        _ct(SOPClassUID=MR_IMAGE_STORAGE, Modality="MR"),
        context_sop_class=MR_IMAGE_STORAGE,
        request_sop_instance="1.2.3.4",
        transfer_syntax="1.2.840.10008.1.2",
    )
    assert checked.accepted and checked.series == "1.2.3.5"


def test_without_pynetdicom_serve_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pynetdicom", None)  # import fails as if not installed
    code = main(["serve", "--config", str(_write(tmp_path, GOOD)), "--check"])
    assert code == 2
    assert 'pip install "spinetv[node]"' in capsys.readouterr().err


def test_importing_the_node_does_not_import_pynetdicom() -> None:
    import subprocess
    import sys

    probe = "import sys, spinetv.node, spinetv.cli; print('pynetdicom' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "False"


def test_the_gtv_is_the_first_configured_name_present() -> None:
    from spinetv.errors import SpinetvError
    from spinetv.node.work import choose_gtv

    assert choose_gtv(["GTV_Spine", "GTV"], ["L1", "gtv", "GTV_SPINE"]) == "GTV_SPINE"
    assert choose_gtv(["GTV_Spine", "GTV"], ["L1", "gtv"]) == "gtv"
    with pytest.raises(SpinetvError, match=r"no GTV: none of the ROIs is named 'GTV' \(ROIs: L1\)"):
        choose_gtv(["GTV"], ["L1"])


def test_settle_time_and_send_attempts_read_and_are_checked(tmp_path: Path) -> None:
    text = GOOD.replace("quiet_seconds = 30", "quiet_seconds = 30\nsettle_seconds = 5")
    config = load_node_config(_write(tmp_path, text + "max_attempts = 4\n"))
    assert (config.settle_s, config.retry.max_attempts) == (5.0, 4)
    assert load_node_config(_write(tmp_path, GOOD)).retry.max_attempts == 20
    with pytest.raises(NodeConfigError, match=r"send.max_attempts: expected a whole number >= 1"):
        load_node_config(_write(tmp_path, GOOD + "max_attempts = 0\n"))
    bad = r"plan.settle_seconds: expected a whole number or a number, got .2."
    with pytest.raises(NodeConfigError, match=bad):
        load_node_config(_write(tmp_path, GOOD.replace("quiet_seconds = 30",
                                                       'settle_seconds = "2"')))
