"""Train under ``torchrun`` and save what each rank ended with (for
test_ddp.py and test_stage2_ddp_resume.py).

Usage: torchrun --nproc_per_node=2 tests/ddp_train.py CONFIG WORK_DIR [RUNS]

Trains ``RUNS`` times (default 1) in the same work dir, one run after the
other, and saves ``rank{r}_run{k}.pth`` for each: the world size, whether the
model was DDP-wrapped, its parameters, the logged losses and, for the stage-2
cache loop, whether the run reused the feature cache.
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
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    torch.set_num_threads(1)
    # as the tests' fast_runs fixture: no yapf formatting of the config
    # (~0.7 s each time mmengine prints or saves it)
    import mmengine.config.config
    mmengine.config.config.FormatCode = lambda text, **kwargs: (text, False)
    for k in range(runs):
        runner = train(
            Namespace(
                config=config,
                work_dir=work_dir,
                resume=False,
                amp=False,
                cfg_options=None,
                launcher='pytorch'))
        model = runner.model
        loop = runner.train_loop
        torch.save(
            dict(
                world_size=get_world_size(),
                wrapped=is_model_wrapper(model),
                params={
                    k: v.detach().cpu()
                    for k, v in model.module.named_parameters()
                },
                losses=[
                    float(x) for x in runner.message_hub.get_scalar(
                        'train/loss').data[0]
                ],
                reused_cache=getattr(loop, 'cache_seconds', 0) is None),
            osp.join(work_dir, f'rank{get_rank()}_run{k}.pth'))


if __name__ == '__main__':
    os.environ.setdefault('LOCAL_RANK', '0')
    main()
