"""How far sector Dice falls when the canal's walls or the frame are off by a fraction.

Run: ``python benchmarks/bench_sector_sensitivity.py [N] [SEED] [--pixel-max MM] [--out NAME]``.

The issue-10 pose benchmark (:mod:`bench_anatomy_poses`) asks for sector Dice >= 0.95 at every
pose with pixels of 0.6-3 mm. This benchmark measures what that asks of any labeller, not of
spinetv's: over the same random poses (same draw, same seed) it takes the phantom's own ground
truth, makes one error in the sector rule itself, relabels the true bone by the moved rule and
scores each sector against the unmoved truth. Nothing of spinetv's labeller runs: the figures
are the sector rule's sensitivity to an error on each voxel grid. The errors, per pose:

* one wall (the canal's anterior wall ``a``, its centre ``c`` or its posterior wall ``p``)
  moved by ``f`` times the pixel size, either way: the lowest Dice over these six moves;
* all three walls moved by ``f`` at once, every combination of ways: the lowest over eight;
* the rule's frame turned by a fraction of a degree, sagittally or axially, either way;
* the true canal (an ellipse there, checked) grown outward by up to ``f`` of a pixel (both
  semi-axes by ``f``: the border moves by ``f`` at the axes' ends, less between), the error
  of a derived canal that must never leave canal out.

These are levels a labeller falls to from that one kind of error, not floors: a labeller with
every wall within ``f`` can score below the single-wall figure (two walls off at once score
lower), and a frame error adds to a wall error.

Writes ``benchmarks/results/sector_sensitivity.json`` (or ``NAME``) and prints a summary by
pixel size (0.6-1.2, above 1.2 to 2, above 2 to 3 mm).
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
from pathlib import Path
from typing import Any

import numpy as np
from bench_anatomy_poses import draw

import spinetv.phantom._shapes as shapes
from spinetv.phantom import make_spine_phantom

FRACTIONS = (0.05, 0.1, 0.25)
TURNS_DEG = (0.5, 1.0, 2.0)
_WALLS = ("a", "c", "p")


def _relabelled(
    inputs: dict[str, Any],
    shifts_mm: dict[str, float],
    turn: tuple[str, float] | None = None,
) -> np.ndarray:
    """The sector rule of :func:`spinetv.phantom._shapes.label_parts` with walls moved along
    ``v`` (``shifts_mm``: "a", "c" and/or "p" to mm, positive posteriorly), or in a frame
    turned by ``turn`` (("sagittal", degrees) about the LR axis, ("axial", degrees) about
    the SI axis, both through the level's centre on the canal's axis)."""
    u, v, bone = inputs["u"], inputs["v"], inputs["bone"]
    if turn is not None:
        angle = np.radians(turn[1])
        if turn[0] == "sagittal":
            v = v * np.cos(angle) + inputs["w"] * np.sin(angle)
        else:
            u, v = u * np.cos(angle) - v * np.sin(angle), u * np.sin(angle) + v * np.cos(angle)
    half_w, half_d = inputs["half_w"], inputs["half_d"]
    a = -half_d + shifts_mm.get("a", 0.0)
    c = shifts_mm.get("c", 0.0)
    p = half_d + shifts_mm.get("p", 0.0)
    tie = shapes.TIE_MM
    left = u > 0
    sector = np.where(left, np.uint8(3), np.uint8(5))
    sector = np.where((v > p) & (np.abs(u) <= half_w), np.uint8(4), sector)
    sector = np.where(v < c - tie, np.where(left, np.uint8(2), np.uint8(6)), sector)
    body_zone = v < a - tie
    if inputs["body_half_width"] is not None:
        body_zone &= np.abs(u) <= inputs["body_half_width"]
    sector = np.where(body_zone, np.uint8(1), sector)
    return np.where(bone, sector, np.uint8(0))


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * float((a & b).sum()) / total


def measure(pose: dict[str, Any]) -> dict[str, Any]:
    """The lowest sector Dice of the middle level per wall-error fraction."""
    recorded: list[dict[str, Any]] = []
    si_of: dict[int, Any] = {}
    original = shapes.label_parts
    original_bone = shapes.vertebra_bone

    def recording_bone(u, v, w, *args, **kwargs):  # type: ignore[no-untyped-def]
        si_of[id(u)] = w
        return original_bone(u, v, w, *args, **kwargs)

    def recording(u, v, bone, half_w, half_d, *, body_half_width=None):  # type: ignore[no-untyped-def]
        recorded.append(
            {
                "u": u,
                "v": v,
                "bone": bone,
                "half_w": half_w,
                "half_d": half_d,
                "body_half_width": body_half_width,
                "w": si_of.get(id(u)),
            }
        )
        return original(u, v, bone, half_w, half_d, body_half_width=body_half_width)

    # The generator calls both through the module.
    shapes.label_parts, shapes.vertebra_bone = recording, recording_bone
    try:
        phantom = make_spine_phantom(
            levels=pose["levels"],
            tilt_deg=pose["tilt_deg"],
            axial_rotation_deg=pose["rotation_deg"],
            orientation=pose["orientation"],
            spacing_mm=(pose["slice_mm"], pose["pixel_mm"], pose["pixel_mm"]),
        )
    finally:
        shapes.label_parts, shapes.vertebra_bone = original, original_bone
    level = str(pose["level"])
    expected = [
        int(phantom.parts[level][k].in_box(phantom.parts[level][k].box).sum()) for k in range(1, 7)
    ]
    # The level's call is the one whose labels are the level's parts, voxel for voxel.
    matches = [
        entry
        for entry in recorded
        if [int((_relabelled(entry, {}) == k).sum()) for k in range(1, 7)] == expected
    ]
    if len(matches) != 1:
        raise RuntimeError(f"{level}: the ground truth's labelling call was not found")
    inputs = matches[0]
    truth = _relabelled(inputs, {})
    if not np.array_equal(
        truth,
        original(
            inputs["u"],
            inputs["v"],
            inputs["bone"],
            inputs["half_w"],
            inputs["half_d"],
            body_half_width=inputs["body_half_width"],
        ),
    ):
        raise RuntimeError(f"{level}: the relabelling does not reproduce the sector rule")

    def lowest(moves: list[tuple[dict[str, float], tuple[str, float] | None]]) -> float:
        scores = [
            _dice(moved == k, truth == k)
            for moved in (_relabelled(inputs, shifts, turn) for shifts, turn in moves)
            for k in range(1, 7)
            if (truth == k).any()
        ]
        return round(min(scores), 4)

    single: dict[str, float] = {}
    every: dict[str, float] = {}
    for fraction in FRACTIONS:
        shift = fraction * float(pose["pixel_mm"])
        single[str(fraction)] = lowest(
            [({wall: sign * shift}, None) for wall in _WALLS for sign in (1.0, -1.0)]
        )
        every[str(fraction)] = lowest(
            [
                ({wall: sign * shift for wall, sign in zip(_WALLS, signs)}, None)
                for signs in itertools.product((1.0, -1.0), repeat=len(_WALLS))
            ]
        )
    turned = {
        str(degrees): lowest(
            [({}, (plane, sign * degrees)) for plane in ("sagittal", "axial") for sign in (1, -1)]
        )
        for degrees in TURNS_DEG
    }
    return {
        **pose,
        "min_sector_dice_by_fraction": single,
        "min_sector_dice_all_walls_by_fraction": every,
        "min_sector_dice_by_turn_deg": turned,
        "canal_dice_by_outward_fraction": _canal_sensitivity(
            phantom, level, float(pose["pixel_mm"])
        ),
    }


def _canal_sensitivity(phantom: Any, level: str, pixel_mm: float) -> dict[str, float]:
    """Canal Dice, over the middle 10 mm of ``level`` as in :mod:`bench_anatomy_poses`, of the
    true canal (an ellipse about the level's frame there) against the same ellipse grown
    outward by each fraction of a voxel: a derived canal that errs only outward (never
    leaving true canal out of it) by that much."""
    frame = phantom.frames[level]
    box = phantom.vertebrae[level].box
    ijk = np.indices(box.shape).reshape(3, -1).T + np.asarray(box.start)
    local = frame.to_local(phantom.grid.index_to_lps(ijk))
    middle = np.abs(local[:, 2]) <= 5.0
    truth = phantom.canal.in_box(box).ravel()[middle]

    def ellipse(grown_mm: float) -> np.ndarray:
        u = local[middle, 0] / (frame.canal_half_width_mm + grown_mm)
        v = local[middle, 1] / (frame.canal_half_depth_mm + grown_mm)
        return np.asarray(u**2 + v**2 <= 1.0)

    if not np.array_equal(ellipse(0.0), truth):
        raise RuntimeError(f"{level}: the true canal is not the frame's ellipse here")
    return {str(f): round(_dice(ellipse(f * pixel_mm), truth), 4) for f in (*FRACTIONS, 0.5)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int, nargs="?", default=60)
    parser.add_argument("seed", type=int, nargs="?", default=2026)
    parser.add_argument("--pixel-max", type=float, default=3.0, help="largest pixel, mm")
    parser.add_argument("--out", default="sector_sensitivity.json", help="file in results/")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    rows = [measure(draw(rng, args.pixel_max)) for _ in range(args.count)]
    bins = ((0.6, 1.2), (1.2, 2.0), (2.0, 3.0))
    figures = (
        ("wall_off_{}_voxel", "min_sector_dice_by_fraction", FRACTIONS),
        ("all_walls_off_{}_voxel", "min_sector_dice_all_walls_by_fraction", FRACTIONS),
        ("frame_turned_{}_deg", "min_sector_dice_by_turn_deg", TURNS_DEG),
        ("canal_grown_{}_voxel", "canal_dice_by_outward_fraction", (*FRACTIONS, 0.5)),
    )
    summary: dict[str, Any] = {"poses": len(rows), "seed": args.seed, "by_pixel_mm": {}}
    for low, high in bins:
        # Each pose in one bin: the first bin holds its low end, every bin its high end.
        within = [
            r
            for r in rows
            if (low < float(r["pixel_mm"]) or low == bins[0][0]) and float(r["pixel_mm"]) <= high
        ]
        entry: dict[str, Any] = {"poses": len(within)}
        for name, field, values in figures:
            for value in values:
                scores = [float(r[field][str(value)]) for r in within]
                entry[name.format(value)] = {
                    "poses_below_0.95": sum(1 for x in scores if x < 0.95),
                    "lowest": min(scores) if scores else None,
                }
        summary["by_pixel_mm"][f"{low}-{high}"] = entry
    summary["machine"] = platform.platform()
    print(json.dumps(summary, indent=2))
    out = Path(__file__).parent / "results" / args.out
    out.write_text(json.dumps({"summary": summary, "poses": rows}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
