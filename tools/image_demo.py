"""Segment an image or a folder of images and save the drawn result (mmseg's
demo/image_demo.py, with a legend of the classes found).

Examples::

    python tools/image_demo.py data/zs3_shapes/img_dir/val/val_00000.png \\
        configs/zs3/zs3net_unet-s2-fcn_1xb16-10e_shapes-u4-64x64.py \\
        work_dirs/demo/zs3net/epoch_10.pth --out-file result.png
    # a folder, with two classes added on the fly (by name, in memory)
    python tools/image_demo.py data/zs3_shapes/img_dir/val CONFIG CKPT \\
        --out-dir vis --classes "purple circle" "orange star"

The prediction is overlaid by mmseg's SegLocalVisualizer; a legend strip
below names the classes found, largest first; '*' marks classes that were
unseen in training (zero-shot). Images smaller than --min-size are enlarged
(nearest neighbour) so that overlay and legend stay readable. Every image
is checked (exists, can be read) and every output path (can be written,
overwrites no input) before the model is built.
"""
import argparse
import pickle
import sys

import mmseg_zs3  # noqa: F401
from mmseg_zs3.apis.cli_types import (HelpFormatter, non_negative_float,
                                      positive_int)
from mmseg_zs3.apis.image_demo import run_image_demo

PACKAGED = 'glove-packaged'


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (every option with its help and default)."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=HelpFormatter)
    p.add_argument('img', help='an image file or a folder of images')
    p.add_argument('config', help='config file')
    p.add_argument('checkpoint', help='checkpoint file')
    p.add_argument('--out-file', help='where the result of one image goes')
    p.add_argument(
        '--out-dir',
        help='folder of results (<image name>.png), for an '
        'image or a folder')
    p.add_argument(
        '--opacity',
        type=non_negative_float,
        default=0.5,
        help='opacity of the painted segmentation, in [0, 1]')
    p.add_argument('--device', default='cpu', help='device (cpu, cuda:0)')
    p.add_argument(
        '--classes',
        nargs='+',
        default=[],
        help='class names to add to the model first (in memory: the '
        'generator makes their features from their word vectors)')
    p.add_argument(
        '--vectors',
        nargs='+',
        default=[PACKAGED],
        help=f"word vectors for --classes; '{PACKAGED}' = GloVe 6B 50-d")
    p.add_argument(
        '--min-size',
        type=positive_int,
        default=256,
        help='images whose shorter side is smaller are enlarged to it')
    return p


def parse_args(argv=None):
    return build_parser().parse_args(argv)


def run(args) -> list:
    vectors = None
    if args.classes and args.vectors != [PACKAGED]:
        from mmseg_zs3.embeddings import load_packaged_glove, load_word_vectors
        vectors = [
            load_packaged_glove() if v == PACKAGED else load_word_vectors(v)
            for v in args.vectors
        ]
    results = run_image_demo(
        args.img,
        args.config,
        args.checkpoint,
        out_file=args.out_file,
        out_dir=args.out_dir,
        opacity=args.opacity,
        device=args.device,
        classes=args.classes,
        word_vectors=vectors,
        min_size=args.min_size)
    for r in results:
        print(f'{r["out"]}: {", ".join(r["classes"])}')
    return results


def main(argv=None) -> None:
    """The command line: an error is one line naming what is wrong (exit
    status 1), not a traceback."""
    args = parse_args(argv)
    try:
        run(args)
    except (KeyError, ValueError, TypeError, OSError,
            pickle.UnpicklingError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        sys.exit(f'error: {msg}')


if __name__ == '__main__':
    main()
