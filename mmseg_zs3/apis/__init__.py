"""Entry points behind ``tools/train.py`` and ``tools/test.py``, and the early
config and checkpoint checks they run."""
from .checks import (ConfigCheckError, check_cfg_options_keys,
                     check_checkpoint_num_classes, check_class_embedding_files,
                     check_config_keys, check_config_types,
                     check_config_values, check_data_paths, check_work_dir,
                     expected_num_classes_from_config,
                     expected_num_classes_from_model)
from .inference import (MMSegInferencer, inference_model, init_model,
                        show_result_pyplot)
from .runner_cfg import load_config
from .test import setup_test_cfg, test
from .train import build_runner, setup_train_cfg, train

__all__ = [
    'ConfigCheckError', 'build_runner', 'check_cfg_options_keys',
    'check_checkpoint_num_classes', 'check_class_embedding_files',
    'check_config_keys', 'check_config_types', 'check_config_values',
    'check_data_paths', 'check_work_dir', 'expected_num_classes_from_config',
    'expected_num_classes_from_model', 'load_config', 'setup_test_cfg',
    'setup_train_cfg', 'test', 'train'
]

__all__ = [
    'ConfigCheckError', 'check_cfg_options_keys',
    'check_checkpoint_num_classes', 'check_class_embedding_files',
    'check_config_keys', 'check_config_types', 'check_config_values',
    'check_data_paths', 'check_work_dir', 'expected_num_classes_from_config',
    'expected_num_classes_from_model', 'MMSegInferencer', 'inference_model',
    'init_model', 'show_result_pyplot', 'load_config', 'setup_test_cfg',
    'test', 'build_runner', 'setup_train_cfg', 'train'
]
