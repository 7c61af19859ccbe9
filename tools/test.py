# Test (and evaluate) a segmentor: mmseg's tools/test.py, with the logic in
# mmseg_zs3.apis.
import argparse
import os

from mmseg_zs3.apis import test
from mmseg_zs3.apis.cli_types import (CfgOptionsAction, non_negative_float,
                                      positive_int)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='MMSeg test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='the dir to save logs and the evaluation metrics as json')
    parser.add_argument(
        '--out',
        type=str,
        help='the dir to save the predicted label maps (PNG) to')
    parser.add_argument(
        '--show',
        action='store_true',
        help='show prediction results in a window (needs a display; with '
        '--show-dir they are saved as well)')
    parser.add_argument(
        '--show-dir',
        help='the dir to save painted predictions to (in '
        'SHOW_DIR/vis_data/vis_image/)')
    parser.add_argument(
        '--show-interval',
        type=positive_int,
        default=1,
        help='draw every n-th test batch (mmseg draws every 50th; default: '
        '%(default)s)')
    parser.add_argument(
        '--wait-time',
        type=non_negative_float,
        default=2,
        help='seconds each shown prediction stays (default: %(default)s)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        help='override settings of the config, as key=value pairs, e.g. '
        'test_dataloader.batch_size=1 or key="[a,b]" (no white space)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument(
        '--tta', action='store_true', help='test time augmentation')
    # torch.distributed.launch passes --local-rank (torch >= 2.0).
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main():
    test(parse_args())


if __name__ == '__main__':
    main()
