"""`editgan import editgan-release DIR --out BUNDLE`: the official EditGAN release's downloaded files
(generator, classifiers, encoder, test latents, editing vectors) as one bundle (`editgan.official_release`)."""

from __future__ import annotations

import argparse

from editgan.official_release import import_release


def run(args: argparse.Namespace) -> int:
    bundle = import_release(args.release, args.out, overwrite=args.overwrite,
                            classifier_iteration=args.classifier_iteration)
    print(f"wrote bundle {bundle.path}; try: editgan serve --bundle {bundle.path}   or   editgan vector apply "
          f"--bundle {bundle.path} --latent {bundle.path}/latents/latents_image_0.safetensors "
          f"--vector wheel_enlarge=2 --out out/car")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("import", help="import a published model release as a bundle")
    sub = p.add_subparsers(dest="source", metavar="SOURCE", required=True)
    q = sub.add_parser("editgan-release", help="the official EditGAN car release (nv-tlabs/editGAN_release)",
                       description="Find the release's files below RELEASE (its repository root or its "
                                   "checkpoint/ folder) and write them as one bundle; no code from the "
                                   "files is ever run.")
    q.add_argument("release", help="folder holding the downloaded release (checkpoint/, static/editing_vectors/)")
    q.add_argument("--out", required=True, help="bundle directory to create")
    q.add_argument("--overwrite", action="store_true",
                   help="import into an existing bundle (replaced vectors are backed up)")
    q.add_argument("--classifier-iteration", type=int, default=None,
                   help="use the classifiers car_model_iter<N>_number_<m>.pth (default: car_model_<m>.pth)")
    q.set_defaults(func=run)
