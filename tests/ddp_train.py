"""Train under ``torchrun`` and save this rank's weights (for test_ddp.py).

Usage: torchrun --nproc_per_node=2 tests/ddp_train.py CONFIG WORK_DIR
"""
import os
import os.path as osp
import sys
from argparse import Namespace

import torch
from mmengine.dist import get_rank, get_world_size
from mmengine.model import is_model_wrapper

from mmseg_zs3.apis import train


def main():
    config, work_dir = sys.argv[1:3]
    runner = train(
        Namespace(
            config=config,
            work_dir=work_dir,
            resume=False,
            amp=False,
            cfg_options=None,
            launcher='pytorch'))
    model = runner.model
    torch.save(
        dict(
            world_size=get_world_size(),
            wrapped=is_model_wrapper(model),
            params={
                k: v.detach().cpu()
                for k, v in model.module.named_parameters()
            }), osp.join(work_dir, f'rank{get_rank()}.pth'))


if __name__ == '__main__':
    os.environ.setdefault('LOCAL_RANK', '0')
    main()
