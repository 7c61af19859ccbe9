"""The configs install with the package: ``_base_ = ['mmseg_zs3::...']``
resolves as ``mmseg::`` does, in a checkout (editable install) and after a
plain, non-editable ``pip install`` with no checkout in reach."""
import os
import os.path as osp
import shutil
import subprocess
import sys
import textwrap

from conftest import REPO
from mmengine.config import Config

from mmseg_zs3.embeddings import build_class_embeddings, load_packaged_glove
from mmseg_zs3.utils.config_package import installed_config_dir

SHAPES_STAGE1 = 'zs3/seen-only_unet-s2-fcn_1xb16-1800it_shapes-u4-64x64.py'
# what a source distribution leaves out
_NOT_SHIPPED = shutil.ignore_patterns('.git', '.venv', 'work_dirs', 'data',
                                      'build', '*.egg-info', '__pycache__',
                                      '.pytest_cache')


def _user_config(path: str, body: str) -> str:
    with open(path, 'w', encoding='utf-8') as f:
        f.write(textwrap.dedent(body))
    return path


def test_checkout_resolves_to_the_repository_configs(tmp_path):
    """In the checkout the installed folder is a link to configs/, so a
    config edited in the repository is the one ``mmseg_zs3::`` reads."""
    assert osp.realpath(installed_config_dir()) == \
        osp.realpath(osp.join(REPO, 'configs'))
    base = osp.join(installed_config_dir(), SHAPES_STAGE1)
    assert osp.realpath(base) == osp.join(REPO, 'configs', SHAPES_STAGE1)
    cfg = Config.fromfile(
        _user_config(
            str(tmp_path / 'mine.py'), f"""\
            _base_ = ['mmseg_zs3::{SHAPES_STAGE1}']
            model = dict(decode_head=dict(channels=32))
            """))
    assert cfg.model.backbone.type == 'UNet'
    assert cfg.model.decode_head.channels == 32
    assert cfg.train_cfg.max_iters == 1800


def test_pip_installed_package_trains_from_its_configs(tmp_path, shapes_root):
    """A non-editable ``pip install`` of a copy of the repository into a
    fresh folder; a config outside any checkout inherits one of its shapes
    configs through ``mmseg_zs3::`` and trains two iterations."""
    src = str(tmp_path / 'src')
    site = str(tmp_path / 'site')
    shutil.copytree(REPO, src, symlinks=True, ignore=_NOT_SHIPPED)
    pip = subprocess.run([
        sys.executable, '-m', 'pip', 'install', '-q', '--no-deps',
        '--no-build-isolation', '--target', site, src
    ],
                         capture_output=True,
                         text=True)
    assert pip.returncode == 0, pip.stderr
    installed = osp.join(site, 'mmseg_zs3', '.mim', 'configs', SHAPES_STAGE1)
    assert osp.isfile(installed) and not osp.islink(installed)
    assert osp.isfile(osp.join(site, 'mmseg_zs3', '.mim', 'model-index.yml'))
    # the installed copy must not lean on the source folder
    shutil.rmtree(src)

    run_dir = tmp_path / 'elsewhere'
    run_dir.mkdir()
    # stage 1's embedding auxiliary head reads the class embeddings
    embedding_file = str(run_dir / 'glove.npz')
    build_class_embeddings(
        'ZS3ShapesDataset', load_packaged_glove(),
        normalize='l2').save(embedding_file)
    config = _user_config(
        str(run_dir / 'my_stage1.py'), f"""\
        _base_ = ['mmseg_zs3::{SHAPES_STAGE1}']
        work_dir = {str(run_dir / 'work')!r}
        train_dataloader = dict(
            batch_size=2,
            num_workers=0,
            persistent_workers=False,
            dataset=dict(dataset=dict(data_root={shapes_root!r})))
        model = dict(
            auxiliary_head=dict(
                classifier=dict(
                    class_embedding=dict(embedding_file={embedding_file!r}))))
        train_cfg = dict(max_iters=2, val_interval=2)
        val_cfg = None
        val_dataloader = None
        val_evaluator = None
        test_cfg = None
        test_dataloader = None
        test_evaluator = None
        default_hooks = dict(
            logger=dict(interval=1), checkpoint=dict(interval=2))
        """)
    script = textwrap.dedent(f"""\
        import os.path as osp
        import mmseg_zs3
        from mmengine.config import Config
        from mmengine.runner import Runner
        assert mmseg_zs3.__file__.startswith({site!r}), mmseg_zs3.__file__
        cfg = Config.fromfile({config!r})
        assert {installed!r} in cfg.text, cfg.text[:500]
        runner = Runner.from_cfg(cfg)
        runner.train()
        print('iterations', runner.iter)
        """)
    env = dict(
        os.environ, PYTHONPATH=site, MMSEG_ZS3_CACHE=str(tmp_path / 'cache'))
    proc = subprocess.run([sys.executable, '-c', script],
                          capture_output=True,
                          text=True,
                          cwd=str(run_dir),
                          env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'iterations 2' in proc.stdout
    assert osp.isfile(run_dir / 'work' / 'iter_2.pth')
