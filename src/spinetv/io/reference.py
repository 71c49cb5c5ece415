"""What an image series contributes to an RTSTRUCT made for it: geometry, UIDs and identity."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from spinetv.errors import DicomInputError
from spinetv.frozen import FrozenMap
from spinetv.geometry.grid import ImageGrid
from spinetv.vocabulary import Modality

__all__ = ["SeriesReference", "PATIENT_KEYWORDS", "STUDY_KEYWORDS"]

PATIENT_KEYWORDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
)
STUDY_KEYWORDS = (
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyDescription",
)


@dataclass(frozen=True)
class SeriesReference:
    """The identity of an image series, as an RTSTRUCT must reference and copy it.

    Parameters
    ----------
    grid : ImageGrid
        The series geometry; ``grid.frame_of_reference_uid`` is the series' own UID.
    sop_instance_uids : tuple of str
        SOPInstanceUID of each slice, in slice-index order (index 0 first).
    sop_class_uid : str
        SOPClassUID of the slices (CT Image Storage, MR Image Storage...).
    study_instance_uid, series_instance_uid : str
        The study and series the slices belong to.
    modality : Modality
        CT, MR, or OTHER (another image modality); a string is parsed
        (:meth:`Modality.parse`).
    patient : mapping of str to str
        PatientName, PatientID, PatientBirthDate, PatientSex as strings (copied into outputs);
        kept as a read-only copy.
    study : mapping of str to str
        StudyDate, StudyTime, StudyID, AccessionNumber, ReferringPhysicianName, StudyDescription.
    paths : tuple of Path
        The file of each slice, in slice-index order (empty when the series was not read
        from files).
    """

    grid: ImageGrid
    sop_instance_uids: tuple[str, ...]
    sop_class_uid: str
    study_instance_uid: str
    series_instance_uid: str
    modality: Modality = Modality.CT
    patient: Mapping[str, str] = field(default_factory=FrozenMap)
    study: Mapping[str, str] = field(default_factory=FrozenMap)
    paths: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        if len(self.sop_instance_uids) != self.grid.shape[0]:
            raise DicomInputError(
                f"series has {len(self.sop_instance_uids)} SOPInstanceUIDs for "
                f"{self.grid.shape[0]} slices"
            )
        if not self.grid.frame_of_reference_uid:
            raise DicomInputError(
                "an image series referenced by an RTSTRUCT needs a FrameOfReferenceUID"
            )
        object.__setattr__(self, "sop_instance_uids", tuple(str(u) for u in self.sop_instance_uids))
        object.__setattr__(self, "paths", tuple(Path(p) for p in self.paths))
        object.__setattr__(self, "modality", Modality.parse(self.modality))
        object.__setattr__(self, "patient", FrozenMap(self.patient))
        object.__setattr__(self, "study", FrozenMap(self.study))
