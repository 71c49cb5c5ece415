"""DVH statistics as dicompyler-core computes them; run by its side interpreter (pydicom 2).

Usage: python dicompyler_dvh.py RS.dcm RD.dcm -> JSON on stdout: per ROI (by name) the volume
(cm3), Dmin, Dmean, Dmax and D2%, D50%, D98% (Gy) of dicompyler-core's dvhcalc.get_dvh with its
defaults (dose sampled at the dose grid's own pixel centres inside each contour, 1 cGy bins).
"""

import json
import sys

from dicompylercore import dicomparser, dvhcalc


def main():
    rs_path, rd_path = sys.argv[1], sys.argv[2]
    out = {}
    for number, info in dicomparser.DicomParser(rs_path).GetStructures().items():
        try:
            dvh = dvhcalc.get_dvh(rs_path, rd_path, number)
        except Exception as error:  # an ROI dicompyler-core cannot compute is left out, said
            out[info["name"]] = {"error": str(error)}
            continue
        if dvh.volume == 0:
            continue
        out[info["name"]] = {
            "volume_cc": float(dvh.volume),
            "Dmin": float(dvh.min),
            "Dmean": float(dvh.mean),
            "Dmax": float(dvh.max),
            "D2%": float(dvh.statistic("D2").value),
            "D50%": float(dvh.statistic("D50").value),
            "D98%": float(dvh.statistic("D98").value),
        }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
