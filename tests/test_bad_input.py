"""Bad input fails early with an error naming the bad value and the fix."""
import os.path as osp
from argparse import Namespace

import pytest
from conftest import REPO, write_tiny_config
from mmengine.config import Config
from mmengine.runner import Runner

from mmseg_zs3 import apis
from mmseg_zs3.apis import ConfigCheckError, check_config_types

SHAPES_SEEN_ONLY = osp.join(
    REPO, 'configs', 'zs3',
    'seen-only_unet-s2-fcn_1xb16-1800it_shapes-u4-64x64.py')


def _train_args(config, work_dir):
    return Namespace(
        config=config,
        work_dir=work_dir,
        resume=False,
        amp=False,
        cfg_options=None,
        launcher='none')


def _tiny(tmp_path, shapes_root):
    from conftest import tiny_config
    return tiny_config(shapes_root, str(tmp_path / 'work'))


def test_unregistered_type_of_ours(tmp_path, shapes_root):
    cfg = _tiny(tmp_path, shapes_root)
    cfg.train_dataloader.dataset.type = 'ZS3ShapeDataset'
    path = str(tmp_path / 'bad.py')
    cfg.dump(path)
    with pytest.raises(ConfigCheckError) as e:
        apis.setup_train_cfg(_train_args(path, str(tmp_path / 'work')))
    message = str(e.value)
    assert "'ZS3ShapeDataset'" in message
    assert 'train_dataloader.dataset.type' in message
    assert "'ZS3ShapesDataset'" in message  # the close match
    assert 'DATASETS' in message


def test_unregistered_hook_and_nested_model_type(tmp_path, shapes_root):
    cfg = _tiny(tmp_path, shapes_root)
    cfg.custom_hooks = [dict(type='CheckpointClassCountHok')]
    with pytest.raises(ConfigCheckError, match="'CheckpointClassCountHook'"):
        check_config_types(cfg)
    cfg = _tiny(tmp_path, shapes_root)
    cfg.model.decode_head.loss_decode.type = 'CrossEntropyLos'
    with pytest.raises(ConfigCheckError) as e:
        check_config_types(cfg)
    assert 'model.decode_head.loss_decode.type' in str(e.value)
    assert "'CrossEntropyLoss'" in str(e.value)


def test_missing_data_root(tmp_path, shapes_root):
    path = write_tiny_config(
        str(tmp_path / 'cfg.py'), str(tmp_path / 'no_such_data'),
        str(tmp_path / 'work'))
    with pytest.raises(FileNotFoundError, match='no_such_data'):
        apis.setup_train_cfg(_train_args(path, str(tmp_path / 'work')))


def test_missing_data_prefix(tmp_path, shapes_root):
    cfg = _tiny(tmp_path, shapes_root)
    cfg.train_dataloader.dataset.data_prefix.img_path = 'img_dir/trian'
    with pytest.raises(FileNotFoundError, match='img_dir/trian'):
        apis.check_data_paths(cfg)


def test_checkpoint_class_count_mismatch_with_runner(tmp_path, shapes_root,
                                                     trained_checkpoint):
    """As mmseg's unmodified tools/test.py does: load_from + Runner.test()."""
    cfg = _tiny(tmp_path, shapes_root)
    cfg.model.decode_head.num_classes = 5
    cfg.load_from = trained_checkpoint
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError) as e:
        runner.test()
    assert '17 classes' in str(e.value) and '5 classes' in str(e.value)
    assert trained_checkpoint in str(e.value)


def test_checkpoint_class_count_mismatch_with_test_tool(
        tmp_path, shapes_root, trained_checkpoint):
    path = str(tmp_path / 'cfg.py')
    cfg = _tiny(tmp_path, shapes_root)
    cfg.model.decode_head.num_classes = 5
    cfg.dump(path)
    args = Namespace(
        config=path,
        checkpoint=trained_checkpoint,
        work_dir=str(tmp_path / 'work'),
        out=None,
        show=False,
        show_dir=None,
        cfg_options=None,
        launcher='none',
        tta=False)
    with pytest.raises(ValueError, match='17 classes'):
        apis.test(args)
    args.checkpoint = str(tmp_path / 'missing.pth')
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        apis.setup_test_cfg(args)


def test_checkpoint_class_count_from_config():
    import torch
    expected = apis.expected_num_classes_from_config(
        dict(decode_head=dict(num_classes=17)))
    state = {'module.decode_head.conv_seg.weight': torch.zeros(5, 4, 1, 1)}
    with pytest.raises(ValueError, match='5 classes.*17 classes'):
        apis.check_checkpoint_num_classes(dict(state_dict=state), expected)


def _shapes_seen_only(data_root, work_dir):
    """The demo's stage-1 config on ``data_root``, as a user sets it."""
    cfg = Config.fromfile(SHAPES_SEEN_ONLY)
    cfg.work_dir = work_dir
    cfg.train_dataloader.dataset.dataset.data_root = data_root
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    return cfg


def test_missing_data_root_of_a_wrapped_dataset_names_its_key(
        tmp_path, shapes_root):
    """The seen-only configs wrap the dataset (SeenOnlyDataset): the hint
    names the key that holds data_root, one that the key check accepts."""
    cfg = _shapes_seen_only(
        str(tmp_path / 'no_such_data'), str(tmp_path / 'work'))
    with pytest.raises(FileNotFoundError) as e:
        apis.check_data_paths(cfg)
    assert ('--cfg-options train_dataloader.dataset.dataset.data_root=PATH'
            in str(e.value))
    cfg.merge_from_dict(
        {'train_dataloader.dataset.dataset.data_root': shapes_root})
    apis.check_data_paths(cfg)
    apis.check_config_keys(cfg, ['train_dataloader'])


def test_missing_class_embedding_file_named_with_its_key(
        tmp_path, shapes_root):
    """Stage 1's embedding auxiliary head needs its file to train: refused
    before the Runner is built, naming the key to set."""
    work_dir = str(tmp_path / 'work')
    cfg = _shapes_seen_only(shapes_root, work_dir)
    key = 'model.auxiliary_head.classifier.class_embedding.embedding_file'
    cfg.merge_from_dict({key: str(tmp_path / 'missing.npz')})
    path = str(tmp_path / 'cfg.py')
    cfg.dump(path)
    with pytest.raises(FileNotFoundError) as e:
        apis.setup_train_cfg(_train_args(path, work_dir))
    assert 'missing.npz' in str(e.value) and key in str(e.value)
    assert not osp.exists(work_dir)  # nothing written
    cfg.merge_from_dict(
        {key: osp.join(shapes_root, 'class_embeddings_glove-6B-50d.npz')})
    apis.check_class_embedding_files(cfg)
