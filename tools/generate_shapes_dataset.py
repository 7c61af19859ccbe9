# Write the compositional-shapes dataset of the CPU demo (ZS3ShapesDataset).
import argparse

from mmseg_zs3.datasets import generate_shapes_dataset


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Generate the compositional-shapes dataset')
    parser.add_argument(
        'root', nargs='?', default='data/zs3_shapes', help='output folder')
    parser.add_argument('--num-train', type=int, default=2400)
    parser.add_argument('--num-val', type=int, default=300)
    parser.add_argument('--num-calib', type=int, default=150)
    parser.add_argument('--image-size', type=int, default=64)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='rewrite an existing dataset made with other parameters')
    return parser.parse_args(argv)


def main():
    args = parse_args()
    meta = generate_shapes_dataset(
        args.root,
        num_train=args.num_train,
        num_val=args.num_val,
        num_calib=args.num_calib,
        image_size=args.image_size,
        seed=args.seed,
        overwrite=args.overwrite)
    print(f'shapes dataset in {args.root}: {meta}')


if __name__ == '__main__':
    main()
