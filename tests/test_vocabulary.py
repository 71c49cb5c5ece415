"""One vocabulary: levels, sectors, organ roles, sides and "name or file", defined once."""

from __future__ import annotations

from pathlib import Path

import pytest

from spinetv import vocabulary as v
from spinetv.errors import AnatomyError


@pytest.mark.parametrize(
    ("name", "level"),
    [
        ("L2", "L2"), ("l2", "L2"), ("Vertebra_L2", "L2"), ("vertebrae_L2", "L2"),
        ("Th12", "T12"), ("T12", "T12"), ("VB_C7", "C7"), (" S1 ", "S1"), ("sacrum", "Sacrum"),
        ("PTV_L2", None), ("GTV_L3", None), ("L6", None), ("C8", None), ("SpinalCord", None),
    ],
)
def test_one_parse_level_for_every_layer(name: str, level: str | None) -> None:
    assert v.parse_level(name) == level


def test_other_modules_use_the_same_definitions() -> None:
    import spinetv.anatomy as anatomy
    import spinetv.anatomy.levels as levels
    import spinetv.guidelines as guidelines
    from spinetv.case import ORGAN_ALIASES
    from spinetv.guidelines.loader import SACRAL_SECTOR_NAMES, SECTOR_NAMES
    from spinetv.planning.protocols import KNOWN_STRUCTURES

    assert anatomy.parse_level is v.parse_level and levels.level_order is v.level_order
    assert not hasattr(guidelines, "parse_level")  # the second, disagreeing one is gone
    assert dict(SECTOR_NAMES) == dict(v.sector_names())
    assert dict(SACRAL_SECTOR_NAMES) == dict(v.sector_names(sacral=True))
    assert tuple(role.tg263 for role in v.OrganRole) == KNOWN_STRUCTURES
    assert ORGAN_ALIASES["cord"][0] == v.OrganRole.CORD.tg263 == "SpinalCord"


def test_order_and_regions() -> None:
    ordered = sorted(["S2", "Sacrum", "L5", "S1", "C1", "T12"], key=v.level_order)
    assert ordered == ["C1", "T12", "L5", "S1", "Sacrum", "S2"]
    assert [v.region_of(x) for x in ("C3", "T1", "L1", "S4", "Sacrum")] == [
        "cervical", "thoracic", "lumbar", "sacral", "sacral"
    ]
    assert v.adjacent_levels("L5", "S1") and not v.adjacent_levels("S1", "Sacrum")
    with pytest.raises(AnatomyError, match="'PTV_L2' is not a vertebral level"):
        v.require_level("PTV_L2")


def test_sectors_names_suffixes_and_sides() -> None:
    assert [s.roi_suffix() for s in v.Sector] == [f"Sector{k}" for k in range(1, 7)]
    assert [s.roi_suffix(sacral=True) for s in v.Sector] == [
        "Body", "Ala_L", "Lamina_L", "Crest", "Lamina_R", "Ala_R"
    ]
    assert v.Sector(2).title() == "left pedicle" and v.Sector(2).title(sacral=True) == "left ala"
    assert [s.side for s in v.Sector] == [None, "left", "left", None, "right", "right"]
    assert list(v.SIDE_LETTERS.values()) == ["L", "R", "A", "P", "S", "I"]
    with pytest.raises(TypeError):
        v.sector_names()[1] = "x"  # type: ignore[index]


def test_a_bare_word_is_a_shipped_name_and_a_path_is_a_file() -> None:
    assert not v.names_a_file("sib-sbrt-2025")
    assert v.names_a_file("mine.toml") and v.names_a_file("presets/x")
    assert v.names_a_file(Path("sib-sbrt-2025"))
    assert v.OrganRole.from_tg263("ThecalSac") is v.OrganRole.THECAL_SAC
    with pytest.raises(ValueError, match="known: SpinalCord"):
        v.OrganRole.from_tg263("Liver")


@pytest.mark.parametrize(
    ("text", "member"),
    [("CT", v.Modality.CT), ("mr", v.Modality.MR), (" MR ", v.Modality.MR),
     ("PT", v.Modality.OTHER), ("OT", v.Modality.OTHER), ("", v.Modality.UNKNOWN)],
)
def test_modality_parses_dicom_values(text: str, member: v.Modality) -> None:
    assert v.Modality.parse(text) is member


def test_images_and_series_references_hold_a_modality_and_read_only_identity() -> None:
    import numpy as np

    from spinetv.geometry import ImageGrid
    from spinetv.io.image import Image
    from spinetv.io.reference import SeriesReference

    grid = ImageGrid((2, 3, 4), (2.0, 1.0, 1.0), (0.0, 0.0, 0.0), frame_of_reference_uid="1.2.3")
    image = Image.from_array(np.zeros(grid.shape, dtype=np.int16), grid, modality="mr")
    assert image.modality is v.Modality.MR and f"{image.modality}" == "MR"
    assert Image.from_array(np.zeros(grid.shape), grid).modality is v.Modality.UNKNOWN

    patient = {"PatientID": "A"}
    reference = SeriesReference(grid, ("1", "2"), "1.2.840.10008.5.1.4.1.1.2", "9", "8",
                                modality="ct", patient=patient)
    patient["PatientID"] = "changed"
    assert reference.modality is v.Modality.CT
    assert reference.patient["PatientID"] == "A"
    with pytest.raises(TypeError):
        reference.patient["PatientID"] = "B"  # type: ignore[index]


def test_the_build_id_names_the_version_and_a_digest_of_the_code() -> None:
    import re

    from spinetv.version import __version__, build_id

    build = build_id()
    assert re.fullmatch(re.escape(__version__) + r"\+[0-9a-f]{12}", build)
    build_id.cache_clear()
    assert build_id() == build  # the same files, the same id


def test_a_changed_file_changes_the_build_id(tmp_path: Path) -> None:
    import shutil
    import subprocess
    import sys

    import spinetv

    copy = tmp_path / "spinetv"
    shutil.copytree(Path(spinetv.__file__).parent, copy)

    def build() -> str:
        code = "import spinetv.version as v; print(v.build_id())"
        return subprocess.run(
            [sys.executable, "-c", code], env={"PYTHONPATH": str(tmp_path)},
            capture_output=True, text=True, check=True,
        ).stdout.strip()

    before = build()
    data = copy / "guidelines" / "data"
    target = next(data.glob("*.toml"))
    target.write_text(target.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    after = build()
    assert before.split("+")[0] == after.split("+")[0]
    assert before != after
