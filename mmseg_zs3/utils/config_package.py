"""``mmseg_zs3::`` config paths, resolved as mmengine resolves ``mmseg::``.

mmengine reads ``_base_ = ['mmseg::_base_/models/pspnet_r50-d8.py']`` from
the configs that mmseg installs inside its package, under
``mmseg/.mim/configs``, and knows which packages it may read from a fixed
table (``mmengine.config.utils.MODULE2PACKAGE``). This package ships its
configs the same way (``mmseg_zs3/.mim/configs`` and
``mmseg_zs3/.mim/model-index.yml``: links to the repository's ``configs/``
and ``model-index.yml`` in a checkout, copies in an installed wheel), and
:func:`register_config_package` adds it to that table on
``import mmseg_zs3``, so that a config anywhere may say::

    _base_ = ['mmseg_zs3::zs3/zs3net_unet-s2-fcn_1xb16-10e_shapes-u4-64x64.py']

mmengine finds a package's folder through its distribution's install
location, which an editable install (PEP 660) does not have: the folder is
taken from the imported module instead, for this package only.
"""
import os.path as osp

PACKAGE = 'mmseg_zs3'
#: the package's folder (the one that holds ``.mim``)
PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))


def installed_config_dir() -> str:
    """The configs installed with the package.

    Returns:
        str: ``<package>/.mim/configs``, the folder that ``mmseg_zs3::``
        paths are relative to.
    """
    return osp.join(PACKAGE_DIR, '.mim', 'configs')


def register_config_package() -> None:
    """Let mmengine's config loader read ``mmseg_zs3::`` paths; idempotent.

    Adds the package to ``MODULE2PACKAGE`` and answers mmengine's question
    for the package's folder with the folder of the imported module (right
    for an installed wheel, an editable install and a checkout on
    ``PYTHONPATH`` alike); other packages are looked up as before.
    """
    import mmengine.config.config as mmengine_config
    from mmengine.config.utils import MODULE2PACKAGE

    MODULE2PACKAGE.setdefault(PACKAGE, PACKAGE)
    lookup = mmengine_config.get_installed_path
    if getattr(lookup, 'mmseg_zs3', False):
        return

    def get_installed_path(package: str) -> str:
        if package == PACKAGE:
            return PACKAGE_DIR
        return lookup(package)

    get_installed_path.mmseg_zs3 = True
    mmengine_config.get_installed_path = get_installed_path
