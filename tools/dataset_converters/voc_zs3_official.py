"""Write the official ZS3Net VOC training list from VOCdevkit and SBD.

VOC2012 train + SBD train_noval (SBD train without VOC2012 val), at most
7,087 images, as the official ZS3Net code combines them; mmseg's voc12aug
(10,582 images) also holds SBD val. The list is written in mmseg's voc12aug
layout, reading the same folders as mmseg's voc_aug.py::

    python tools/dataset_converters/voc_zs3_official.py \
        data/VOCdevkit data/VOCdevkit/VOC2012/benchmark_RELEASE

writes VOC2012/ImageSets/Segmentation/aug_zs3_official.txt (the SBD part;
the VOC part is train.txt) and the PNG labels of its images that
VOC2012/SegmentationClassAug lacks (those there are kept). Train on
``train.txt`` (SegmentationClass) + ``aug_zs3_official.txt``
(SegmentationClassAug), as voc12aug trains on train.txt + aug.txt.
"""
import argparse

from mmseg_zs3.datasets.convert_voc_zs3 import (MAX_OFFICIAL_IMAGES,
                                                write_official_voc_list)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('devkit_path', help='the VOCdevkit folder')
    parser.add_argument('aug_path', help='the SBD folder (benchmark_RELEASE)')
    parser.add_argument(
        '-o',
        '--out_dir',
        help='folder of the PNG labels (default: '
        'VOC2012/SegmentationClassAug)')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='replace a list file of other contents')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    done = write_official_voc_list(args.devkit_path, args.aug_path,
                                   args.out_dir, args.overwrite)
    total = done['voc'] + done['sbd']
    print(f"{done['list']}: {done['sbd']} SBD images "
          f"({'unchanged' if done['unchanged'] else 'written'}); with the "
          f"{done['voc']} of train.txt, {total} images (the official list "
          f'has at most {MAX_OFFICIAL_IMAGES}); PNG labels: '
          f"{done['converted']} written, {done['kept']} already there")


if __name__ == '__main__':
    main()
