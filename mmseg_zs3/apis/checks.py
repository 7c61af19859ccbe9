"""Early checks of a config and a checkpoint, with errors that name the fix.

mmseg lets a misspelt type surface as a ``KeyError`` deep in the registry, a
missing dataset as an empty-dataset error after the model is built, and a
checkpoint with another class count as a ``size mismatch`` *warning* that
leaves a randomly initialised classifier. These checks run before anything is
built and raise one clear exception naming the bad value and the valid ones.
"""
import ast
import difflib
import functools
import glob
import importlib
import inspect
import os
import os.path as osp
import re
import tempfile
import textwrap
from typing import (Dict, FrozenSet, Iterator, List, Mapping, Optional,
                    Sequence, Tuple)

from mmengine.config import Config
from mmengine.registry import Registry
from mmengine.utils import import_modules_from_strings

from mmseg_zs3.compat import MMCV_INSTALL_HINT, has_compiled_mmcv_ops

# Which registry builds the ``type`` found under each top-level config key.
# Other keys, and nested configs of another kind (``norm_cfg``,
# ``loss_decode``, ``init_cfg``, ...), are looked up in every mmseg registry.
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


def iter_config_types(
    node,
    path: str = '',
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
            yield from iter_config_types(value,
                                         f'{path}.{key}' if path else str(key),
                                         child_registry)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from iter_config_types(value, f'{path}[{i}]', registry)


def check_config_types(cfg: Config) -> None:
    """Check that every ``type=`` of ``cfg`` resolves in mmseg's registries.

    ``custom_imports`` are imported first, so the plugin's own components
    count. A type is accepted if any mmseg registry (or mmengine's, their
    parent) knows it; the error names the registry expected at that place.

    Under mmcv-lite, which has no compiled ops, a type that an ``mmcv.ops``
    module registers (``conv_cfg=dict(type='DCNv2')``), or a registered type
    whose code uses such an op (mmseg's ``PSAHead`` and ``PSAMask``), is
    reported as needing full mmcv, not as unknown.

    Args:
        cfg (Config): The config.

    Raises:
        ConfigCheckError: Naming the unknown type, where it is in the config,
            and the closest registered names; or naming the type that needs
            the compiled ops of full mmcv and how to install it.
    """
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg['custom_imports'])
    import mmseg.models  # noqa: F401  (registers mmseg's components)
    registries = _mmseg_registries()
    for location, name, expected in iter_config_types(cfg.to_dict()):
        found = _lookup_type(registries, name)
        if found is None and _import_mmcv_op_type(name, location):
            found = _lookup_type(registries, name)
        if found is not None:
            _check_mmcv_ops_available(found, name, location)
            continue
        registry = registries.get(expected or 'MODELS')
        candidates = _registered_names(registry)
        if expected is None:
            candidates = sorted({
                n
                for reg in registries.values()
                for n in _registered_names(reg)
            })
        close = difflib.get_close_matches(name, candidates, n=5, cutoff=0.6)
        imports = (cfg.get('custom_imports') or {}).get('imports', [])
        where = (f"mmseg's {expected} registry"
                 if expected else "any of mmseg's registries")
        hint = (f'Close matches: {", ".join(repr(c) for c in close)}.' if close
                else f'Registered names include: {", ".join(candidates[:30])}'
                f'{", ..." if len(candidates) > 30 else ""}.')
        raise ConfigCheckError(
            f'Unknown type {name!r} at `{location}` of the config: it is not '
            f'registered in {where} (custom_imports: {imports or "none"}). '
            f'{hint} A component of a plugin must be imported through '
            '`custom_imports = dict(imports=[...])` to be registered.')


def _close_matches(word: str, candidates, n: int = 3) -> List[str]:
    """The ``n`` closest ``candidates`` (``difflib`` ratio >= 0.6), and
    only those within 0.1 of the best (``max_iter``: 'max_iters', not also
    'val_interval')."""
    scored = sorted(((difflib.SequenceMatcher(None, word, c).ratio(), c)
                     for c in set(candidates)),
                    key=lambda sc: (-sc[0], sc[1]))
    scored = [(score, c) for score, c in scored[:n] if score >= 0.6]
    return [c for score, c in scored if score >= scored[0][0] - 0.1]


def _lookup_type(registries: Mapping[str, Registry], name: str):
    """The object registered as ``name`` in any of ``registries``, or None."""
    for registry in registries.values():
        found = registry.get(name)
        if found is not None:
            return found
    return None


@functools.lru_cache(maxsize=None)
def _mmcv_ops_registered_types() -> Dict[str, str]:
    """Registry names of the components of ``mmcv.ops`` and their modules.

    Read from the source, because under mmcv-lite the modules of compiled
    ops cannot be imported: e.g. ``{'DCNv2': 'modulated_deform_conv'}``.
    """
    import mmcv
    table: Dict[str, str] = {}
    ops_dir = osp.join(osp.dirname(mmcv.__file__), 'ops')
    for path in sorted(glob.glob(osp.join(ops_dir, '*.py'))):
        module = osp.splitext(osp.basename(path))[0]
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            for decorator in node.decorator_list:
                if not (isinstance(decorator, ast.Call)
                        and isinstance(decorator.func, ast.Attribute)
                        and decorator.func.attr == 'register_module'):
                    continue
                args = list(decorator.args[:1]) + [
                    k.value for k in decorator.keywords if k.arg == 'name'
                ]
                names = []
                for arg in args:
                    elements = (
                        arg.elts if isinstance(arg, (ast.List,
                                                     ast.Tuple)) else [arg])
                    names += [
                        e.value for e in elements
                        if isinstance(e, ast.Constant)
                        and isinstance(e.value, str)
                    ]
                for name in names or [node.name]:
                    table.setdefault(name, module)
    return table


def _compiled_ops_error(name: str, location: str, needs: str) -> str:
    return (f'Type {name!r} at `{location}` of the config cannot be built: '
            f'{needs}; {MMCV_INSTALL_HINT}')


def _import_mmcv_op_type(name: str, location: str) -> bool:
    """Import the ``mmcv.ops`` module that registers type ``name``, if any.

    ``mmcv.ops`` is imported lazily under mmcv-lite (see
    :mod:`mmseg_zs3.compat`), so a pure-Python op may not be registered yet.

    Args:
        name (str): A type name that no registry knows.
        location (str): Where it is in the config, for the error.

    Returns:
        bool: True if the module was imported (``name`` is now registered);
        False if no ``mmcv.ops`` module registers ``name``.

    Raises:
        ConfigCheckError: If the module needs compiled ops that this mmcv
            does not have.
    """
    module = _mmcv_ops_registered_types().get(name)
    if module is None:
        return False
    try:
        importlib.import_module(f'mmcv.ops.{module}')
    except ImportError as e:
        if has_compiled_mmcv_ops():
            raise ConfigCheckError(
                f'Type {name!r} at `{location}` of the config comes from '
                f'mmcv.ops.{module}, which fails to import: {e}') from e
        raise ConfigCheckError(
            _compiled_ops_error(
                name, location,
                f'it is an op of mmcv (mmcv.ops.{module})')) from e
    return True


@functools.lru_cache(maxsize=None)
def _unavailable_mmcv_ops_of(obj) -> Tuple[str, ...]:
    """Names imported from ``mmcv.ops`` by the module of ``obj`` that the
    source of ``obj`` uses and that cannot be imported here."""
    try:
        module_source = inspect.getsource(inspect.getmodule(obj))
        source = inspect.getsource(obj)
    except (OSError, TypeError):
        return ()
    missing = []
    for node in ast.walk(ast.parse(module_source)):
        if not (isinstance(node, ast.ImportFrom) and node.module and
                (node.module == 'mmcv.ops'
                 or node.module.startswith('mmcv.ops.'))):
            continue
        for alias in node.names:
            local = alias.asname or alias.name
            if not re.search(rf'\b{re.escape(local)}\b', source):
                continue
            try:
                getattr(importlib.import_module(node.module), alias.name)
            except ImportError:
                missing.append(alias.name)
            except AttributeError:
                continue
    return tuple(sorted(set(missing)))


def _check_mmcv_ops_available(obj, name: str, location: str) -> None:
    """Raise if registered ``obj`` uses compiled ops absent under mmcv-lite.

    mmseg registers, e.g., ``PSAHead`` even when ``PSAMask`` cannot be
    imported, and fails only when the model is built.
    """
    if has_compiled_mmcv_ops():
        return
    classes = [c for c in getattr(obj, '__mro__', (obj, )) if c is not object]
    missing = sorted(
        {op
         for c in classes
         for op in _unavailable_mmcv_ops_of(c)})
    if missing:
        raise ConfigCheckError(
            _compiled_ops_error(
                name, location,
                f'it uses mmcv.ops.{", mmcv.ops.".join(missing)}'))


# Keys that mmseg's and this package's tools read from a config, beyond
# those of mmengine's Runner (see :func:`runner_config_keys`).
_TOOL_CONFIG_KEYS = frozenset({
    'custom_imports', 'default_scope', 'runner_type', 'tta_model',
    'tta_pipeline', 'launcher', 'resume', 'load_from', 'work_dir'
})


def _string_keys_read_from(source: str, names: Sequence[str]) -> set:
    """String keys of ``X.get('k')``, ``X.pop('k')``, ``X['k']`` and
    ``'k' in X`` in ``source``, where ``X`` is a name in ``names`` or
    ``self.<name>``."""

    def is_target(node) -> bool:
        if isinstance(node, ast.Name):
            return node.id in names
        return (isinstance(node, ast.Attribute) and node.attr in names
                and isinstance(node.value, ast.Name)
                and node.value.id == 'self')

    def string(node) -> Optional[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        return None

    keys = set()
    for node in ast.walk(ast.parse(textwrap.dedent(source))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ('get', 'pop', 'setdefault')
                and is_target(node.func.value) and node.args):
            key = string(node.args[0])
        elif isinstance(node, ast.Subscript) and is_target(node.value):
            key = string(node.slice)
        elif (isinstance(node, ast.Compare) and len(node.ops) == 1
              and isinstance(node.ops[0], ast.In)
              and is_target(node.comparators[0])):
            key = string(node.left)
        else:
            continue
        if key is not None:
            keys.add(key)
    return keys


@functools.lru_cache(maxsize=None)
def runner_config_keys() -> FrozenSet[str]:
    """Top-level config keys that mmengine's Runner and the tools read.

    The arguments of ``Runner.__init__`` (which ``Runner.from_cfg`` fills
    from the config), every key that ``Runner`` reads from its config
    (``model_wrapper_cfg``, ``find_unused_parameters``, ``compile``, ...),
    read from its source so that they follow the installed mmengine, and the
    keys of the tools (``runner_type``, ``tta_model``, ...).

    Returns:
        frozenset: The key names.
    """
    from mmengine.runner import Runner
    keys = set(inspect.signature(Runner.__init__).parameters) - {'self'}
    keys |= _string_keys_read_from(inspect.getsource(Runner), ('cfg', '_cfg'))
    return frozenset(keys | _TOOL_CONFIG_KEYS)


def check_cfg_options_keys(cfg: Config, cfg_options: Mapping) -> None:
    """Check that each ``--cfg-options`` key starts with a known key.

    A top-level key that neither the config nor mmengine's Runner knows
    (``load_form=...``, a typo of ``load_from``) would be merged in and then
    ignored, so training would start from scratch without a word.

    Args:
        cfg (Config): The config, before the options are merged.
        cfg_options (Mapping): The parsed ``--cfg-options``, e.g.
            ``{'model.decode_head.num_classes': 5}``.

    Raises:
        ConfigCheckError: Naming the unknown key and the closest known keys.
    """
    known = set(cfg.keys()) | runner_config_keys()
    for option in cfg_options:
        top = str(option).split('.')[0]
        if top in known:
            continue
        close = _close_matches(top, known)
        hint = (f'Did you mean {" or ".join(repr(c) for c in close)}?' if close
                else f'The config has: {", ".join(sorted(cfg.keys()))}.')
        raise ConfigCheckError(
            f'--cfg-options {option}=...: unknown top-level key {top!r}. '
            "Neither the config nor mmengine's Runner has it, so the value "
            f'would be ignored. {hint}')


_VAR_KEYWORD = inspect.Parameter.VAR_KEYWORD
_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD,
          inspect.Parameter.KEYWORD_ONLY)


def _resolve_dotted(name: ast.AST, namespace: Mapping):
    """``Parent`` or ``module.Parent`` of an explicit ``X.__init__`` call,
    looked up in the function's globals; None if not a plain name chain."""
    parts = []
    while isinstance(name, ast.Attribute):
        parts.append(name.attr)
        name = name.value
    if not isinstance(name, ast.Name) or name.id not in namespace:
        return None
    value = namespace[name.id]
    for part in reversed(parts):
        value = getattr(value, part, None)
    return value if inspect.isclass(value) else None


def _kwargs_targets(init, var_kw: str) -> Optional[Tuple[list, set]]:
    """Where ``init`` passes its ``**var_kw`` on.

    Returns:
        tuple or None: ``(targets, read)``: each target is ``'super'`` (the
        next ``__init__`` in the MRO) or a class whose ``__init__`` is called
        explicitly; ``read`` holds the keys that ``init`` reads from
        ``var_kw`` itself (``kwargs.pop('x')``). None when the source cannot
        be read or ``**var_kw`` is passed to no ``__init__``.
    """
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
    except (OSError, TypeError, SyntaxError):
        return None
    targets = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == '__init__' and any(
                    k.arg is None and isinstance(k.value, ast.Name)
                    and k.value.id == var_kw for k in node.keywords)):
            continue
        receiver = node.func.value
        if (isinstance(receiver, ast.Call)
                and isinstance(receiver.func, ast.Name)
                and receiver.func.id == 'super'):
            targets.append('super')
        else:
            parent = _resolve_dotted(
                receiver, getattr(inspect.unwrap(init), '__globals__', {}))
            if parent is None:
                return None
            targets.append(parent)
    if not targets:
        return None
    return targets, _string_keys_read_from(inspect.getsource(init), (var_kw, ))


@functools.lru_cache(maxsize=None)
def _init_keys(cls: type, start: int = 0) -> Optional[FrozenSet[str]]:
    """Keyword arguments accepted by ``cls.__mro__[start:]``'s ``__init__``
    chain, following ``**kwargs`` that are passed on; None if not
    checkable."""
    import torch.nn as nn
    names: set = set()
    mro = cls.__mro__
    i = start
    while True:
        while i < len(mro) and '__init__' not in mro[i].__dict__:
            i += 1
        if i == len(mro) or mro[i] in (object, nn.Module):
            # nn.Module.__init__ takes *args/**kwargs only to refuse them
            return frozenset(names)
        init = mro[i].__dict__['__init__']
        try:
            params = list(inspect.signature(init).parameters.values())[1:]
        except (TypeError, ValueError):
            return None
        names.update(p.name for p in params if p.kind in _NAMED)
        var_kw = next((p.name for p in params if p.kind == _VAR_KEYWORD), None)
        if var_kw is None:
            return frozenset(names)
        passed_on = _kwargs_targets(init, var_kw)
        if passed_on is None:
            return None
        targets, read = passed_on
        names |= read
        for target in targets:
            keys = (
                _init_keys(cls, i +
                           1) if target == 'super' else _init_keys(target))
            if keys is None:
                return None
            names |= keys
        return frozenset(names)


def accepted_config_keys(obj) -> Optional[FrozenSet[str]]:
    """The keys that a config dict building ``obj`` may hold.

    For a class, the arguments of its ``__init__``; where ``__init__`` takes
    ``**kwargs`` and passes them to ``super().__init__`` (as mmseg's heads
    do with ``BaseDecodeHead``) or to a named parent's ``__init__``, those of
    the parent too, up the MRO. For a function, its arguments.

    Args:
        obj: A registered class or function.

    Returns:
        frozenset or None: The accepted keys, or None when any key may be
        accepted (``**kwargs`` that go elsewhere, or no readable source).
    """
    if inspect.isclass(obj):
        return _init_keys(obj)
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind == _VAR_KEYWORD for p in params):
        return None
    return frozenset(p.name for p in params if p.kind in _NAMED)


def _check_obj_keys(node: Mapping,
                    location: str,
                    obj,
                    built_as: str,
                    extra: Sequence[str] = ()) -> None:
    """Raise if ``node`` has a key that building ``obj`` does not take."""
    accepted = accepted_config_keys(obj)
    if accepted is not None:
        _check_keys(node, location, set(accepted) | set(extra), built_as)


def _check_keys(node: Mapping, location: str, accepted: set,
                built_as: str) -> None:
    """Raise if ``node`` has a key outside ``accepted``, ``type`` and
    ``_scope_`` (which mmengine adds to the configs of ``mmseg::`` bases and
    takes out when building)."""
    accepted = set(accepted) | {'type', '_scope_'}
    unknown = [k for k in node if k not in accepted]
    if not unknown:
        return
    problems = []
    for key in unknown:
        close = _close_matches(str(key), accepted - {'type', '_scope_'})
        problems.append(f'{key!r} at `{location}.{key}`' + (
            f' (did you mean {" or ".join(repr(c) for c in close)}?)'
            if close else ''))
    raise ConfigCheckError(
        f'Unknown key{"s" if len(unknown) > 1 else ""} '
        f'{", ".join(problems)} of the config: `{location}` builds '
        f'{built_as}, which takes '
        f'{", ".join(sorted(accepted - {"type", "_scope_"}))}.')


def _registered(registry: Registry, node: Mapping):
    """The class or function that ``registry`` builds ``node`` as, if
    known."""
    t = node.get('type')
    if isinstance(t, str):
        return registry.get(t)
    return t if callable(t) else None


def _name(obj) -> str:
    return getattr(obj, '__name__', repr(obj))


def _check_model_keys(node, location: str, models: Registry) -> None:
    """Check every config of ``node`` whose type mmseg's own MODELS registry
    (or a plugin's component in it) builds; ``*_cfg`` sub-configs
    (``norm_cfg``, ``conv_cfg``, ``init_cfg``, ...) are left out: mmcv's
    layer builders read keys of their own (``requires_grad``)."""
    if isinstance(node, Mapping):
        t = node.get('type')
        if isinstance(t, str) and t in models.module_dict:
            obj = models.module_dict[t]
            _check_obj_keys(node, location, obj,
                            t if t == _name(obj) else f'{t} ({_name(obj)})')
        for key, value in node.items():
            if key == 'type' or str(key).endswith('_cfg'):
                continue
            _check_model_keys(value, f'{location}.{key}', models)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            _check_model_keys(value, f'{location}[{i}]', models)


@functools.lru_cache(maxsize=None)
def _dataloader_keys() -> FrozenSet[str]:
    """Keys of a dataloader config: those ``Runner.build_dataloader`` takes
    out (``dataset``, ``sampler``, ``num_batch_per_epoch``, ...) and the
    arguments of torch's ``DataLoader``."""
    from mmengine.runner import Runner
    from torch.utils.data import DataLoader
    keys = _string_keys_read_from(
        inspect.getsource(Runner.build_dataloader), ('dataloader_cfg', ))
    keys |= set(inspect.signature(DataLoader.__init__).parameters) - {'self'}
    return frozenset(keys)


def _check_dataset_keys(node, location: str, datasets: Registry) -> None:
    """Check a dataset config and the datasets that wrappers hold."""
    if isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            _check_dataset_keys(value, f'{location}[{i}]', datasets)
        return
    if not isinstance(node, Mapping):
        return
    obj = _registered(datasets, node)
    if obj is not None:
        _check_obj_keys(node, location, obj, f'the dataset {_name(obj)}')
    for key in ('dataset', 'datasets'):
        if key in node:
            _check_dataset_keys(node[key], f'{location}.{key}', datasets)


def _check_loop_keys(cfg: Config, key: str, loops: Registry) -> None:
    """Check ``cfg[key]`` (``train_cfg``/``val_cfg``/``test_cfg``) against
    the loop that mmengine's Runner builds from it."""
    from mmengine.runner import (EpochBasedTrainLoop, IterBasedTrainLoop,
                                 TestLoop, ValLoop)
    node = cfg.get(key)
    if not isinstance(node, Mapping):
        return
    extra = ()
    if 'type' in node:
        if key == 'train_cfg' and 'by_epoch' in node:
            raise ConfigCheckError(
                f'`{key}` has both `type` ({node["type"]!r}) and `by_epoch`; '
                "mmengine's Runner takes one of them: remove `by_epoch` (the "
                'loop type decides it).')
        obj = _registered(loops, node)
    elif key == 'train_cfg':
        if 'by_epoch' not in node:
            raise ConfigCheckError(
                f'`{key}` ({dict(node)}) has neither `type` nor `by_epoch`: '
                "mmengine's Runner needs one to choose the training loop, "
                "e.g. type='IterBasedTrainLoop' or by_epoch=False.")
        obj = EpochBasedTrainLoop if node['by_epoch'] else IterBasedTrainLoop
        extra = ('by_epoch', )
    else:
        obj = ValLoop if key == 'val_cfg' else TestLoop
    if obj is not None:
        _check_obj_keys(node, key, obj, f'the loop {_name(obj)}', extra)


def check_config_keys(
    cfg: Config,
    parts: Sequence[str] = ('model', 'train_cfg', 'val_cfg', 'test_cfg',
                            'train_dataloader', 'val_dataloader',
                            'test_dataloader')
) -> None:
    """Check the keys of the loop, dataloader and model configs of ``cfg``.

    Each key is compared with the constructor that will receive it: the
    loop class (``max_iter`` is not an argument of ``IterBasedTrainLoop``),
    torch's ``DataLoader`` and mmengine's ``build_dataloader``, the dataset
    and sampler classes, and every component of the model that mmseg's
    MODELS registry builds (backbone, heads, losses, nested ones included).
    ``**kwargs`` are followed up the MRO where a class passes them on (see
    :func:`accepted_config_keys`); a class whose ``**kwargs`` go elsewhere is
    not checked, so that nothing valid is refused. Types that are not
    registered are left to :func:`check_config_types`.

    Args:
        cfg (Config): The config.
        parts (Sequence[str]): Top-level keys to check; absent ones are
            skipped. Defaults to the model, the loops and the dataloaders.

    Raises:
        ConfigCheckError: Naming each unknown key, where it is and the
            closest accepted keys.
    """
    import mmseg.models  # noqa: F401  (registers mmseg's components)
    from mmseg.registry import DATA_SAMPLERS, DATASETS, LOOPS, MODELS
    for part in parts:
        node = cfg.get(part)
        if not node:
            continue
        node = node.to_dict() if hasattr(node, 'to_dict') else node
        if part in ('model', 'tta_model'):
            _check_model_keys(node, part, MODELS)
        elif part.endswith('_cfg'):
            _check_loop_keys(cfg, part, LOOPS)
        elif part.endswith('_dataloader') and isinstance(node, Mapping):
            _check_keys(
                node, part, _dataloader_keys(),
                "a torch DataLoader through mmengine's build_dataloader")
            _check_dataset_keys(
                node.get('dataset'), f'{part}.dataset', DATASETS)
            for key in ('sampler', 'batch_sampler'):
                if isinstance(node.get(key), Mapping):
                    obj = _registered(DATA_SAMPLERS, node[key])
                    if obj is not None:
                        _check_obj_keys(node[key], f'{part}.{key}', obj,
                                        f'the sampler {_name(obj)}')


# Counts of the loop and dataloader configs: (key, smallest valid value).
# Below it, torch fails once the model is built (batch_size, num_workers) or
# mmengine trains nothing and exits 0 (max_iters=0).
_LOOP_COUNTS = (('max_iters', 1), ('max_epochs', 1), ('val_interval', 1))
_DATALOADER_COUNTS = (('batch_size', 1), ('num_workers', 0),
                      ('prefetch_factor', 1))


def check_config_values(
    cfg: Config,
    parts: Sequence[str] = ('train_cfg', 'val_cfg', 'test_cfg',
                            'train_dataloader', 'val_dataloader',
                            'test_dataloader')
) -> None:
    """Check the counts of the loop and dataloader configs of ``cfg``.

    ``train_cfg.max_iters=0`` trains nothing and exits 0; a
    ``batch_size`` of 0 or ``num_workers=-1`` fail in torch once the model
    is built. Here they fail first.

    Args:
        cfg (Config): The config.
        parts (Sequence[str]): Top-level keys to check; absent ones are
            skipped. Defaults to the loops and the dataloaders.

    Raises:
        ConfigCheckError: Naming the key, its value and the smallest valid
            value.
    """
    for part in parts:
        node = cfg.get(part)
        if not isinstance(node, Mapping):
            continue
        counts = _LOOP_COUNTS if part.endswith('_cfg') else _DATALOADER_COUNTS
        for key, minimum in counts:
            value = node.get(key)
            if value is None:
                continue
            if (isinstance(value, bool) or not isinstance(value, int)
                    or value < minimum):
                raise ConfigCheckError(
                    f'`{part}.{key}` is {value!r}; expected an integer >= '
                    f'{minimum}.')


def check_work_dir(work_dir: str, flag: str = 'work_dir') -> None:
    """Check that ``work_dir`` is, or can be created as, a writable folder.

    Looks for the nearest existing folder on the way and creates (and
    removes) an empty temporary file there, which also catches read-only
    file systems and permissions that ``os.access`` misjudges for root.

    Args:
        work_dir (str): The folder.
        flag (str): How to name it in the error, e.g. ``'--work-dir'``.
            Defaults to 'work_dir'.

    Raises:
        ValueError: If ``work_dir`` is empty (mmengine would write into the
            current folder).
        NotADirectoryError: If ``work_dir``, or a folder on its way, is a
            file.
        PermissionError: If no file can be created there.
    """
    if not str(work_dir).strip():
        raise ValueError(
            f'{flag} is empty ({work_dir!r}); expected a folder. (An empty '
            'path would put the checkpoints and logs in the current folder.)')
    path = osp.abspath(work_dir)
    existing = path
    while not osp.exists(existing) and osp.dirname(existing) != existing:
        existing = osp.dirname(existing)
    if not osp.isdir(existing):
        where = ('is a file' if existing == path else
                 f'cannot be created: {existing!r} is a file')
        raise NotADirectoryError(
            f'{flag} {work_dir!r} {where}; expected a folder (or a path '
            'where one can be created).')
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix='.zs3-write-test-')
    except OSError as e:
        raise PermissionError(
            f'{flag} {work_dir!r} is not writable: no file can be created in '
            f'{existing!r} ({e.strerror or e}). Choose a folder you can '
            'write to.') from e
    os.close(fd)
    os.remove(probe)


def _dataset_configs(node, location: str) -> Iterator[Tuple[str, dict]]:
    """The dataset configs of a dataloader's ``dataset``, wrappers unrolled,
    with their config keys (``train_dataloader.dataset.dataset``)."""
    if isinstance(node, Mapping):
        inner = [k for k in ('dataset', 'datasets') if k in node]
        if not inner:
            yield location, node
        for key in inner:
            yield from _dataset_configs(node[key], f'{location}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, child in enumerate(node):
            yield from _dataset_configs(child, f'{location}.{i}')


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
        for where, dataset in _dataset_configs(loader['dataset'],
                                               f'{key}.dataset'):
            data_root = dataset.get('data_root') or ''
            if data_root and not osp.isdir(data_root):
                raise FileNotFoundError(
                    f'data_root {data_root!r} of `{where}` does not '
                    f'exist (as {osp.abspath(data_root)!r}). Prepare the '
                    'dataset there or point `data_root` at it, e.g. '
                    f"--cfg-options {where}.data_root=PATH (for the "
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
                    field = ('ann_file'
                             if name == 'ann_file' else f'data_prefix.{name}')
                    raise FileNotFoundError(
                        f'`{where}.{field}` points to {path!r}, which '
                        f'does not exist (data_root={data_root!r}, '
                        f'{field}={prefix!r}).')


def check_class_embedding_files(cfg: Config) -> None:
    """Check, before training, that every class-embedding file the model
    config names exists (a ``ClassEmbedding`` needs its file to train; a
    checkpoint provides the embeddings only for testing and inference).

    Args:
        cfg (Config): The config.

    Raises:
        FileNotFoundError: Naming the missing file and the config key that
            points to it (e.g. the shapes stage 1's
            ``model.auxiliary_head.classifier.class_embedding.embedding_file``).
    """

    def walk(node, location):
        if isinstance(node, Mapping):
            path = node.get('embedding_file')
            if isinstance(path, str) and path and not osp.isfile(path):
                raise FileNotFoundError(
                    f'class-embedding file {path!r} of `{location}` does not '
                    f'exist (as {osp.abspath(path)!r}). Build it with '
                    'tools/build_class_embeddings.py (`make demo` writes the '
                    "shapes dataset's) or point the key at it, e.g. "
                    f'--cfg-options {location}.embedding_file=PATH.')
            for key, value in node.items():
                walk(value, f'{location}.{key}')
        elif isinstance(node, (list, tuple)):
            for i, value in enumerate(node):
                walk(value, f'{location}.{i}')

    walk(cfg.get('model') or {}, 'model')
