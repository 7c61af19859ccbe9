"""Tell a complete checkpoint file from an empty, truncated or foreign one
without loading it.

``--resume`` must choose a checkpoint before mmengine loads it: when the
newest one was cut off (a full disk, a kill, an interrupted copy), the run
falls back to the newest complete one
(:class:`~mmseg_zs3.engine.hooks.WorkDirGuardHook`). Reading a whole
checkpoint to find out would cost a full load per candidate, so
:func:`checkpoint_file_problem` looks at the file's structure only: its
first bytes and, for a zip archive, the central directory at its end. It
never unpickles anything. (Loading itself goes through the local loader of
:mod:`mmseg_zs3.compat`, whose errors also name the file.)
"""
import os
import os.path as osp
import re
import struct
import zipfile
from typing import List, Optional

# torch.save writes a zip archive (torch >= 1.6) ...
_ZIP_MAGIC = b'PK\x03\x04'
# ... or, with _use_new_zipfile_serialization=False, a pickle stream that
# starts with torch's magic number (protocol byte, then LONG1 of 10 bytes).
_LEGACY_MAGIC = b'\x8a\x0a' + (0x1950a86a20f9469cfc6c).to_bytes(10, 'little')


class CheckpointFileError(ValueError):
    """No usable checkpoint file where one is needed."""


def is_legacy_torch_file(head: bytes) -> bool:
    """Whether ``head`` (a file's first 16 bytes or more) starts a file of
    torch's legacy (pre-1.6, non-zip) ``torch.save`` format: a pickle whose
    first record is torch's magic number."""
    return head[:1] == b'\x80' and \
        head[2:2 + len(_LEGACY_MAGIC)] == _LEGACY_MAGIC


def checkpoint_file_problem(path: str) -> Optional[str]:
    """What keeps ``path`` from being a complete checkpoint, if anything.

    Reads the first bytes and, for a zip archive, its central directory; it
    never unpickles anything.

    Args:
        path (str): The file.

    Returns:
        str or None: e.g. ``'is empty (0 bytes)'``, or None when the file is
        a complete torch checkpoint archive (or a legacy torch file).
    """
    if not osp.exists(path):
        return 'does not exist'
    if osp.isdir(path):
        return 'is a folder, not a checkpoint file'
    size = osp.getsize(path)
    if size == 0:
        return 'is empty (0 bytes)'
    with open(path, 'rb') as f:
        head = f.read(16)
    if head.startswith(_ZIP_MAGIC):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError,
                struct.error):
            return (f'is truncated ({size} bytes; its zip archive has no '
                    'central directory): it was cut off while being written '
                    'or copied')
        if not any(n == 'data.pkl' or n.endswith('/data.pkl') for n in names):
            return ('is a zip archive but not a torch checkpoint (it has no '
                    'data.pkl record)')
        return None
    if is_legacy_torch_file(head):
        return None
    return (f'is not a torch file: neither a zip archive written by '
            f'torch.save nor a legacy torch file (first bytes {head[:8]!r})')


def checkpoint_files(folder: str,
                     filename_tmpl: str = 'iter_{}.pth') -> List[str]:
    """The checkpoints named by mmengine's ``CheckpointHook`` template.

    Args:
        folder (str): Folder to list (not recursively).
        filename_tmpl (str): The hook's ``filename_tmpl``, with ``{}`` for
            the step. Defaults to 'iter_{}.pth'.

    Returns:
        list[str]: Paths, newest first (modification time, then step).
    """
    if not osp.isdir(folder):
        return []
    pattern = re.compile('^' +
                         re.escape(filename_tmpl).replace(r'\{\}', r'(\d+)') +
                         '$')
    found = []
    for name in os.listdir(folder):
        match = pattern.match(name)
        path = osp.join(folder, name)
        if match and osp.isfile(path):
            found.append((osp.getmtime(path), int(match.group(1)), path))
    return [path for _, _, path in sorted(found, reverse=True)]
