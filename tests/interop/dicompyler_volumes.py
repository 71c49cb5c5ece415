"""ROI volumes as dicompyler-core sees them; run by its side interpreter (pydicom 2).

Usage: python dicompyler_volumes.py RS.dcm GRID.json  -> JSON on stdout
GRID.json: {"x_mm": [...column x positions], "y_mm": [...row y positions], "thickness_mm": t}
(an axial head-first supine grid, as dicompyler-core assumes). For each ROI the contours of a
plane are filled with dicompyler-core's own DVH rasteriser (dvhcalc.get_contour_mask, combined
XOR as dvhcalc.calculate_plane_histogram does) at the grid's pixel centres; the volume is the
pixel count times pixel area times slice thickness. CalculateStructureVolume (shapely) is
added when shapely is importable.
"""

import json
import sys

import numpy as np
from dicompylercore import dicomparser, dvhcalc


def main():
    rs_path, grid_path = sys.argv[1], sys.argv[2]
    with open(grid_path) as handle:
        grid = json.load(handle)
    xs, ys = np.asarray(grid["x_mm"]), np.asarray(grid["y_mm"])
    thickness = float(grid["thickness_mm"])
    dd = {"lut": [xs, ys], "x_lut_index": 0, "rows": len(ys), "columns": len(xs)}
    xx, yy = np.meshgrid(xs, ys)
    points = np.vstack((xx.ravel(), yy.ravel())).T
    pixel_mm2 = abs(xs[1] - xs[0]) * abs(ys[1] - ys[0])
    parser = dicomparser.DicomParser(rs_path)
    out = {}
    for number, info in parser.GetStructures().items():
        planes = parser.GetStructureCoordinates(number)
        voxels = 0
        for plane in planes.values():
            filled = np.zeros((len(ys), len(xs)), dtype=bool)
            for contour in plane:
                if contour["type"] != "CLOSED_PLANAR":
                    continue
                xy = [point[0:2] for point in contour["data"]]
                filled ^= dvhcalc.get_contour_mask(dd, number, points, xy)
            voxels += int(filled.sum())
        entry = {
            "name": info["name"],
            "type": info["type"],
            "n_planes": len(planes),
            "volume_mask_cc": voxels * pixel_mm2 * thickness / 1000.0,
        }
        try:
            import shapely  # noqa: F401

            entry["volume_shapely_cc"] = parser.CalculateStructureVolume(planes, thickness)
        except ImportError:
            entry["volume_shapely_cc"] = None
        out[info["name"]] = entry
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
