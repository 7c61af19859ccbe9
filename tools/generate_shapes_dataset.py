# Write the compositional-shapes dataset of the CPU demo (ZS3ShapesDataset).
import argparse
import sys

from mmseg_zs3.datasets import generate_shapes_dataset


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Generate the compositional-shapes dataset of the CPU '
        'demo (16 colour x shape classes plus background) in mmseg\'s '
        'img_dir/ann_dir layout. A root that already holds this dataset with '
        'the same parameters is reused.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument(
        'root', nargs='?', default='data/zs3_shapes', help='output folder')
    parser.add_argument(
        '--num-train',
        type=int,
        default=2400,
        help='images in the train split (all classes)')
    parser.add_argument(
        '--num-val',
        type=int,
        default=300,
        help='images in the val split (all classes)')
    parser.add_argument(
        '--num-calib',
        type=int,
        default=150,
        help='images in the calib split (seen classes only, for choosing '
        'the calibration constant)')
    parser.add_argument(
        '--image-size',
        type=int,
        default=64,
        help='image side in pixels (>= 16)')
    parser.add_argument(
        '--seed',
        type=int,
        default=0,
        help='random seed; the dataset is deterministic in it')
    parser.add_argument(
        '--context-rich',
        action='store_true',
        help='scenes of touching object pairs, each tinted toward the colour '
        'of the object it touches (the ZS3Net + GC demo, '
        'benchmarks/bench_graph_context.py)')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='replace a shapes dataset made with other parameters; a folder '
        'that holds anything else is never replaced')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        meta = generate_shapes_dataset(
            args.root,
            num_train=args.num_train,
            num_val=args.num_val,
            num_calib=args.num_calib,
            image_size=args.image_size,
            seed=args.seed,
            overwrite=args.overwrite,
            context_rich=args.context_rich)
    except (OSError, ValueError) as e:  # FileExistsError is an OSError
        sys.exit(f'error: {e}')
    print(f'shapes dataset in {args.root}: {meta}')


if __name__ == '__main__':
    main()
