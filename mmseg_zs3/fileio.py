"""Atomic file writes: a crash never leaves a half-written file in place."""
import contextlib
import os
import os.path as osp
import tempfile


@contextlib.contextmanager
def atomic_open(path: str, mode: str = 'wb', **kwargs):
    """Open a temporary file next to ``path``; on success rename it to
    ``path`` (``os.replace``), on any error remove it.

    A reader therefore sees either the previous file or the complete new one,
    never a partial write that a later run would trust.

    Args:
        path (str): Final path; its folder is created if needed.
        mode (str): ``'wb'`` or ``'w'``. Defaults to 'wb'.
        **kwargs: Passed to :func:`os.fdopen` (e.g. ``encoding``).

    Yields:
        file: The open temporary file.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix=f'.{osp.basename(path)}.', suffix='.tmp')
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
