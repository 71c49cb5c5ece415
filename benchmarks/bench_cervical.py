"""Sectors of the independent cervical model (``tests/anatomy/_cervical_model.py``) over poses.

Run: ``python benchmarks/bench_cervical.py [N] [SEED]``. The first four poses are those of
``tests/anatomy/test_cervical_model.py``; each further pose draws a sagittal tilt (-45..45
deg), an axial rotation (-20..20 deg), a patient orientation (HFS, FFS, HFP, FFP), a pixel
size (0.6-1.5 mm) and a slice thickness (1-3 mm). The columns C4-C6 and C1-C3 (atlas, axis with its
dens, C3) are labelled with the canal derived with the cord and with the model's canal as a
contour; the Dice of each sector of each level with the model's truth is recorded, and for
C4-C6 the error of the foramina's medial edges (mm, in the vertebra's frame).

Writes ``benchmarks/results/cervical.json`` and prints the minimum per sector, per column and
per level (C1, C2, C3-C6).
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "anatomy"))

from _cervical_model import (  # noqa: E402
    FORAMEN_RADIUS_MM,
    FORAMEN_U_MM,
    FORAMEN_V_MM,
    ORIENTATIONS,
    PITCH_MM,
    _rotation,
    make_cervical_column,
)

from spinetv.anatomy.sectors import label_spine  # noqa: E402

COLUMNS = {"C4-C6": ("C4", "C5", "C6"), "C1-C3": ("C1", "C2", "C3")}
FIXED = [
    dict(spacing_mm=(1.0, 0.6, 0.6), orientation="HFS", tilt_deg=0.0, rotation_deg=0.0),
    dict(spacing_mm=(1.0, 1.0, 1.0), orientation="HFS", tilt_deg=0.0, rotation_deg=0.0),
    dict(spacing_mm=(1.0, 0.6, 0.6), orientation="FFS", tilt_deg=25.0, rotation_deg=10.0),
    dict(spacing_mm=(1.0, 1.0, 1.0), orientation="HFP", tilt_deg=25.0, rotation_deg=10.0),
]


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * float((a & b).sum()) / total


def draw(rng: np.random.Generator) -> dict[str, object]:
    pixel = float(np.round(rng.uniform(0.6, 1.5), 2))
    return dict(
        spacing_mm=(float(np.round(rng.uniform(1.0, 3.0), 2)), pixel, pixel),
        orientation=str(rng.choice(sorted(ORIENTATIONS))),
        tilt_deg=float(np.round(rng.uniform(-45.0, 45.0), 1)),
        rotation_deg=float(np.round(rng.uniform(-20.0, 20.0), 1)),
    )


def measure(pose: dict[str, object], levels: tuple[str, ...]) -> dict[str, object]:
    column = make_cervical_column(levels=levels, **pose)  # type: ignore[arg-type]
    rot = _rotation(float(pose["tilt_deg"]), float(pose["rotation_deg"]))  # type: ignore[arg-type]
    edge = FORAMEN_U_MM - FORAMEN_RADIUS_MM
    out: dict[str, object] = {"pose": pose, "levels": list(levels)}
    for canal in ("derived", "contoured"):
        start = time.perf_counter()
        if canal == "derived":
            result = label_spine(column.vertebrae, cord=column.cord)
        else:
            result = label_spine(column.vertebrae, canal=column.canal)
        seconds = time.perf_counter() - start
        dices, foramen_errors = {}, []
        for index, level in enumerate(levels):
            sectors = result[level]
            dices[level] = [
                dice(sectors.sector(k).to_array(), column.truth[level][k].to_array())
                for k in range(1, 7)
            ]
            if level in ("C1", "C2"):
                continue
            centre = (len(levels) - 1) / 2.0 - index
            points = np.array(
                [
                    [edge, FORAMEN_V_MM, centre * PITCH_MM],
                    [-edge, FORAMEN_V_MM, centre * PITCH_MM],
                ]
            )
            truth = sectors.frame.to_local(points @ rot)[:, 0]
            for found, expected in zip(sectors.foramina_mm, truth):
                foramen_errors.append(None if found is None else float(found - expected))
        out[canal] = {"dice": dices, "foramen_error_mm": foramen_errors, "seconds": seconds}
    return out


def summarise(records: list[dict[str, object]], levels: list[str]) -> dict[str, object]:
    """Minimum and median per sector over the poses (each pose's worst level), poses with a
    sector below 0.95, and the foramen edge error, per canal."""
    summary: dict[str, object] = {}
    for canal in ("derived", "contoured"):
        table = np.array(
            [[r[canal]["dice"][lv] for lv in levels] for r in records]  # type: ignore[index]
        )
        per_pose = table.min(axis=1)
        errors = np.array(
            [e for r in records for e in r[canal]["foramen_error_mm"] if e is not None]  # type: ignore[index]
        )
        missing = sum(e is None for r in records for e in r[canal]["foramen_error_mm"])  # type: ignore[index]
        summary[canal] = {
            "min_dice_per_sector": [round(float(x), 4) for x in per_pose.min(axis=0)],
            "median_dice_per_sector": [round(float(x), 4) for x in np.median(per_pose, axis=0)],
            "poses_with_a_sector_below_0.95": int((per_pose.min(axis=1) < 0.95).sum()),
            "foramen_edge_error_mm": {
                "rms": round(float(np.sqrt(np.mean(errors**2))), 3) if errors.size else None,
                "max_abs": round(float(np.abs(errors).max()), 3) if errors.size else None,
                "missing": int(missing),
            },
        }
    return summary


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    rng = np.random.default_rng(seed)
    poses = FIXED + [draw(rng) for _ in range(max(0, n - len(FIXED)))]
    records: dict[str, list[dict[str, object]]] = {name: [] for name in COLUMNS}
    for number, pose in enumerate(poses):
        worst = {}
        for name, levels in COLUMNS.items():
            record = measure(pose, levels)
            records[name].append(record)
            for canal in ("derived", "contoured"):
                dices = record[canal]["dice"].values()  # type: ignore[index]
                worst[f"{name} {canal}"] = round(min(min(v) for v in dices), 3)
        print(number, pose, worst, flush=True)
    summary: dict[str, object] = {}
    for name, levels in COLUMNS.items():
        summary[name] = summarise(records[name], list(levels))
        for level in levels:
            summary[f"{name} {level}"] = summarise(records[name], [level])
        print(name, json.dumps(summary[name]))
    path = Path(__file__).parent / "results" / "cervical.json"
    path.write_text(
        json.dumps(
            {
                "poses": len(poses),
                "seed": seed,
                "python": platform.python_version(),
                "summary": summary,
                "records": records,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
