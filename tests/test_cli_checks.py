"""Command-line and config mistakes of tools/train.py, tools/test.py and
tools/demo.py fail before any work, with an error naming the bad value."""
import glob
import importlib
import importlib.util
import os.path as osp
from argparse import Namespace

import pytest
from conftest import REPO, load_tool, write_tiny_config

from mmseg_zs3 import apis
from mmseg_zs3.apis import ConfigCheckError, check_config_types
from mmseg_zs3.apis.checks import accepted_config_keys, check_config_keys
from mmseg_zs3.compat import has_compiled_mmcv_ops

ZS3NET_SHAPES = osp.join(REPO, 'configs', 'zs3',
                         'zs3net_unet-s2-fcn_1xb16-10e_shapes-u4-64x64.py')

_tool = load_tool


@pytest.fixture(scope='module')
def config(tmp_path_factory, shapes_root):
    folder = tmp_path_factory.mktemp('cli_checks')
    return write_tiny_config(
        str(folder / 'cfg.py'), shapes_root, str(folder / 'cfg_work'))


def _train_args(argv):
    return _tool('train').parse_args(argv)


def _test_args(argv):
    return _tool('test').parse_args(argv)


# --cfg-options keys --------------------------------------------------------


def test_cfg_options_typo_of_top_level_key(tmp_path, config):
    work_dir = tmp_path / 'work'
    args = _train_args([
        config, '--work-dir',
        str(work_dir), '--cfg-options', 'load_form=x.pth'
    ])
    with pytest.raises(ConfigCheckError) as e:
        apis.setup_train_cfg(args)
    assert "'load_form'" in str(e.value)
    assert "Did you mean 'load_from'?" in str(e.value)
    assert not work_dir.exists()


def test_cfg_options_runner_keys_not_in_the_config_are_accepted(
        tmp_path, config):
    # keys that mmengine's Runner reads although the config does not set
    # them
    args = _train_args([
        config, '--work-dir',
        str(tmp_path / 'work'), '--cfg-options', 'find_unused_parameters=True',
        'load_from=x.pth', 'resume=False'
    ])
    cfg = apis.setup_train_cfg(args)
    assert cfg.find_unused_parameters is True
    assert cfg.load_from == 'x.pth'


@pytest.mark.parametrize('option, location, close', [
    ('train_cfg.max_iter=3', 'train_cfg.max_iter', 'max_iters'),
    ('train_dataloader.batchsize=2', 'train_dataloader.batchsize',
     'batch_size'),
    ('train_dataloader.dataset.data_roots=x',
     'train_dataloader.dataset.data_roots', 'data_root'),
    ('train_dataloader.sampler.shuffel=False',
     'train_dataloader.sampler.shuffel', 'shuffle'),
    ('model.decode_head.num_clases=5', 'model.decode_head.num_clases',
     'num_classes'),
    ('model.backbone.base_channel=8', 'model.backbone.base_channel',
     'base_channels'),
    ('model.decode_head.loss_decode.loss_weigth=1',
     'model.decode_head.loss_decode.loss_weigth', 'loss_weight'),
    ('model.data_preprocessor.pad_vall=0', 'model.data_preprocessor.pad_vall',
     'pad_val'),
])
def test_unknown_key_of_loop_dataloader_or_model(tmp_path, config, option,
                                                 location, close):
    work_dir = tmp_path / 'work'
    args = _train_args(
        [config, '--work-dir',
         str(work_dir), '--cfg-options', option])
    with pytest.raises(ConfigCheckError) as e:
        apis.setup_train_cfg(args)
    message = str(e.value)
    key = location.rsplit('.', 1)[1]
    assert f"'{key}' at `{location}`" in message
    assert f"did you mean '{close}'?" in message
    assert not work_dir.exists()  # nothing built or written


def test_unknown_key_of_test_loop_and_test_dataloader(tmp_path, config,
                                                      trained_checkpoint):
    for option, location in [('test_cfg.fp=1', 'test_cfg.fp'),
                             ('test_dataloader.num_worker=0',
                              'test_dataloader.num_worker')]:
        args = _test_args([
            config, trained_checkpoint, '--work-dir',
            str(tmp_path / 'work'), '--cfg-options', option
        ])
        with pytest.raises(ConfigCheckError, match=f'at `{location}`'):
            apis.setup_test_cfg(args)


def test_unknown_key_nested_in_a_zs3_model(tmp_path, shapes_root):
    from conftest import tiny_config
    cfg = tiny_config(shapes_root, str(tmp_path / 'work'), ZS3NET_SHAPES)
    check_config_keys(cfg, ['model'])
    cfg.model.decode_head.head.num_clases = 17
    with pytest.raises(ConfigCheckError) as e:
        check_config_keys(cfg, ['model'])
    assert '`model.decode_head.head.num_clases`' in str(e.value)
    assert 'FCNHead' in str(e.value)
    cfg = tiny_config(shapes_root, str(tmp_path / 'work'), ZS3NET_SHAPES)
    cfg.model.generative_head.generator.noise_dimm = 3
    with pytest.raises(ConfigCheckError, match="did you mean 'noise_dim'"):
        check_config_keys(cfg, ['model'])


def test_train_cfg_without_type_or_by_epoch(config):
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    cfg.train_cfg = dict(max_iters=3)
    with pytest.raises(
            ConfigCheckError, match='neither `type` nor `by_epoch`'):
        check_config_keys(cfg)
    cfg.train_cfg = dict(by_epoch=False, max_iters=3, val_interval=3)
    check_config_keys(cfg)  # IterBasedTrainLoop, by_epoch taken out
    cfg.train_cfg = dict(by_epoch=False, max_epochs=3)
    with pytest.raises(ConfigCheckError, match='IterBasedTrainLoop'):
        check_config_keys(cfg)


class _Base:

    def __init__(self, a=1, init_cfg=None):
        pass


class _PassesOn(_Base):

    def __init__(self, b=2, **kwargs):
        super().__init__(**kwargs)


class _PassesOnExplicitly(_Base):

    def __init__(self, c=3, **kwargs):
        _Base.__init__(self, **kwargs)


class _ReadsOneThenPassesOn(_PassesOn):

    def __init__(self, **kwargs):
        self.d = kwargs.pop('d', 4)
        super().__init__(**kwargs)


class _KeepsThem(_Base):

    def __init__(self, e=5, **kwargs):
        super().__init__()
        self.extra = kwargs


def test_accepted_keys_follow_kwargs_up_the_mro():
    assert accepted_config_keys(_PassesOn) == {'a', 'b', 'init_cfg'}
    assert accepted_config_keys(_PassesOnExplicitly) == {'a', 'c', 'init_cfg'}
    assert accepted_config_keys(_ReadsOneThenPassesOn) == {
        'a', 'b', 'd', 'init_cfg'
    }
    assert accepted_config_keys(_KeepsThem) is None  # not checkable: skipped
    from mmseg.registry import MODELS
    fcn = accepted_config_keys(MODELS.get('FCNHead'))
    assert {'num_convs', 'num_classes', 'in_channels', 'loss_decode'} <= fcn


def test_shipped_configs_have_no_unknown_keys():
    """Every config under configs/zs3 passes (test_configs.py builds each
    one); here the check of the shapes configs, which the tools run."""
    from mmengine.config import Config
    for path in glob.glob(osp.join(REPO, 'configs/zs3/*shapes*.py')):
        check_config_keys(Config.fromfile(path))


@pytest.mark.parametrize('option, location, minimum', [
    ('train_dataloader.batch_size=0', 'train_dataloader.batch_size', 1),
    ('train_dataloader.num_workers=-1', 'train_dataloader.num_workers', 0),
    ('train_cfg.max_iters=0', 'train_cfg.max_iters', 1),
])
def test_invalid_counts_of_loop_and_dataloader(tmp_path, config, option,
                                               location, minimum):
    args = _train_args([
        config, '--work-dir',
        str(tmp_path / 'work'), '--cfg-options', option
    ])
    with pytest.raises(ConfigCheckError) as e:
        apis.setup_train_cfg(args)
    value = option.split('=')[1]
    assert f'`{location}` is {value}; expected an integer >= {minimum}' in \
        str(e.value)


def test_cfg_options_item_without_value(config, capsys):
    for item in ('load_from', '=3'):
        with pytest.raises(SystemExit):
            _train_args([config, '--cfg-options', item])
        err = capsys.readouterr().err
        assert f"argument --cfg-options: invalid value '{item}'" in err


def test_config_file_that_mmengine_cannot_read(tmp_path):
    bad = tmp_path / 'bad.py'
    bad.write_text('model = dict(\n')
    with pytest.raises(ConfigCheckError) as e:
        apis.load_config(str(bad), work_dir=str(tmp_path / 'w'))
    assert str(bad) in str(e.value) and 'not valid Python' in str(e.value)
    text = tmp_path / 'cfg.txt'
    text.write_text('a = 1\n')
    with pytest.raises(ValueError, match=r"'.*cfg\.txt' is not a \.py"):
        apis.load_config(str(text), work_dir=str(tmp_path / 'w'))


def test_checkpoint_that_is_a_folder(tmp_path, config):
    args = _test_args(
        [config, str(tmp_path), '--work-dir',
         str(tmp_path / 'w')])
    with pytest.raises(IsADirectoryError, match=f"'{tmp_path}' is a folder"):
        apis.setup_test_cfg(args)


# work dir, --amp, --launcher -------------------------------------------------


def test_empty_work_dir(tmp_path, config, trained_checkpoint, monkeypatch):
    # mmengine would write the checkpoints into the current folder
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="--work-dir is empty"):
        apis.setup_train_cfg(_train_args([config, '--work-dir', '']))
    for flag in ('--out', '--show-dir'):
        args = _test_args([
            config, trained_checkpoint, '--work-dir',
            str(tmp_path / 'w'), flag, ''
        ])
        with pytest.raises(ValueError, match=f'{flag} is empty'):
            apis.setup_test_cfg(args)
    assert list(tmp_path.iterdir()) == []


def test_work_dir_that_is_a_file(tmp_path, config):
    afile = tmp_path / 'afile'
    afile.write_text('user data\n')
    for work_dir, expected in [(afile, 'is a file'),
                               (afile / 'sub', f"'{afile}' is a file")]:
        args = _train_args([config, '--work-dir', str(work_dir)])
        with pytest.raises(NotADirectoryError) as e:
            apis.setup_train_cfg(args)
        assert f"--work-dir '{work_dir}'" in str(e.value)
        assert expected in str(e.value)
    assert afile.read_text() == 'user data\n'


def test_work_dir_in_an_unwritable_place(config, trained_checkpoint):
    # /proc takes no new files, for root too (a chmod would not stop root)
    work_dir = '/proc/zs3_work_dir'
    with pytest.raises(PermissionError) as e:
        apis.setup_train_cfg(_train_args([config, '--work-dir', work_dir]))
    assert f"--work-dir '{work_dir}' is not writable" in str(e.value)
    with pytest.raises(PermissionError, match=work_dir):
        apis.setup_test_cfg(
            _test_args([config, trained_checkpoint, '--work-dir', work_dir]))


def test_amp_needs_a_gpu(tmp_path, config):
    from mmseg_zs3.apis.train import amp_device_available
    args = _train_args([config, '--work-dir', str(tmp_path / 'w'), '--amp'])
    if amp_device_available():
        assert apis.setup_train_cfg(
            args).optim_wrapper.type == 'AmpOptimWrapper'
        return
    with pytest.raises(ValueError) as e:
        apis.setup_train_cfg(args)
    assert '--amp' in str(e.value) and 'CPU only' in str(e.value)
    # the same for a config that asks for AMP itself
    args = _train_args([
        config, '--work-dir',
        str(tmp_path / 'w'), '--cfg-options',
        'optim_wrapper.type=AmpOptimWrapper'
    ])
    with pytest.raises(ValueError, match="type='AmpOptimWrapper'"):
        apis.setup_train_cfg(args)


_TORCHRUN_ENV = ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')


def test_launcher_pytorch_without_torchrun(tmp_path, config, monkeypatch):
    for name in _TORCHRUN_ENV:
        monkeypatch.delenv(name, raising=False)
    args = _train_args(
        [config, '--work-dir',
         str(tmp_path / 'w'), '--launcher', 'pytorch'])
    with pytest.raises(ValueError) as e:
        apis.setup_train_cfg(args)
    assert '--launcher pytorch' in str(e.value)
    assert 'torchrun' in str(e.value)
    assert 'RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT' in str(e.value)
    monkeypatch.setenv('RANK', 'zero')
    for name, value in [('WORLD_SIZE', '1'), ('MASTER_ADDR', '127.0.0.1'),
                        ('MASTER_PORT', '29500')]:
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match="RANK='zero'"):
        apis.setup_train_cfg(args)
    monkeypatch.setenv('RANK', '0')
    assert apis.setup_train_cfg(args).launcher == 'pytorch'


def test_launcher_given_with_cfg_options(tmp_path, config, monkeypatch):
    for name in _TORCHRUN_ENV:
        monkeypatch.delenv(name, raising=False)
    args = _train_args([
        config, '--work-dir',
        str(tmp_path / 'w'), '--cfg-options', 'launcher=pytorch'
    ])
    with pytest.raises(ValueError, match='--launcher pytorch needs'):
        apis.setup_train_cfg(args)


@pytest.mark.parametrize('launcher, variable',
                         [('slurm', 'SLURM_PROCID'),
                          ('mpi', 'OMPI_COMM_WORLD_RANK')])
def test_launcher_slurm_and_mpi_without_their_environment(
        tmp_path, config, monkeypatch, launcher, variable):
    monkeypatch.delenv(variable, raising=False)
    args = _train_args(
        [config, '--work-dir',
         str(tmp_path / 'w'), '--launcher', launcher])
    with pytest.raises(ValueError) as e:
        apis.setup_train_cfg(args)
    assert f'--launcher {launcher}' in str(e.value)
    assert variable in str(e.value)


# compiled mmcv ops ----------------------------------------------------------


def test_compiled_only_op_names_full_mmcv(tmp_path, shapes_root):
    from conftest import tiny_config
    cfg = tiny_config(shapes_root, str(tmp_path / 'work'))
    cfg.model.backbone.conv_cfg = dict(type='DCNv2')
    if has_compiled_mmcv_ops():
        check_config_types(cfg)  # full mmcv registers it
        return
    with pytest.raises(ConfigCheckError) as e:
        check_config_types(cfg)
    message = str(e.value)
    assert "'DCNv2' at `model.backbone.conv_cfg.type`" in message
    assert 'mmcv-lite' in message and 'Install full mmcv' in message
    assert 'custom_imports' not in message


def test_registered_head_that_needs_a_compiled_op(tmp_path, shapes_root):
    from conftest import tiny_config
    cfg = tiny_config(shapes_root, str(tmp_path / 'work'))
    cfg.model.decode_head.type = 'PSAHead'
    cfg.model.decode_head.mask_size = (16, 16)
    if has_compiled_mmcv_ops():
        check_config_types(cfg)
        return
    with pytest.raises(ConfigCheckError) as e:
        check_config_types(cfg)
    assert "'PSAHead' at `model.decode_head.type`" in str(e.value)
    assert 'mmcv.ops.PSAMask' in str(e.value)
    assert 'Install full mmcv' in str(e.value)
    # a head whose mmcv op is pure Python is fine under mmcv-lite too
    cfg.model.decode_head.type = 'CCHead'
    cfg.model.decode_head.pop('mask_size')
    check_config_types(cfg)


# tools/test.py --show, --show-dir --------------------------------------------


def test_show_without_a_display(tmp_path, config, trained_checkpoint,
                                monkeypatch):
    test_api = importlib.import_module('mmseg_zs3.apis.test')
    monkeypatch.setattr(test_api, 'display_backend', lambda: 'agg')
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('WAYLAND_DISPLAY', raising=False)
    work_dir = tmp_path / 'work'
    for extra in ([], ['--show-dir', str(tmp_path / 'vis')]):
        args = _test_args([
            config, trained_checkpoint, '--work-dir',
            str(work_dir), '--show'
        ] + extra)
        with pytest.raises(RuntimeError) as e:
            apis.setup_test_cfg(args)
        assert '--show' in str(e.value) and "'agg'" in str(e.value)
        assert 'DISPLAY is not set' in str(e.value)
    assert not work_dir.exists()


def test_show_and_show_dir_show_and_save(tmp_path, config, trained_checkpoint,
                                         monkeypatch):
    test_api = importlib.import_module('mmseg_zs3.apis.test')
    from mmengine.visualization import Visualizer
    shown = []
    monkeypatch.setattr(test_api, 'display_backend', lambda: 'tkagg')
    monkeypatch.setattr(
        Visualizer,
        'show',
        lambda self, img=None, win_name='', **kw: shown.append(win_name))
    vis = tmp_path / 'vis'
    args = _test_args([
        config, trained_checkpoint, '--work-dir',
        str(tmp_path / 'work'), '--show', '--show-dir',
        str(vis), '--wait-time', '0', '--cfg-options',
        f'visualizer.name=vis_show_{tmp_path.name}'
    ])
    cfg = apis.setup_test_cfg(args)
    assert cfg.default_hooks.visualization.type == \
        'ShowAndSaveVisualizationHook'
    apis.test(args)
    drawn = glob.glob(osp.join(str(vis), 'vis_data', 'vis_image', '*.png'))
    assert len(drawn) == 8  # every test image saved ...
    assert len(shown) == 8  # ... and shown


def test_show_interval_and_wait_time_are_checked_by_argparse(
        config, trained_checkpoint, capsys):
    for flag, value in [('--show-interval', '0'), ('--wait-time', '-1')]:
        with pytest.raises(SystemExit):
            _test_args([config, trained_checkpoint, flag, value])
        assert f'argument {flag}: invalid value {value}' in \
            capsys.readouterr().err


# tools/demo.py ---------------------------------------------------------------


@pytest.mark.parametrize('flag, value, expected', [
    ('--stage1-iters', '0', 'an integer >= 1'),
    ('--stage1-iters', '-5', 'an integer >= 1'),
    ('--stage2-epochs', '0', 'an integer >= 1'),
    ('--num-workers', '-1', 'an integer >= 0'),
    ('--num-train', '0', 'an integer >= 1'),
    ('--num-val', '0', 'an integer >= 1'),
    ('--num-calib', 'many', 'an integer >= 1'),
    ('--seed', '-1', 'an integer >= 0'),
    ('--image-size', '40', 'a positive multiple of 16'),
])
def test_demo_flags_are_checked_by_argparse(capsys, flag, value, expected):
    with pytest.raises(SystemExit) as e:
        _tool('demo').parse_args([flag, value])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f'argument {flag}: invalid value' in err and value in err
    assert expected in err


@pytest.mark.parametrize('name, value', [('stage1_iters', 0),
                                         ('stage1_iters', -5),
                                         ('stage2_epochs', 0),
                                         ('num_workers', -1), ('num_train', 0),
                                         ('num_calib', 0), ('seed', -1),
                                         ('num_val', 2.5)])
def test_run_demo_checks_its_arguments_first(tmp_path, name, value):
    from mmseg_zs3.apis.demo import run_demo
    kwargs = {name: value}
    with pytest.raises(ValueError) as e:
        run_demo(
            work_dir=str(tmp_path / 'demo'),
            data_root=str(tmp_path / 'data'),
            **kwargs)
    assert f'{name}={value!r}' in str(e.value)
    assert '--' + name.replace('_', '-') in str(e.value)
    assert not (tmp_path / 'data').exists()  # refused before any work
    assert not (tmp_path / 'demo').exists()


def test_demo_rows(tmp_path):
    from mmseg_zs3.apis.demo import run_demo
    with pytest.raises(ValueError, match="'zs3net'"):
        run_demo(
            work_dir=str(tmp_path / 'demo'),
            data_root=str(tmp_path / 'data'),
            rows=('zs3net', ))
    with pytest.raises(ValueError, match="'deviSE'"):
        run_demo(
            work_dir=str(tmp_path / 'demo'),
            data_root=str(tmp_path / 'data'),
            rows=('deviSE', ))
    assert not (tmp_path / 'data').exists()


def test_demo_data_root_with_other_parameters(tmp_path):
    from mmseg_zs3.apis.demo import run_demo
    from mmseg_zs3.datasets import generate_shapes_dataset
    data_root = tmp_path / 'data'
    generate_shapes_dataset(
        str(data_root), num_train=2, num_val=1, num_calib=1, image_size=32)
    before = sorted(p.name for p in data_root.rglob('*'))
    with pytest.raises(FileExistsError) as e:
        run_demo(
            work_dir=str(tmp_path / 'demo'),
            data_root=str(data_root),
            num_train=3,
            num_val=1,
            num_calib=1,
            image_size=32)
    message = str(e.value)
    assert f"--data-root '{data_root}'" in message
    assert '--num-train 2 (this run: 3)' in message
    assert '--overwrite' not in message  # the demo has no such flag
    assert sorted(p.name for p in data_root.rglob('*')) == before
    assert not (tmp_path / 'demo').exists()
    # a folder of other files is refused too, and left as it is
    other = tmp_path / 'other'
    other.mkdir()
    (other / 'notes.txt').write_text('mine\n')
    with pytest.raises(FileExistsError, match='no shapes dataset'):
        run_demo(work_dir=str(tmp_path / 'demo'), data_root=str(other))
    assert (other / 'notes.txt').read_text() == 'mine\n'


def test_demo_work_dir_that_is_a_file(tmp_path):
    from mmseg_zs3.apis.demo import run_demo
    afile = tmp_path / 'afile'
    afile.write_text('x')
    with pytest.raises(NotADirectoryError, match=f"--work-dir '{afile}'"):
        run_demo(work_dir=str(afile), data_root=str(tmp_path / 'data'))
    assert not (tmp_path / 'data').exists()


def test_namespace_without_show_flags_still_works(tmp_path, config,
                                                  trained_checkpoint):
    """The API takes a Namespace without the optional --show flags."""
    args = Namespace(
        config=config,
        checkpoint=trained_checkpoint,
        work_dir=str(tmp_path / 'w'),
        out=None,
        cfg_options=None,
        launcher='none')
    assert apis.setup_test_cfg(args).load_from == trained_checkpoint
