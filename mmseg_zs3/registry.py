"""The ``mmseg_zs3`` registry scope: children of mmseg's registries.

The plugin registers its components into mmseg's own registries (``from
mmseg.registry import MODELS``), so every mmseg config can name them. These
children exist for the configs this package ships and mmengine reads through
``mmseg_zs3::`` paths: mmengine tags what such a base file defines with the
scope ``mmseg_zs3`` (as it tags ``mmseg::`` bases with ``mmseg``) and builds
it from the registry of that scope, which finds mmseg's components and the
plugin's through its parent.
"""
from mmengine.registry import Registry
from mmseg import registry as mmseg_registry

# what registers the plugin's components (into mmseg's registries)
LOCATIONS = ['mmseg_zs3']

RUNNERS = Registry(
    'runner', parent=mmseg_registry.RUNNERS, locations=LOCATIONS)
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor',
    parent=mmseg_registry.RUNNER_CONSTRUCTORS,
    locations=LOCATIONS)
LOOPS = Registry('loop', parent=mmseg_registry.LOOPS, locations=LOCATIONS)
HOOKS = Registry('hook', parent=mmseg_registry.HOOKS, locations=LOCATIONS)
DATASETS = Registry(
    'dataset', parent=mmseg_registry.DATASETS, locations=LOCATIONS)
DATA_SAMPLERS = Registry(
    'data sampler', parent=mmseg_registry.DATA_SAMPLERS, locations=LOCATIONS)
TRANSFORMS = Registry(
    'transform', parent=mmseg_registry.TRANSFORMS, locations=LOCATIONS)
MODELS = Registry('model', parent=mmseg_registry.MODELS, locations=LOCATIONS)
MODEL_WRAPPERS = Registry(
    'model_wrapper', parent=mmseg_registry.MODEL_WRAPPERS, locations=LOCATIONS)
WEIGHT_INITIALIZERS = Registry(
    'weight initializer',
    parent=mmseg_registry.WEIGHT_INITIALIZERS,
    locations=LOCATIONS)
OPTIMIZERS = Registry(
    'optimizer', parent=mmseg_registry.OPTIMIZERS, locations=LOCATIONS)
OPTIM_WRAPPERS = Registry(
    'optim_wrapper', parent=mmseg_registry.OPTIM_WRAPPERS, locations=LOCATIONS)
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=mmseg_registry.OPTIM_WRAPPER_CONSTRUCTORS,
    locations=LOCATIONS)
PARAM_SCHEDULERS = Registry(
    'parameter scheduler',
    parent=mmseg_registry.PARAM_SCHEDULERS,
    locations=LOCATIONS)
METRICS = Registry(
    'metric', parent=mmseg_registry.METRICS, locations=LOCATIONS)
EVALUATOR = Registry(
    'evaluator', parent=mmseg_registry.EVALUATOR, locations=LOCATIONS)
TASK_UTILS = Registry(
    'task util', parent=mmseg_registry.TASK_UTILS, locations=LOCATIONS)
VISUALIZERS = Registry(
    'visualizer', parent=mmseg_registry.VISUALIZERS, locations=LOCATIONS)
VISBACKENDS = Registry(
    'vis_backend', parent=mmseg_registry.VISBACKENDS, locations=LOCATIONS)
LOG_PROCESSORS = Registry(
    'log_processor', parent=mmseg_registry.LOG_PROCESSORS, locations=LOCATIONS)
INFERENCERS = Registry(
    'inferencer', parent=mmseg_registry.INFERENCERS, locations=LOCATIONS)
