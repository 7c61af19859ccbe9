"""Early checks of a config and a checkpoint, with errors that name the fix.

mmseg lets a misspelt type surface as a ``KeyError`` deep in the registry, a
missing dataset as an empty-dataset error after the model is built, and a
checkpoint with another class count as a ``size mismatch`` *warning* that
leaves a randomly initialised classifier. These checks run before anything is
built and raise one clear exception naming the bad value and the valid ones.
"""
import difflib
import os.path as osp
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from mmengine.config import Config
from mmengine.registry import Registry
from mmengine.utils import import_modules_from_strings

# Which registry builds the ``type`` found under each top-level config key.
# Other keys, and nested configs of another kind (``norm_cfg``, ``loss_decode``,
# ``init_cfg``, ...), are looked up in every mmseg registry.
_TOP_LEVEL_REGISTRY = {
    'model': 'MODELS',
    'tta_model': 'MODELS',
    'train_dataloader': 'DATASETS',
    'val_dataloader': 'DATASETS',
    'test_dataloader': 'DATASETS',
    'default_hooks': 'HOOKS',
    'custom_hooks': 'HOOKS',
    'val_evaluator': 'METRICS',
    'test_evaluator': 'METRICS',
    'optim_wrapper': 'OPTIM_WRAPPERS',
    'param_scheduler': 'PARAM_SCHEDULERS',
    'train_cfg': 'LOOPS',
    'val_cfg': 'LOOPS',
    'test_cfg': 'LOOPS',
    'visualizer': 'VISUALIZERS',
    'vis_backends': 'VISBACKENDS',
    'log_processor': 'LOG_PROCESSORS',
    'model_wrapper_cfg': 'MODEL_WRAPPERS',
}
# Nested keys whose ``type`` belongs to another registry than their parent's.
_NESTED_REGISTRY = {
    'pipeline': 'TRANSFORMS',
    'tta_pipeline': 'TRANSFORMS',
    'transforms': 'TRANSFORMS',
    'sampler': 'DATA_SAMPLERS',
    'batch_sampler': 'DATA_SAMPLERS',
    'optimizer': 'OPTIMIZERS',
    'constructor': 'OPTIM_WRAPPER_CONSTRUCTORS',
    'init_cfg': 'WEIGHT_INITIALIZERS',
}

# The checkpoint checks live in mmseg_zs3.utils (the hooks use them too).
from mmseg_zs3.utils.checkpoint_checks import (  # noqa: E402,F401
    CLASSIFIER_KEY_SUFFIXES, check_checkpoint_num_classes,
    expected_num_classes_from_config, expected_num_classes_from_model)


class ConfigCheckError(ValueError):
    """A config names something that does not exist."""


def _mmseg_registries() -> Dict[str, Registry]:
    import mmseg.registry as registry
    return {
        name: getattr(registry, name)
        for name in dir(registry)
        if name.isupper() and isinstance(getattr(registry, name), Registry)
    }


def _registered_names(registry: Registry) -> List[str]:
    names = set()
    while registry is not None:
        registry.import_from_location()
        names.update(registry.module_dict)
        registry = registry.parent
    return sorted(names)


def iter_config_types(node, path: str = '',
                      registry: Optional[str] = None
                      ) -> Iterator[Tuple[str, str, Optional[str]]]:
    """Yield ``(location, type name, registry name)`` of every string type.

    Args:
        node: A config, dict, list or value.
        path (str): Location of ``node`` in the config, e.g. ``'model'``.
            Defaults to ''.
        registry (str, optional): Name of the mmseg registry that builds
            ``node['type']``, or None when unknown. Defaults to None.
    """
    if isinstance(node, Mapping):
        if isinstance(node.get('type'), str):
            yield f'{path}.type' if path else 'type', node['type'], registry
        for key, value in node.items():
            if key == 'type':
                continue
            if not path:
                child_registry = _TOP_LEVEL_REGISTRY.get(key)
            else:
                child_registry = _NESTED_REGISTRY.get(key)
                if child_registry is None and key in ('dataset', 'datasets'):
                    child_registry = 'DATASETS'
                elif child_registry is None and key in ('backbone', 'neck',
                                                        'decode_head',
                                                        'auxiliary_head'):
                    child_registry = 'MODELS'
            yield from iter_config_types(
                value, f'{path}.{key}' if path else str(key), child_registry)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from iter_config_types(value, f'{path}[{i}]', registry)


def check_config_types(cfg: Config) -> None:
    """Check that every ``type=`` of ``cfg`` resolves in mmseg's registries.

    ``custom_imports`` are imported first, so the plugin's own components
    count. A type is accepted if any mmseg registry (or mmengine's, their
    parent) knows it; the error names the registry expected at that place.

    Args:
        cfg (Config): The config.

    Raises:
        ConfigCheckError: Naming the unknown type, where it is in the config,
            and the closest registered names.
    """
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg['custom_imports'])
    import mmseg.models  # noqa: F401  (registers mmseg's components)
    registries = _mmseg_registries()
    for location, name, expected in iter_config_types(cfg.to_dict()):
        if any(reg.get(name) is not None for reg in registries.values()):
            continue
        registry = registries.get(expected or 'MODELS')
        candidates = _registered_names(registry)
        if expected is None:
            candidates = sorted(
                {n
                 for reg in registries.values()
                 for n in _registered_names(reg)})
        close = difflib.get_close_matches(name, candidates, n=5, cutoff=0.6)
        imports = (cfg.get('custom_imports') or {}).get('imports', [])
        where = (f"mmseg's {expected} registry"
                 if expected else "any of mmseg's registries")
        hint = (f'Close matches: {", ".join(repr(c) for c in close)}.'
                if close else
                f'Registered names include: {", ".join(candidates[:30])}'
                f'{", ..." if len(candidates) > 30 else ""}.')
        raise ConfigCheckError(
            f'Unknown type {name!r} at `{location}` of the config: it is not '
            f'registered in {where} (custom_imports: {imports or "none"}). '
            f'{hint} A component of a plugin must be imported through '
            '`custom_imports = dict(imports=[...])` to be registered.')


def _dataset_configs(node) -> Iterator[dict]:
    """The dataset configs of a dataloader's ``dataset``, wrappers unrolled."""
    if isinstance(node, Mapping):
        inner = [node[k] for k in ('dataset', 'datasets') if k in node]
        if not inner:
            yield node
        for child in inner:
            yield from _dataset_configs(child)
    elif isinstance(node, (list, tuple)):
        for child in node:
            yield from _dataset_configs(child)


def check_data_paths(
    cfg: Config,
    dataloaders: Sequence[str] = ('train_dataloader', 'val_dataloader',
                                  'test_dataloader')
) -> None:
    """Check that the data folders and annotation files of ``cfg`` exist.

    Args:
        cfg (Config): The config.
        dataloaders (Sequence[str]): Dataloader keys to check; absent ones are
            skipped. Defaults to the train, val and test dataloaders.

    Raises:
        FileNotFoundError: Naming the missing path and the config key that
            points to it.
    """
    for key in dataloaders:
        loader = cfg.get(key)
        if not loader or 'dataset' not in loader:
            continue
        for dataset in _dataset_configs(loader['dataset']):
            data_root = dataset.get('data_root') or ''
            if data_root and not osp.isdir(data_root):
                raise FileNotFoundError(
                    f'data_root {data_root!r} of `{key}.dataset` does not '
                    f'exist (as {osp.abspath(data_root)!r}). Prepare the '
                    'dataset there or point `data_root` at it, e.g. '
                    f"--cfg-options {key}.dataset.data_root=PATH (for the "
                    'shapes dataset: `python tools/generate_shapes_dataset.py '
                    f'{data_root}`).')
            prefixes = dict(dataset.get('data_prefix') or {})
            if dataset.get('ann_file'):
                prefixes['ann_file'] = dataset['ann_file']
            for name, prefix in prefixes.items():
                if not prefix:
                    continue
                path = osp.join(data_root, prefix)
                if not osp.exists(path):
                    field = ('ann_file' if name == 'ann_file' else
                             f'data_prefix.{name}')
                    raise FileNotFoundError(
                        f'`{key}.dataset.{field}` points to {path!r}, which '
                        f'does not exist (data_root={data_root!r}, '
                        f'{field}={prefix!r}).')
