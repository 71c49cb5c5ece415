"""Every transfer syntax a planning CT or MR arrives in: read headers only, then decode.

The real MR series of ``real_exports/dicom2nifti_codecs`` holds the same four 256x256 slices as
JPEG 2000, JPEG Lossless (process 14), JPEG-LS and RLE; JPEG Baseline (8 bit, lossy) and Deflated
Explicit VR are transcoded here from the RLE copy. Decoding needs the ``codecs`` extra
(python-gdcm, pylibjpeg, pylibjpeg-openjpeg, pylibjpeg-rle), which the ``test`` extra installs.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image as PILImage
from pydicom.encaps import encapsulate
from pydicom.uid import DeflatedExplicitVRLittleEndian, JPEGBaseline8Bit

import spinetv.io.dicom_read as dicom_read
import spinetv.io.dicom_series as dicom_series
from spinetv.errors import DicomInputError
from spinetv.io.dicom_series import read_dicom_series

CODEC_SERIES = {
    "1.2.840.10008.1.2.4.90": "compressed_j2k",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.70": "compressed_jpeg",  # JPEG Lossless, process 14 SV1
    "1.2.840.10008.1.2.4.80": "compressed_jpegls",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.5": "compressed_rle",  # RLE Lossless
}


@pytest.fixture(scope="module")
def codecs_root(shared_data: Path) -> Path:
    return shared_data / "real_exports" / "dicom2nifti_codecs"


@pytest.fixture(scope="module")
def reference_voxels(codecs_root: Path) -> np.ndarray:
    """The RLE copy decoded by pydicom's own RLE decoder (no plugin involved)."""
    paths = sorted((codecs_root / "compressed_rle" / "001").iterdir())
    slices = []
    for path in paths:
        ds = pydicom.dcmread(path)
        orientation = np.array(ds.ImageOrientationPatient, dtype=float)
        normal = np.cross(orientation[:3], orientation[3:])
        along_mm = float(np.array(ds.ImagePositionPatient, dtype=float) @ normal)
        slices.append((along_mm, ds.pixel_array))
    return np.stack([pixels for _, pixels in sorted(slices, key=lambda item: item[0])])


@pytest.mark.parametrize("syntax", sorted(CODEC_SERIES))
def test_real_compressed_mr_series(
    syntax: str, codecs_root: Path, reference_voxels: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = codecs_root / CODEC_SERIES[syntax] / "001"
    assert pydicom.dcmread(next(folder.iterdir())).file_meta.TransferSyntaxUID == syntax
    # Headers only: the grid comes without any decoder.
    monkeypatch.setattr(dicom_read, "_decoder_available", lambda syntax: False)
    with pytest.warns(dicom_series.DicomInputWarning, match="no FrameOfReferenceUID"):
        image = read_dicom_series(folder)
    assert image.grid.shape == (4, 256, 256)
    with pytest.raises(DicomInputError, match=r'pip install "spinetv\[codecs\]"'):
        _ = image.voxels
    monkeypatch.undo()
    # With the codec extra: the voxels, identical to the RLE reference.
    with pytest.warns(dicom_series.DicomInputWarning):
        decoded = read_dicom_series(folder).voxels
    assert decoded.shape == (4, 256, 256)
    assert np.array_equal(np.asarray(decoded, dtype=np.int64), reference_voxels.astype(np.int64))


def _transcode(source: Path, target: Path, change: object) -> Path:
    target.mkdir()
    for path in sorted(source.iterdir()):
        ds = pydicom.dcmread(path)
        change(ds)  # type: ignore[operator]
        ds.save_as(target / path.name, enforce_file_format=True)
    return target


def test_deflated_series(codecs_root: Path, reference_voxels: np.ndarray, tmp_path: Path) -> None:
    def deflate(ds: pydicom.Dataset) -> None:
        ds.PixelData = ds.pixel_array.tobytes()
        ds["PixelData"].VR = "OW"
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian

    folder = _transcode(codecs_root / "compressed_rle" / "001", tmp_path / "deflated", deflate)
    with pytest.warns(dicom_series.DicomInputWarning):
        image = read_dicom_series(folder)
    assert image.grid.shape == (4, 256, 256)
    assert np.array_equal(np.asarray(image.voxels, dtype=np.int64), reference_voxels)


def test_jpeg_baseline_series(
    codecs_root: Path, reference_voxels: np.ndarray, tmp_path: Path
) -> None:
    scale = float(reference_voxels.max()) / 255.0

    def to_jpeg(ds: pydicom.Dataset) -> None:
        eight_bit = np.round(ds.pixel_array / scale).astype(np.uint8)
        buffer = io.BytesIO()
        PILImage.fromarray(eight_bit).save(buffer, format="JPEG", quality=95)
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit = 7
        ds.PixelRepresentation = 0
        ds.PixelData = encapsulate([buffer.getvalue()])
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit

    folder = _transcode(codecs_root / "compressed_rle" / "001", tmp_path / "jpeg", to_jpeg)
    with pytest.warns(dicom_series.DicomInputWarning):
        voxels = np.asarray(read_dicom_series(folder).voxels, dtype=np.float64)
    expected = np.round(reference_voxels / scale)
    assert voxels.shape == expected.shape
    assert float(np.abs(voxels - expected).mean()) < 2.0  # lossy, 8 bit


def test_unsupported_syntax_says_so_without_the_extra(codecs_root: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mpeg"
    shutil.copytree(codecs_root / "compressed_rle" / "001", folder)
    for path in folder.iterdir():
        ds = pydicom.dcmread(path)
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2 Main Profile
        ds.save_as(path, enforce_file_format=True)
    with pytest.warns(dicom_series.DicomInputWarning):
        image = read_dicom_series(folder)
    with pytest.raises(DicomInputError, match="MPEG2.*neither pydicom nor spinetv's codec extra"):
        _ = image.voxels
