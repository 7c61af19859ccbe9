"""The CPU demo (`make demo`): ZS3Net end to end on generated shapes."""
import argparse

from mmseg_zs3.apis.cli_types import non_negative_int, positive_int
from mmseg_zs3.apis.demo import image_size_arg, run_demo


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument(
        '--work-dir',
        default='work_dirs/demo',
        help='where the runs, summary.json/.md and the figures go')
    parser.add_argument(
        '--data-root',
        default='data/zs3_shapes',
        help='where the shapes dataset is generated; one generated with the '
        'same parameters is reused, another one is never replaced')
    parser.add_argument(
        '--seed',
        type=non_negative_int,
        default=0,
        help='seed of the data and of training')
    parser.add_argument(
        '--num-train',
        type=positive_int,
        default=2400,
        help='training images to generate')
    parser.add_argument(
        '--num-val',
        type=positive_int,
        default=300,
        help='validation images to generate (the reported split)')
    parser.add_argument(
        '--num-calib',
        type=positive_int,
        default=150,
        help='seen-only images to generate for choosing the calibration')
    parser.add_argument(
        '--image-size',
        type=image_size_arg,
        default=64,
        help='image side in pixels, a multiple of 16')
    parser.add_argument(
        '--stage1-iters',
        type=positive_int,
        default=1800,
        help='training iterations of the seen-only, DeViSE and oracle rows')
    parser.add_argument(
        '--stage2-epochs',
        type=positive_int,
        default=10,
        help='epochs of ZS3Net stage 2 (generator and classifier)')
    parser.add_argument(
        '--num-workers',
        type=non_negative_int,
        default=2,
        help='dataloader worker processes (0: load in the main process)')
    parser.add_argument(
        '--jobs',
        type=positive_int,
        default=2,
        help='processes that train rows side by side (the seen-only -> '
        'ZS3Net -> ZS5Net chain in one, DeViSE and the oracle in the other), '
        'each with its share of the CPU cores; on 2 cores two one-thread '
        'processes train the demo faster than one two-thread process. '
        '1: all rows in this process, one after another')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    run_demo(
        work_dir=args.work_dir,
        data_root=args.data_root,
        seed=args.seed,
        num_train=args.num_train,
        num_val=args.num_val,
        num_calib=args.num_calib,
        image_size=args.image_size,
        stage1_iters=args.stage1_iters,
        stage2_epochs=args.stage2_epochs,
        num_workers=args.num_workers,
        jobs=args.jobs)


if __name__ == '__main__':
    main()
