"""Sacral segments and compartments of phantom sacra over tilt, kyphosis, hiatus and input form.

Run: ``python benchmarks/bench_sacra.py``. Each sacrum is a ``spinetv.phantom`` L5-S5 column
(1.5 mm voxels) with the mobile spine tilted 0-60 deg, the sacrum bent by 20-50 deg of
kyphosis from S1 to S5 (5-12.5 deg per segment), the hiatus opening at S1 (an open S1 arch),
S3, S4 or S5, and the sacrum given the way TotalSegmentator gives it (S1 apart, the rest as one
mask) or fused (one mask); two more are cut short at S3 by the image. No cord and no canal are
given: every canal is derived. Per segment the Dice of the segment and of the body (1) and
alae (2, 6) with the phantom's truth is recorded, with the canal method, and again with the
phantom's own sacral canal given as contoured (``true_canal``): what stays below then is not
the derived canal's doing.

Writes ``benchmarks/results/sacra.json`` and prints, per input form and segment, the minimum
Dice, and the cases with a segment below 0.85 or a body or ala below 0.9.
"""

from __future__ import annotations

import itertools
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np

from spinetv import phantom
from spinetv.errors import AnatomyWarning
from spinetv.geometry.booleans import union
from spinetv.pipeline import Anatomy, label_case_sectors

TILTS = (0.0, 30.0, 45.0, 60.0)
KYPHOSES = (20.0, 40.0)
HIATUSES = ("S1", "S3", "S5")
EXTRA = [
    # tilt, kyphosis, hiatus, levels, S1 apart: the steepest bend, and sacra cut at S3
    (30.0, 50.0, "S3", "L5-S5", True),
    (30.0, 50.0, "S3", "L5-S5", False),
    (30.0, 30.0, "S5", "L5-S3", True),
    (45.0, 30.0, "S5", "L5-S3", False),
]


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * float((a & b).sum()) / total


def measure(tilt: float, kyphosis: float, hiatus: str, levels: str, apart: bool) -> dict:
    model = phantom.make_spine_phantom(
        levels=levels, tilt_deg=tilt, sacral_kyphosis_deg=kyphosis, sacral_hiatus=hiatus,
        spacing_mm=(1.5, 1.5, 1.5),
    )
    segments = [lv for lv in model.levels if lv.startswith("S")]
    vertebrae = {lv: m for lv, m in model.vertebrae.items() if not lv.startswith("S")}
    if apart:
        vertebrae["S1"] = model.vertebrae["S1"]
        vertebrae["Sacrum"] = union(*[model.vertebrae[lv] for lv in segments[1:]])
    else:
        vertebrae["Sacrum"] = union(*[model.vertebrae[lv] for lv in segments])
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AnatomyWarning)
        result = label_case_sectors(Anatomy(model.grid, vertebrae), segments, required=())
    seconds = time.perf_counter() - start
    # The same sacrum with the phantom's own sacral canal given as contoured: what is left
    # once the canal is right (the cuts, the foramina, the voxels) bounds what a better
    # derived canal could gain.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AnatomyWarning)
        given = label_case_sectors(
            Anatomy(model.grid, vertebrae, sacral_canal=model.canal), segments, required=()
        )
    record: dict = {
        "tilt_deg": tilt, "kyphosis_deg": kyphosis, "hiatus": hiatus, "levels": levels,
        "s1_apart": apart, "seconds": round(seconds, 3), "unlabelled": sorted(result.unlabelled),
        "segments": {},
    }
    for level in segments:
        if level not in result.by_level:
            continue
        sectors = result.by_level[level]
        record["segments"][level] = {
            "segment": round(dice(result.sacral_segments[level].to_array(),
                                  model.vertebrae[level].to_array()), 4),
            "body": round(dice(sectors.sector(1).to_array(),
                               model.parts[level][1].to_array()), 4),
            "alae": round(min(dice(sectors.sector(k).to_array(),
                                   model.parts[level][k].to_array()) for k in (2, 6)), 4),
            "canal": str(sectors.canal_method),
        }
        if level in given.by_level:
            record["segments"][level]["true_canal"] = {
                "body": round(dice(given.by_level[level].sector(1).to_array(),
                                   model.parts[level][1].to_array()), 4),
                "alae": round(min(dice(given.by_level[level].sector(k).to_array(),
                                       model.parts[level][k].to_array()) for k in (2, 6)), 4),
            }
    return record


def main() -> None:
    cases = [
        (tilt, kyphosis, hiatus, "L5-S5", apart)
        for tilt, kyphosis, hiatus, apart in itertools.product(
            TILTS, KYPHOSES, HIATUSES, (True, False)
        )
    ] + EXTRA
    records = []
    for case in cases:
        record = measure(*case)
        records.append(record)
        worst = {lv: (v["segment"], v["body"], v["alae"]) for lv, v in record["segments"].items()}
        print(case, record["unlabelled"] or "", worst, flush=True)
    summary: dict = {}
    for form, apart in (("S1 apart", True), ("fused", False)):
        rows = [r for r in records if r["s1_apart"] == apart]
        summary[form] = {
            level: {
                key: round(
                    min(r["segments"][level][key] for r in rows if level in r["segments"]), 4
                )
                for key in ("segment", "body", "alae")
            }
            for level in ("S1", "S2", "S3", "S4", "S5")
        }
    summary["cases"] = len(records)
    summary["cases_with_an_unlabelled_segment"] = sum(bool(r["unlabelled"]) for r in records)
    summary["below"] = [
        (r["tilt_deg"], r["kyphosis_deg"], r["hiatus"], r["levels"], r["s1_apart"], level, v)
        for r in records
        for level, v in r["segments"].items()
        if v["segment"] < 0.85 or v["body"] < 0.9 or v["alae"] < 0.9
    ]
    summary["below_with_the_true_canal"] = [
        (r["tilt_deg"], r["kyphosis_deg"], r["hiatus"], r["levels"], r["s1_apart"], level,
         v["true_canal"])
        for r in records
        for level, v in r["segments"].items()
        if "true_canal" in v and min(v["true_canal"].values()) < 0.9
    ]
    summary["true_canal_min"] = {
        level: {
            key: min(
                (r["segments"][level]["true_canal"][key] for r in records
                 if "true_canal" in r["segments"].get(level, {})),
                default=None,
            )
            for key in ("body", "alae")
        }
        for level in ("S1", "S2", "S3", "S4", "S5")
    }
    summary["max_seconds"] = max(r["seconds"] for r in records)
    out = Path(__file__).parent / "results" / "sacra.json"
    out.write_text(json.dumps(
        {"python": platform.python_version(), "summary": summary, "records": records}, indent=1
    ))
    for form in ("S1 apart", "fused"):
        print(form, summary[form])
    print("cases", summary["cases"], "with an unlabelled segment",
          summary["cases_with_an_unlabelled_segment"], "max seconds", summary["max_seconds"])
    print("below (segment < 0.85, body or alae < 0.9):", len(summary["below"]))
    print("with the phantom's canal given, body or alae < 0.9:",
          len(summary["below_with_the_true_canal"]), "; worst", summary["true_canal_min"])
    print("written", out)


if __name__ == "__main__":
    main()
