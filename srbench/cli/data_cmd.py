"""``srbench data``: list, verify and fetch the catalogue's sets; write benchmark LR images."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from srbench.cli.common import add_data_root, parse_scales
from srbench.errors import UserError
from srbench.outdir import check_output_folder

NAME = "data"
HELP = "list, verify and fetch data sets; write LR images"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        NAME,
        help=HELP,
        description="Manage the data sets srbench knows (see 'srbench data list').",
    )
    sub = p.add_subparsers(dest="data_command", required=True, metavar="{list,verify,fetch,lr}")

    ls = sub.add_parser("list", help="show the catalogue and what is present under the data root")
    add_data_root(ls)
    ls.set_defaults(run=run_list)

    verify = sub.add_parser("verify", help="check present sets pixel by pixel against the reference digests")
    verify.add_argument("sets", nargs="*", help="set names (default: every set that is present)")
    add_data_root(verify)
    verify.set_defaults(run=run_verify)

    fetch = sub.add_parser("fetch", help="download sets that are missing")
    fetch.add_argument("sets", nargs="+", help="set names, or 'all'")
    add_data_root(fetch)
    fetch.set_defaults(run=run_fetch)

    lr = sub.add_parser(
        "lr",
        help="write a benchmark set's LR images (MATLAB-exact bicubic)",
        description="Write imresize(modcrop(HR, s), 1/s) for every image of a set, as PNGs "
        "named like the HR files, e.g. as inputs for methods outside srbench.",
    )
    lr.add_argument("--set", required=True, dest="set_name", help="benchmark set, e.g. Set5")
    lr.add_argument("--scale", required=True, help="integer scale, e.g. 4")
    lr.add_argument("--out", required=True, type=Path, help="output folder (created if needed)")
    lr.add_argument("--overwrite", action="store_true", help="replace files already in --out")
    add_data_root(lr)
    lr.set_defaults(run=run_lr)


def run_list(args: argparse.Namespace) -> int:
    from srbench.data import CATALOGUE, resolve_data_root, status  # only for this command

    root = resolve_data_root(args.data_root)
    print(f"data root: {root}")
    print(f"{'name':<10}{'kind':<11}{'images':>7}  {'here':<32}source")
    for spec in CATALOGUE.values():
        state = status(spec, root, check_pixels=False).state
        print(f"{spec.name:<10}{spec.kind:<11}{spec.count:>7}  {state:<32}{spec.url or 'on request: ' + spec.homepage}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from srbench.data import CATALOGUE, get_spec, resolve_data_root, status  # only for this command

    root = resolve_data_root(args.data_root)
    specs = [get_spec(n) for n in args.sets] or list(CATALOGUE.values())
    failed, verified = False, 0
    for spec in specs:
        st = status(spec, root)
        if st.present == 0 and not args.sets:
            continue
        verified += 1
        print(f"{spec.name:<10}{st.state}  ({st.folder})")
        for name in st.mismatched:
            print(f"  differs: {name}")
        failed |= bool(st.mismatched or st.missing or st.present == 0)
    if not verified:  # an empty or mistyped data root must not pass as verified
        raise UserError(
            f"no data sets under {root}: nothing to verify; point --data-root or SRBENCH_DATA at your copy, or "
            f"download them with 'srbench data fetch SET'"
        )
    return 1 if failed else 0


def run_fetch(args: argparse.Namespace) -> int:
    from srbench.data import CATALOGUE, ensure, get_spec, resolve_data_root, status  # only for this command

    root = resolve_data_root(args.data_root)
    if [n.lower() for n in args.sets] == ["all"]:
        specs = [s for s in CATALOGUE.values() if s.url]
        for spec in CATALOGUE.values():
            if not spec.url:
                print(
                    f"{spec.name:<10}skipped: access on request ({spec.homepage}); put it in {root / spec.relpath}",
                    file=sys.stderr,
                )
    else:
        specs = [get_spec(n) for n in args.sets]
    for spec in specs:
        folder = ensure(spec, root, download=not args.no_download)
        print(f"{spec.name:<10}{status(spec, root).state}  ({folder})")
    return 0


def run_lr(args: argparse.Namespace) -> int:
    from srbench.data import get_spec, load_set, resolve_data_root, save_png  # only for this command
    from srbench.degrade import bicubic_lr
    from srbench.evaluate import check_scale

    spec = get_spec(args.set_name, kind="benchmark")
    scales = parse_scales(args.scale, "--scale")
    if len(scales) != 1:
        raise UserError(f"--scale takes one scale, got '{args.scale}'")
    scale = scales[0]
    if args.out.is_symlink():
        raise UserError(
            f"--out {args.out} is a symbolic link; srbench never writes through a link: give the folder itself"
        )
    check_output_folder(args.out, "--out")
    images = load_set(spec, resolve_data_root(args.data_root), download=not args.no_download)
    check_scale(spec.name, [(name, *hr.shape[-2:]) for name, hr in images], scale)
    targets = [args.out / (Path(name).stem + ".png") for name, _ in images]
    links = [t.name for t in targets if t.is_symlink()]
    if links:
        raise UserError(
            f"{args.out} holds symbolic link(s) {', '.join(links[:5])} where LR images would go; "
            f"srbench never writes through a link: remove them or choose another --out"
        )
    clashes = [t.name for t in targets if t.exists()]
    if clashes and not args.overwrite:
        raise UserError(
            f"{args.out} already holds {', '.join(clashes[:5])}{' ...' if len(clashes) > 5 else ''}; "
            f"choose another --out or pass --overwrite"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    for (_, hr), target in zip(images, targets):
        partial = target.with_name(f".{target.name}.partial")  # a crash never leaves a half-written image
        partial.unlink(missing_ok=True)  # a link planted there is removed, never written through
        save_png(bicubic_lr(hr, scale), partial)
        os.replace(partial, target)
    print(f"wrote {len(targets)} LR images of {spec.name} x{scale} to {args.out}", file=sys.stderr)
    return 0
