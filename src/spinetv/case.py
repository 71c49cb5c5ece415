"""Reading one case from files: the image, the GTV, the vertebrae and the organs at risk.

The edge between files and the pure pipeline: everything here returns values on the image
grid, and every problem is a :class:`~spinetv.errors.SpinetvError` naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from spinetv.anatomy.levels import find_vertebrae, parse_level
from spinetv.anatomy.model import Anatomy
from spinetv.errors import AnatomyError, RtstructError, SpinetvError
from spinetv.frozen import FrozenMap
from spinetv.geometry.mask import Mask
from spinetv.io.dicom_read import read_dicom_series
from spinetv.io.image import Image
from spinetv.io.images import IMAGE_SUFFIXES, read_label_map
from spinetv.io.reference import SeriesReference
from spinetv.io.rtstruct import RtstructData, rasterize_roi_with_report, read_rtstruct
from spinetv.io.totalsegmentator import read_totalsegmentator
from spinetv.vocabulary import OrganRole

__all__ = ["Case", "load_case", "ORGAN_ALIASES", "is_image_file"]

#: ROI names recognised for each organ role (compared case-insensitively, first match wins).
ORGAN_ALIASES: dict[str, tuple[str, ...]] = {role.value: role.aliases for role in OrganRole}


@dataclass(frozen=True)
class Case:
    """One case read from files.

    Parameters
    ----------
    image : Image
        The planning image (voxels decoded only on request).
    reference : SeriesReference or None
        The DICOM series an output RTSTRUCT will reference (None for NIfTI images).
    rtstruct : RtstructData or None
        The input structure set, if any.
    gtv : Mask or None
        The GTV, when one was named.
    anatomy : Anatomy
        Vertebrae and organs on the image grid.
    sources : mapping
        Where each input came from (ROI name or file), for the report.
    read_warnings : tuple of str
        What was tolerated while reading contours.
    notes : tuple of str
        Choices made between sources (for example a contoured cord used instead of the label
        map's), for the report.
    image_source : str or None
        The image's folder or file as given (None when an :class:`Image` was passed).
    """

    image: Image
    reference: SeriesReference | None
    rtstruct: RtstructData | None
    gtv: Mask | None
    anatomy: Anatomy
    sources: Mapping[str, str] = field(default_factory=FrozenMap)
    read_warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    image_source: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", FrozenMap(self.sources))
        object.__setattr__(self, "read_warnings", tuple(self.read_warnings))
        object.__setattr__(self, "notes", tuple(self.notes))


def is_image_file(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` names a NIfTI, NRRD or MHA file.

    Only the name is looked at (its suffix, any case); the file need not exist.

    Parameters
    ----------
    path : path-like
        A file or folder name.

    Returns
    -------
    bool
        Whether the name ends with one of the image suffixes spinetv reads.
    """
    name = str(path).lower()
    return any(name.endswith(suffix) for suffix in IMAGE_SUFFIXES)


def _find_roi(data: RtstructData, aliases: Sequence[str]) -> str | None:
    lowered = {n.lower(): n for n in data.names}
    for alias in aliases:
        if alias.lower() in lowered:
            return lowered[alias.lower()]
    return None


def _vertebra_request(
    vertebrae: str | Sequence[str] | Mapping[str, str] | None,
) -> tuple[list[str] | None, dict[str, str] | None]:
    """(levels to keep or None for all, user mapping or None)."""
    if vertebrae is None or vertebrae == "auto":
        return None, None
    if isinstance(vertebrae, Mapping):
        return None, dict(vertebrae)
    items = [vertebrae] if isinstance(vertebrae, str) else list(vertebrae)
    levels = []
    for item in items:
        level = parse_level(item)
        if level is None:
            raise SpinetvError(f"--vertebrae: {item!r} is not a vertebral level (e.g. L2, T12, S1)")
        levels.append(level)
    return levels, None


def load_case(
    image: str | os.PathLike[str] | Image,
    rtstruct: str | os.PathLike[str] | None = None,
    *,
    gtv: str | os.PathLike[str] | None = None,
    vertebrae: str | Sequence[str] | Mapping[str, str] | None = "auto",
    labelmap: str | os.PathLike[str] | None = None,
    labelmap_task: str = "total",
    organ_names: Mapping[str, str] | None = None,
    series_uid: str | None = None,
) -> Case:
    """Read a case: image series, GTV, vertebrae (RTSTRUCT or label map) and organs.

    Parameters
    ----------
    image : path or Image
        DICOM series folder (or a NIfTI/NRRD/MHA file), or an already read image.
    rtstruct : path, optional
        RTSTRUCT with the GTV, vertebrae and organs.
    gtv : str or path, optional
        ROI name of the GTV in ``rtstruct``, or a mask image file on the image grid.
    vertebrae : "auto", list of levels, or mapping, default "auto"
        Which vertebrae to use: all recognised by name ("auto"), only the given levels, or an
        explicit mapping (level -> ROI name, or ROI name -> level) overriding the names. A
        mapping applies to the label map's structures ("L2") as well as to the RTSTRUCT's
        ROIs (an entry naming a label-map structure goes to the label map); a mapped level
        wins over the label map's own.
    labelmap : path, optional
        A TotalSegmentator label map on the image grid, used for the vertebrae (before the
        RTSTRUCT's ROIs of the same level) and for the cord when no cord is contoured.
    labelmap_task : str, default "total"
        Label table of ``labelmap``: TotalSegmentator's "total" or "vertebrae_pp", or "verse"
        (VerSe benchmark masks).
    organ_names : mapping, optional
        ROI names per role ("cord", "canal", "thecal_sac", "sacral_canal",
        "sacral_foramina") overriding :data:`ORGAN_ALIASES`.
        Precedence per organ: this name, then a contoured ROI found by alias, then the
        label map (the choice is recorded in :attr:`Case.notes`).
    series_uid : str, optional
        Which series to read when the folder holds several.

    Returns
    -------
    Case
        The image, its series reference, the structure set, the GTV mask, the anatomy
        (vertebrae and organs on the image grid, empty ones dropped), the sources, the
        warnings tolerated while rasterising and the notes.

    Raises
    ------
    AnatomyError
        A --vertebrae mapping entry names neither an RTSTRUCT ROI nor a label-map structure,
        or two sources claim one level.
    RtstructError
        The RTSTRUCT cannot be read, a named ROI (GTV or organ) is not in it, or the GTV is
        empty on the image grid.
    DicomInputError, ImageInputError
        The image (or a mask or label map file) cannot be read.
    GeometryMismatchError
        A mask or label map file is not on the image grid.
    SpinetvError
        A ``vertebrae`` item is not a level, the GTV is neither a mask file nor (without an
        RTSTRUCT) an ROI, or organ names are given without an RTSTRUCT.
    """
    if isinstance(image, Image):
        img = image
    elif is_image_file(image):
        from spinetv.io.images import read_image

        img = read_image(image)
    else:
        img = read_dicom_series(image, series_uid=series_uid)
    grid = img.grid
    data = read_rtstruct(rtstruct) if rtstruct is not None else None
    sources: dict[str, str] = {}
    warnings_seen: list[str] = []

    def roi_mask(name: str) -> Mask:
        assert data is not None
        mask, report = rasterize_roi_with_report(data, name, grid)
        warnings_seen.extend(f"{name}: {w}" for w in report.warnings)
        return mask

    gtv_mask = None
    if gtv is not None:
        if is_image_file(gtv) and Path(gtv).exists():
            labels = read_label_map(gtv, grid=grid)
            gtv_mask = Mask.from_box(grid, labels.box, labels.box_array != 0)
            sources["GTV"] = str(gtv)
        else:
            if data is None:
                raise SpinetvError(f"GTV {str(gtv)!r}: no RTSTRUCT given and no such mask file")
            name = data.roi(str(gtv)).name
            gtv_mask = roi_mask(name)
            sources["GTV"] = f"{Path(data.path).name}:{name}"
        if gtv_mask.is_empty:
            raise RtstructError(f"GTV {str(gtv)!r} is empty on the image grid")

    levels_wanted, mapping = _vertebra_request(vertebrae)
    from_map = (
        read_totalsegmentator(labelmap, task=labelmap_task, grid=grid)
        if labelmap is not None
        else {}
    )
    map_label = Path(labelmap).name if labelmap is not None else ""
    map_names = [n for n in from_map if parse_level(n) is not None]
    rt_names = (
        [n for n in data.names if str(gtv or "").lower() != n.lower()] if data is not None else []
    )
    rt_mapping, map_mapping = _split_mapping(mapping, rt_names, map_names, map_label)
    map_levels = find_vertebrae(map_names, mapping=map_mapping) if map_names else {}
    rt_levels = find_vertebrae(rt_names, mapping=rt_mapping) if rt_names else {}
    # An explicit mapping wins; otherwise the label map first, then the RTSTRUCT's ROIs.
    explicit_rt = {lv for lv, roi in rt_levels.items() if roi in _mapped_names(rt_mapping)}
    explicit_map = {lv for lv, n in map_levels.items() if n in _mapped_names(map_mapping)}
    both = sorted(explicit_rt & explicit_map)
    if both:
        raise AnatomyError(
            f"--vertebrae: level(s) {', '.join(both)} mapped both to an RTSTRUCT ROI and to a "
            "label-map structure; map each level once"
        )
    vertebra_masks: dict[str, Mask] = {}
    for level in list(dict.fromkeys([*map_levels, *rt_levels])):
        if levels_wanted and not _keep(level, levels_wanted):
            continue
        if level in rt_levels and (level in explicit_rt or level not in map_levels):
            roi = rt_levels[level]
            vertebra_masks[level] = roi_mask(roi)
            sources[level] = f"{Path(data.path).name}:{roi}" if data is not None else roi
        else:
            vertebra_masks[level] = from_map[map_levels[level]]
            sources[level] = f"{map_label}:{map_levels[level]}"

    organs: dict[str, Mask] = {}
    notes: list[str] = []
    chosen = dict(organ_names or {})
    if chosen and data is None:
        raise SpinetvError(
            f"organ ROI name(s) {sorted(chosen.values())} given but no RTSTRUCT to find them in"
        )
    for role, aliases in ORGAN_ALIASES.items():
        # Precedence: an explicitly named ROI, then a contoured ROI, then the label map.
        found = None
        if data is not None:
            found = chosen.get(role) or _find_roi(data, aliases)
        if found is not None:
            assert data is not None
            roi_name = data.roi(found).name
            mask = roi_mask(roi_name)
            if not mask.is_empty:
                organs[role] = mask
                sources[role] = f"{Path(data.path).name}:{roi_name}"
                if role == "cord" and "SpinalCord" in from_map:
                    how = "named by --cord" if role in chosen else "contoured"
                    notes.append(
                        f"cord: the {how} ROI {roi_name!r} was used; the label map's "
                        "spinal cord was ignored"
                    )
                continue
        if role == "cord" and "SpinalCord" in from_map:
            organs["cord"] = from_map["SpinalCord"]
            sources["cord"] = f"{map_label}:SpinalCord"
    vertebra_masks = {lv: m for lv, m in vertebra_masks.items() if not m.is_empty}
    anatomy = Anatomy(grid, vertebra_masks, **organs)
    return Case(
        img,
        img.reference,
        data,
        gtv_mask,
        anatomy,
        sources,
        tuple(warnings_seen),
        tuple(notes),
        image_source=None if isinstance(image, Image) else os.fspath(image),
    )


def _mapped_names(mapping: Mapping[str, str]) -> set[str]:
    return set(mapping) | set(mapping.values())


def _split_mapping(
    mapping: Mapping[str, str] | None,
    rt_names: Sequence[str],
    map_names: Sequence[str],
    map_label: str,
) -> tuple[dict[str, str], dict[str, str]]:
    """The --vertebrae entries for the RTSTRUCT's ROIs and for the label map's structures.

    An entry naming a label-map structure applies to the label map (its levels are the ones
    used first); otherwise it must name an RTSTRUCT ROI.
    """
    rt: dict[str, str] = {}
    from_map: dict[str, str] = {}
    rt_set, map_set = set(rt_names), set(map_names)
    for key, value in (mapping or {}).items():
        if key in map_set or (value in map_set and key not in rt_set):
            from_map[key] = value
        elif key in rt_set or value in rt_set:
            rt[key] = value
        else:
            available = [f"RTSTRUCT ROIs {sorted(rt_set)}"] if rt_set else []
            if map_set:
                available.append(f"label map {map_label} structures {list(map_names)}")
            raise AnatomyError(
                f"--vertebrae entry {key}={value}: names neither an RTSTRUCT ROI nor a "
                f"label-map structure; available: {'; '.join(available) or 'none'}"
            )
    return rt, from_map


def _keep(level: str, wanted: Sequence[str]) -> bool:
    # The sacrum below S1 comes as one ROI: asking for any of S2..S5 keeps it.
    if level == "Sacrum":
        return any(w in ("Sacrum", "S2", "S3", "S4", "S5") for w in wanted)
    return level in wanted
