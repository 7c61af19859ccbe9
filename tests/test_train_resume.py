"""Train, resume and load checkpoints with mmengine's Runner."""
import os.path as osp
import shutil

import numpy as np
import torch
from conftest import tiny_config
from mmengine.runner import Runner


def _losses(runner):
    return np.asarray(runner.message_hub.get_scalar('train/loss').data[0])


def _train(cfg):
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


def test_resume_reproduces_uninterrupted_run(shapes_root, tiny_run, tmp_path):
    # Uninterrupted: 4 iterations, checkpoints at 2 and 4.
    full_dir = tiny_run['work_dir']
    full_losses = tiny_run['losses']
    assert len(full_losses) == 4
    assert osp.isfile(osp.join(full_dir, 'iter_2.pth'))

    # Interrupted at iteration 2: the work dir holds only iter_2.pth, which
    # `--resume` (resume=True, no load_from) finds through `last_checkpoint`.
    resume_dir = tmp_path / 'resumed'
    resume_dir.mkdir()
    shutil.copy(osp.join(full_dir, 'iter_2.pth'), resume_dir / 'iter_2.pth')
    (resume_dir / 'last_checkpoint').write_text(str(resume_dir / 'iter_2.pth'))
    cfg = tiny_config(shapes_root, str(resume_dir))
    cfg.resume = True
    resumed = _train(cfg)
    assert resumed.iter == 4
    # The message hub restored from the checkpoint holds iterations 1-2; the
    # resumed run appends 3-4.
    np.testing.assert_allclose(_losses(resumed), full_losses, rtol=1e-5)

    final_full = torch.load(osp.join(full_dir, 'iter_4.pth'))['state_dict']
    final_resumed = torch.load(str(resume_dir / 'iter_4.pth'))['state_dict']
    for key, value in final_full.items():
        torch.testing.assert_close(final_resumed[key], value, msg=key)


def test_load_from_and_init_model(shapes_root, trained_checkpoint, tmp_path):
    checkpoint = trained_checkpoint
    saved = torch.load(checkpoint)['state_dict']

    # load_from: a test run through the Runner loads the weights.
    cfg = tiny_config(shapes_root, str(tmp_path / 'test'))
    cfg.load_from = checkpoint
    runner = Runner.from_cfg(cfg)
    runner.load_or_resume()
    loaded = runner.model.state_dict()
    for key, value in saved.items():
        torch.testing.assert_close(loaded[key], value, msg=key)

    # mmseg.apis.init_model, and an inference with it.
    from mmseg.apis import inference_model, init_model
    model = init_model(
        tiny_config(shapes_root, str(tmp_path / 'init')),
        checkpoint,
        device='cpu')
    for key, value in saved.items():
        torch.testing.assert_close(model.state_dict()[key], value, msg=key)
    image = np.zeros((64, 64, 3), np.uint8)
    result = inference_model(model, image)
    assert result.pred_sem_seg.data.shape == (1, 64, 64)
