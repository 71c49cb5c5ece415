"""``spinetv convert``: RTSTRUCT -> one NIfTI mask per ROI, or NIfTI masks -> RTSTRUCT."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from typing import Any

from spinetv.commands._common import add_common_options
from spinetv.errors import ImageInputError, RtstructError, SpinetvError, SpinetvWarning
from spinetv.geometry.mask import Mask
from spinetv.io.atomic import check_writable
from spinetv.io.dicom_read import read_dicom_series
from spinetv.io.image import Image
from spinetv.io.images import IMAGE_SUFFIXES, read_label_map
from spinetv.io.mask_folder import write_mask_folder
from spinetv.io.rtstruct import read_structures, write_rtstruct
from spinetv.io.sidecar import (
    SIDECAR_NAME,
    SidecarEntry,
    read_sidecar,
)
from spinetv.structure import Provenance, RoiType, Structure

__all__ = ["register", "run"]

EPILOG = """examples:
  spinetv convert RS.dcm --image CT_DIR --out masks/
      one <ROIName>.nii.gz per ROI, on the CT grid, and spinetv_structures.json keeping each
      ROI's exact name, type and colour (read back when converting the folder)
  spinetv convert masks/GTV.nii.gz masks/Cord.nii.gz --image CT_DIR --out RS_new.dcm \
      --types GTV,ORGAN
  spinetv convert masks/ --image CT_DIR --out RS_new.dcm --types GTV=GTV,Cord=AVOIDANCE
      an RTSTRUCT with one ROI per mask file (ROI name, type and colour from
      spinetv_structures.json when the folder has one, else the file name and ORGAN)
"""


def register(subparsers: Any) -> None:
    """Add the ``convert`` sub-command."""
    parser = subparsers.add_parser(
        "convert",
        help="RTSTRUCT <-> NIfTI masks on a DICOM image's grid",
        description=(
            "Convert an RTSTRUCT into one binary NIfTI mask per ROI (--out is a folder), or "
            "NIfTI/NRRD/MHA masks into an RTSTRUCT referencing the image (--out is a file)."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="an RTSTRUCT file, or mask files / folders of mask files",
    )
    parser.add_argument(
        "--image",
        required=True,
        metavar="CT_DIR",
        help="the DICOM image series (folder or file) the contours belong to",
    )
    parser.add_argument(
        "--out",
        required=True,
        metavar="OUT",
        help="output folder (RTSTRUCT input) or RTSTRUCT file (mask input)",
    )
    parser.add_argument(
        "--types",
        default="",
        metavar="TYPES",
        help="RTROIInterpretedType per mask file: in order (CTV,PTV) or NAME=TYPE pairs; "
        "default ORGAN",
    )
    parser.add_argument(
        "--roi",
        action="append",
        default=None,
        metavar="NAME",
        help="with an RTSTRUCT input: convert only this ROI (repeatable)",
    )
    add_common_options(parser)
    parser.set_defaults(func=run)


def _is_mask_input(path: Path) -> bool:
    return path.is_dir() or path.name.lower().endswith(IMAGE_SUFFIXES)


def _stem(path: Path) -> str:
    name = path.name
    for suffix in IMAGE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _mask_files(inputs: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in inputs:
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir() if p.is_file() and p.name.lower().endswith(IMAGE_SUFFIXES)
            )
            if not found:
                raise ImageInputError(f"{path}: no mask files ({', '.join(IMAGE_SUFFIXES)}) in it")
            files.extend(found)
        elif not path.is_file():
            raise ImageInputError(f"{path}: no such mask file")
        else:
            files.append(path)
    return files


def _parse_types(
    text: str, names: list[str], *, defaults: dict[str, RoiType] | None = None
) -> dict[str, RoiType]:
    types = dict(defaults) if defaults else {name: RoiType.ORGAN for name in names}
    entries = [entry.strip() for entry in text.split(",") if entry.strip()]
    if not entries:
        return types
    if all("=" in entry for entry in entries):
        for entry in entries:
            name, value = (part.strip() for part in entry.split("=", 1))
            if name not in types:
                raise SpinetvError(
                    f"--types names {name!r}, which is not a mask; masks: {', '.join(names)}"
                )
            types[name] = RoiType.parse(value)
        return types
    if any("=" in entry for entry in entries):
        raise SpinetvError("--types: give either one type per mask in order, or NAME=TYPE pairs")
    if len(entries) != len(names):
        raise SpinetvError(
            f"--types gives {len(entries)} types for {len(names)} masks ({', '.join(names)})"
        )
    return {name: RoiType.parse(value) for name, value in zip(names, entries)}


def _sidecar_entries(files: list[Path]) -> dict[Path, SidecarEntry]:
    """The sidecar entry of each mask file whose folder holds a spinetv_structures.json."""
    found: dict[Path, SidecarEntry] = {}
    sidecars: dict[Path, dict[str, SidecarEntry]] = {}
    for path in files:
        sidecar = path.parent / SIDECAR_NAME
        if not sidecar.is_file():
            continue
        if sidecar not in sidecars:
            sidecars[sidecar] = read_sidecar(sidecar)
        entry = sidecars[sidecar].get(path.name)
        if entry is not None:
            found[path] = entry
    return found


def _masks_to_rtstruct(args: argparse.Namespace, image: Image, inputs: list[Path]) -> int:
    if image.reference is None:
        raise RtstructError(
            f"{args.image}: the image series has no FrameOfReferenceUID; an RTSTRUCT cannot "
            "reference it"
        )
    out = Path(args.out)
    check_writable(out, overwrite=args.force)
    files = _mask_files(inputs)
    entries = _sidecar_entries(files)
    names = [entries[path].name if path in entries else _stem(path) for path in files]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise SpinetvError(f"several mask files give the ROI name(s) {', '.join(repeated)}")
    types = {
        name: entries[path].roi_type if path in entries else RoiType.ORGAN
        for path, name in zip(files, names)
    }
    types.update(_parse_types(args.types, names, defaults=types) if args.types else {})
    structures = []
    for path, name in zip(files, names):
        labels = read_label_map(path, grid=image.grid)
        if len(labels.labels) > 1:
            warnings.warn(
                f"{path}: holds labels {', '.join(str(v) for v in labels.labels)}; every "
                "non-zero voxel is taken as inside",
                SpinetvWarning,
                stacklevel=2,
            )
        mask = Mask.from_box(image.grid, labels.box, labels.box_array != 0)
        entry = entries.get(path)
        structures.append(
            Structure(
                name=name,
                mask=mask,
                roi_type=types[name],
                color_rgb=entry.color_rgb if entry else (255, 255, 0),
                provenance=Provenance(
                    algorithm="MANUAL",
                    description=(entry.description if entry else "") or f"from {path.name}",
                ),
            )
        )
    write_rtstruct(structures, image.reference, out, overwrite=args.force)
    volumes = ", ".join(f"{s.name} {s.volume_cc:.2f} cc" for s in structures)
    print(f"wrote {out}: {len(structures)} ROIs ({volumes})")
    return 0


def _rtstruct_to_masks(args: argparse.Namespace, image: Image, source: Path) -> int:
    structures = read_structures(source, image.reference or image.grid, names=args.roi)
    written = write_mask_folder(
        list(structures.values()), args.out, overwrite=args.force, source=source.name
    )
    for path, structure in zip(written, structures.values()):
        print(f"wrote {path} ({structure.volume_cc:.2f} cc)")
    print(f"wrote {written[-1]} (ROI names, types and colours)")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``spinetv convert``; returns the exit code."""
    inputs = [Path(p) for p in args.inputs]
    mask_inputs = [_is_mask_input(p) for p in inputs]
    if any(mask_inputs) and not all(mask_inputs):
        raise SpinetvError("give either one RTSTRUCT file or mask files/folders, not both")
    image = read_dicom_series(args.image)
    if all(mask_inputs):
        return _masks_to_rtstruct(args, image, inputs)
    if len(inputs) != 1:
        raise SpinetvError(f"expected one RTSTRUCT file, got {len(inputs)} inputs")
    if args.types:
        raise SpinetvError("--types applies to mask inputs only")
    if not inputs[0].is_file():
        raise RtstructError(f"{inputs[0]}: no such RTSTRUCT file")
    return _rtstruct_to_masks(args, image, inputs[0])
