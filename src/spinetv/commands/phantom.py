"""``spinetv phantom``: write a synthetic spine CT and its ground-truth RTSTRUCT."""

from __future__ import annotations

import argparse

from spinetv.commands._common import add_common_options
from spinetv.errors import SpinetvError

__all__ = ["register", "run", "parse_gtv"]


def _floats(text: str, what: str) -> tuple[float, ...]:
    try:
        return tuple(float(p) for p in text.split(","))
    except ValueError:
        raise SpinetvError(f"--{what}: expected comma-separated numbers, got {text!r}") from None


def parse_gtv(text: str) -> object:
    """A GtvSpec from ``LEVEL[-LEVEL]:SECTORS[:key=value,...]``, e.g. ``L2:1,2`` or
    ``L2-L3:1:side=left,epidural=3,paraspinal=5``."""
    from spinetv.phantom import GtvSpec

    pieces = text.split(":")
    if len(pieces) < 2 or not pieces[0] or not pieces[1]:
        raise SpinetvError(f"--gtv: expected LEVEL:SECTORS such as L2:1,2, got {text!r}")
    first, _, last = pieces[0].partition("-")
    try:
        sectors = tuple(int(p) for p in pieces[1].split(","))
    except ValueError:
        raise SpinetvError(f"--gtv: sectors must be numbers 1-6, got {pieces[1]!r}") from None
    options: dict[str, object] = {}
    keys = {
        "side": "body_side",
        "epidural": "epidural_mm",
        "paraspinal": "paraspinal_mm",
        "radius": "radius_mm",
        "kind": "kind",
    }
    for item in ":".join(pieces[2:]).split(",") if len(pieces) > 2 else []:
        key, _, value = item.partition("=")
        if key not in keys or not value:
            raise SpinetvError(f"--gtv: unknown option {item!r}; expected {', '.join(keys)}=VALUE")
        options[keys[key]] = value if key in ("side", "kind") else float(value)
    return GtvSpec(first, sectors, to_level=last or None, **options)  # type: ignore[arg-type]


EPILOG = """examples:
  spinetv phantom --out ph/ --levels L1,L2,L3 --gtv L2:1,2:side=left
  spinetv phantom --out ph/ --levels T10-L3 --spacing 2.5,0.8,0.8 --orientation HFP \\
      --lordosis 20 --rotation 10 --gtv L1:1,2,3:epidural=3 --seed 7
  spinetv phantom --out ph/ --levels L4,L5,S1,S2,S3 --gtv S2:1,6:side=right
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``phantom`` sub-command."""
    parser = subparsers.add_parser(
        "phantom",
        help="write a synthetic spine CT and its ground-truth RTSTRUCT",
        description="Write a synthetic spine CT series (OUT/CT/) and an RTSTRUCT "
        "(OUT/RTSTRUCT.dcm) holding the vertebrae, canal, cord and GTV.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--levels", default="L1,L2,L3", help="levels, e.g. L1,L2,L3 or T10-L3")
    parser.add_argument("--spacing", default="1,1,1", help="slice,row,column spacing in mm")
    parser.add_argument("--shape", default=None, help="slices,rows,columns (default: fit)")
    parser.add_argument("--orientation", default="HFS", choices=["HFS", "FFS", "HFP", "FFP"])
    parser.add_argument("--lordosis", type=float, default=0.0, help="degrees, -30..30")
    parser.add_argument(
        "--rotation", type=float, default=0.0, help="axial rotation, degrees, -15..15"
    )
    parser.add_argument(
        "--gtv",
        action="append",
        default=[],
        help="LEVEL[-LEVEL]:SECTORS[:side=left,epidural=3,paraspinal=5] (repeatable)",
    )
    parser.add_argument("--noise", type=float, default=0.0, help="Gaussian noise, HU")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sacrum-names", choices=["split_s1", "segments"], default="split_s1")
    add_common_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Make and write the phantom; print what was written."""
    from spinetv.phantom import make_spine_phantom, write_phantom

    spacing = _floats(args.spacing, "spacing")
    shape = tuple(int(v) for v in _floats(args.shape, "shape")) if args.shape else None
    phantom = make_spine_phantom(
        levels=args.levels,
        spacing_mm=spacing,
        shape=shape,
        orientation=args.orientation,
        lordosis_deg=args.lordosis,
        axial_rotation_deg=args.rotation,
        gtv=[parse_gtv(g) for g in args.gtv] or None,  # type: ignore[misc]
        noise_hu=args.noise,
        seed=args.seed,
    )
    ct_dir, rtstruct = write_phantom(
        phantom, args.out, overwrite=args.force, sacrum_names=args.sacrum_names
    )
    print(f"CT series: {ct_dir} ({phantom.grid.describe()})")
    print(f"RTSTRUCT:  {rtstruct}")
    for structure in phantom.structures(sacrum_names=args.sacrum_names):
        print(f"  {structure.name:<16} {structure.roi_type.value:<9} {structure.volume_cc:9.2f} cc")
    return 0
