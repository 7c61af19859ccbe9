"""mmseg-zs3: ZS3Net zero-shot semantic segmentation for MMSegmentation 1.x.

Importing this package applies the CPU-stack fixes of :mod:`mmseg_zs3.compat`
and registers every component into mmseg's registries, so a config needs only::

    custom_imports = dict(imports=['mmseg_zs3'], allow_failed_imports=False)
"""
from . import compat

compat.apply()

from . import datasets, engine, evaluation, models  # noqa: E402,F401
from .utils.config_package import register_config_package  # noqa: E402
from .version import __version__  # noqa: E402,F401

register_config_package()

__all__ = ['__version__']
