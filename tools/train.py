# Train a segmentor: mmseg's tools/train.py, with the logic in mmseg_zs3.apis.
import argparse
import os

from mmseg_zs3.apis import train
from mmseg_zs3.apis.cli_types import CfgOptionsAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        action='store_true',
        default=False,
        help='resume from `load_from` if set (as mmengine does), else from '
        'the latest checkpoint in the work_dir (a truncated newest one is '
        'skipped); in ZS3Net stage 2, where `load_from` is the stage-1 '
        'network, from the latest stage-2 checkpoint of the work_dir if any')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        help='override settings of the config, as key=value pairs, e.g. '
        'train_cfg.max_iters=100 or key="[a,b]" (no white space)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank (torch >= 2.0).
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main():
    train(parse_args())


if __name__ == '__main__':
    main()
