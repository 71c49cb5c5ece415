"""A folder of NIfTI masks, one per structure, with the sidecar that keeps their names.

Used by ``spinetv convert`` (RTSTRUCT -> masks) and by the plan outputs of a case whose image is
NIfTI (research datasets): the same files, the same sidecar, written all or nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

from spinetv.errors import SpinetvError
from spinetv.geometry.labels import LabelMap
from spinetv.io.atomic import check_writable, record_created
from spinetv.io.images import write_label_image, write_mask_image
from spinetv.io.sidecar import SIDECAR_NAME, SidecarEntry, mask_file_names, sidecar_text
from spinetv.structure import Structure

__all__ = ["mask_folder_files", "write_mask_folder"]


def mask_folder_files(structures: Sequence[Structure], label_maps: Sequence[str] = ()) -> list[str]:
    """The file names :func:`write_mask_folder` writes for these structures, in order.

    Parameters
    ----------
    structures : sequence of Structure
        The structures, one mask file each.
    label_maps : sequence of str
        File names of the label maps written beside them.

    Returns
    -------
    list of str
        Mask files, then the label maps, then the sidecar.
    """
    return [*mask_file_names([s.name for s in structures]), *label_maps, SIDECAR_NAME]


def write_mask_folder(
    structures: Sequence[Structure],
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    source: str = "",
    label_maps: dict[str, LabelMap] | None = None,
) -> list[Path]:
    """Write one NIfTI mask per structure, label maps and the sidecar into ``out``.

    Everything is written into a hidden folder beside ``out`` first and moved in at the end, so
    an error or Ctrl-C leaves no partial set of masks.

    Parameters
    ----------
    structures : sequence of Structure
        The structures; names, types and colours go to the sidecar.
    out : path-like
        The output folder (made when absent).
    overwrite : bool
        Replace files of the same names; otherwise :class:`~spinetv.errors.OutputExistsError`.
    source : str
        What the structures came from, recorded in the sidecar.
    label_maps : dict of str to LabelMap, optional
        File name (``.nii.gz``, relative to ``out``; it may name a sub-folder) -> label map,
        written with the masks (e.g. sector labels). Put them in a sub-folder to keep ``out`` a
        folder of masks that ``spinetv convert`` turns back into an RTSTRUCT.

    Returns
    -------
    list of Path
        The written files, in the order of :func:`mask_folder_files`.

    Raises
    ------
    SpinetvError
        ``out`` is a file.
    OutputExistsError
        A file exists and ``overwrite`` is False.
    """
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise SpinetvError(f"{folder}: is a file; expected an output folder for the masks")
    maps = dict(label_maps or {})
    names = mask_folder_files(structures, list(maps))
    for name in names:
        check_writable(folder / name, overwrite=overwrite)
    entries = [
        SidecarEntry(
            file=file_name,
            name=structure.name,
            roi_type=structure.roi_type,
            color_rgb=structure.color_rgb,
            description=structure.provenance.description,
        )
        for file_name, structure in zip(names, structures)
    ]
    folder.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".part", dir=folder.parent))
    try:
        for file_name, structure in zip(names, structures):
            write_mask_image(structure.mask, temp / file_name, overwrite=True)
        for file_name, labels in maps.items():
            (temp / file_name).parent.mkdir(parents=True, exist_ok=True)
            write_label_image(labels, temp / file_name, overwrite=True)
        (temp / SIDECAR_NAME).write_text(sidecar_text(entries, source=source), encoding="utf-8")
        _move_files_into(temp, folder, names)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return [folder / name for name in names]


def _move_files_into(temp: Path, out: Path, names: list[str]) -> None:
    """Move finished files from ``temp`` into ``out`` (the folder itself when ``out`` is new)."""
    if not out.exists():
        os.replace(temp, out)
        record_created(out)
        for name in names:
            record_created(out / name)
        temp.mkdir()  # for the caller's clean-up
        return
    staged = [(temp / name, out / name) for name in names]
    backups: list[tuple[Path, Path]] = []
    try:
        for _, target in staged:
            if target.exists():
                backup = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
                os.replace(target, backup)
                backups.append((backup, target))
        for made, target in staged:
            existed = any(t == target for _, t in backups)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(made, target)
            if not existed:
                record_created(target)
    except BaseException:
        for _, target in staged:
            if not (temp / target.name).exists() and target.exists():
                target.unlink()
        for backup, target in backups:
            os.replace(backup, target)
        raise
    for backup, _ in backups:
        backup.unlink()
