"""The per-user cache folder of this package.

One place decides where caches go, so that the word-vector cache and the
class-presence cache of :class:`~mmseg_zs3.datasets.SeenOnlyDataset` follow
the same rule, and one environment variable moves both.
"""
import os
import os.path as osp
from typing import Optional

CACHE_ENV = 'MMSEG_ZS3_CACHE'


def user_cache_dir(name: str, cache_dir: Optional[str] = None) -> str:
    """The cache folder ``name`` of this package.

    Args:
        name (str): The cache's subfolder, e.g. ``'word_vectors'``.
        cache_dir (str, optional): Used as is (``~`` expanded) when given.
            Otherwise ``$MMSEG_ZS3_CACHE/<name>`` when that variable is set,
            else ``~/.cache/mmseg_zs3/<name>``.

    Returns:
        str: The folder (not created).
    """
    if cache_dir:
        return osp.expanduser(cache_dir)
    root = os.environ.get(CACHE_ENV) or osp.join('~', '.cache', 'mmseg_zs3')
    return osp.join(osp.expanduser(root), name)
