"""Safe file writes: a file becomes visible only when it is complete.

Everything the package writes goes to a temporary file (or folder) next to
its final path, renamed into place (``os.replace``) only when complete:
:func:`atomic_open` for files, :func:`make_temp_dir` for folders, and
:class:`AtomicLocalBackend`, the mmengine file backend that checkpoints are
saved through. A reader therefore sees either the previous file or the
complete new one, never a partial write that a later run would trust.

Temporary names say who wrote them:
``.<name>.zs3tmp-<host>-<pid>-<random>.tmp`` (see :func:`temp_prefix`).
A later run removes exactly the orphans of killed processes of this host
(:func:`remove_orphaned_temps`), never a temporary file of a process that
is still running, and never a file of another name.
:class:`DirLock` is the lock file that keeps two runs out of one folder.
"""
import contextlib
import errno
import fcntl
import json
import os
import os.path as osp
import re
import shutil
import socket
import tempfile
import time
from typing import Dict, Iterable, List, Optional, Pattern, Tuple

from mmengine.fileio import LocalBackend, register_backend

TEMP_MARK = 'zs3tmp'
# .<name>.zs3tmp-<host>-<pid>-<8 random chars of tempfile>.tmp
_TEMP_RE = re.compile(r'^\.(?P<name>.+)\.' + TEMP_MARK +
                      r'-(?P<host>[A-Za-z0-9._]+)-(?P<pid>\d+)-'
                      r'[a-z0-9_]{8}\.tmp$')


def host_name() -> str:
    """This host's name, reduced to ``[A-Za-z0-9._]`` (as in temp names)."""
    return re.sub(r'[^A-Za-z0-9.]', '_', socket.gethostname()) or 'localhost'


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (zombies count as alive).

    Args:
        pid (int): Process id.

    Returns:
        bool: False when no such process exists.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def temp_prefix(name: str) -> str:
    """The prefix of a temporary name for ``name``, tagged with the writer.

    Args:
        name (str): Base name of the final file or folder.

    Returns:
        str: ``.<name>.zs3tmp-<host>-<pid>-``; ``tempfile`` adds 8 random
        characters and the caller the suffix ``.tmp``.
    """
    return f'.{name}.{TEMP_MARK}-{host_name()}-{os.getpid()}-'


def _default_mode(directory: bool = False) -> int:
    """The permission bits ``open``/``mkdir`` would give under the umask
    (``tempfile`` makes private 0600/0700 files and folders instead)."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def make_temp_dir(path: str) -> str:
    """Create an empty temporary folder next to ``path`` (to be renamed to
    ``path`` when complete, or removed).

    Args:
        path (str): Final folder path; its parent is created if needed.

    Returns:
        str: The temporary folder.
    """
    parent = osp.dirname(osp.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(
        prefix=temp_prefix(osp.basename(osp.abspath(path))),
        suffix='.tmp',
        dir=parent)
    os.chmod(tmp, _default_mode(directory=True))
    return tmp


@contextlib.contextmanager
def atomic_open(path: str, mode: str = 'wb', sync: bool = True, **kwargs):
    """Open a temporary file next to ``path``; on success rename it to
    ``path`` (``os.replace``), on any error remove it.

    A reader therefore sees either the previous file or the complete new one,
    never a partial write that a later run would trust. A process killed
    before the rename leaves only a temporary file, which
    :func:`remove_orphaned_temps` recognises.

    Args:
        path (str): Final path; its folder is created if needed.
        mode (str): ``'wb'`` or ``'w'``. Defaults to 'wb'.
        sync (bool): ``fsync`` the file before the rename, so that it also
            survives a power loss (about 10 ms per file). A caller that
            writes many small files may pass False and sync once when all
            are written (``os.sync()``), before recording that they are
            complete; a process crash still leaves no partial file.
            Defaults to True.
        **kwargs: Passed to :func:`os.fdopen` (e.g. ``encoding``).

    Yields:
        file: The open temporary file.

    Raises:
        OSError: The folder is not writable, or the write failed (e.g. the
            disk is full); ``path`` is then unchanged.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix=temp_prefix(osp.basename(path)), suffix='.tmp')
    try:
        # the mode a plain open() would give (or the replaced file's), not
        # mkstemp's private 0600: checkpoints on shared storage stay readable
        os.fchmod(
            fd,
            os.stat(path).st_mode
            & 0o7777 if osp.exists(path) else _default_mode())
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            if sync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


class AtomicLocalBackend(LocalBackend):
    """mmengine's ``LocalBackend`` whose ``put`` and ``put_text`` write
    through :func:`atomic_open`.

    mmengine saves a checkpoint by serialising it in memory and calling the
    file backend's ``put``; the local backend writes straight to the final
    name, so a full disk or a kill leaves a truncated ``iter_N.pth`` that
    ``last_checkpoint`` or a user then trusts. Registered as
    ``'zs3_atomic_local'``; select it with ``backend_args=dict(
    backend='zs3_atomic_local')`` of ``default_hooks.checkpoint``
    (:class:`~mmseg_zs3.engine.hooks.WorkDirGuardHook` does that for every
    local ``CheckpointHook`` without ``backend_args``).
    """

    def put(self, obj: bytes, filepath) -> None:
        """Write ``obj`` to ``filepath`` atomically (see :func:`atomic_open`).

        Args:
            obj (bytes): Data to be written.
            filepath (str or Path): Path to write data.
        """
        with atomic_open(str(filepath), 'wb') as f:
            f.write(obj)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        """Write text to ``filepath`` atomically (see :func:`atomic_open`).

        Args:
            obj (str): Text to be written.
            filepath (str or Path): Path to write data.
            encoding (str): Text encoding. Defaults to 'utf-8'.
        """
        with atomic_open(str(filepath), 'w', encoding=encoding) as f:
            f.write(obj)


register_backend('zs3_atomic_local', AtomicLocalBackend)


def _size(path: str) -> int:
    if osp.isdir(path) and not osp.islink(path):
        return sum(
            osp.getsize(osp.join(d, f)) for d, _, files in os.walk(path)
            for f in files if not osp.islink(osp.join(d, f)))
    return osp.getsize(path) if osp.exists(path) else 0


def orphaned_temps(folder: str, legacy: Iterable[Pattern] = ()) -> List[str]:
    """The temporary files and folders in ``folder`` whose writer is dead.

    A name is an orphan when it matches :func:`temp_prefix`'s pattern, names
    this host, and its process no longer runs (another host's process, or
    this process, is never judged dead). Names from versions before the
    writer tag are orphans only if they match a ``legacy`` pattern.

    Args:
        folder (str): Folder to scan (not recursively).
        legacy (Iterable[Pattern]): Compiled patterns of untagged names that
            only this package writes. Defaults to none.

    Returns:
        list[str]: Paths, sorted.
    """
    if not osp.isdir(folder):
        return []
    legacy = list(legacy)
    host, me = host_name(), os.getpid()
    found = []
    for name in sorted(os.listdir(folder)):
        match = _TEMP_RE.match(name)
        if match:
            pid = int(match['pid'])
            if match['host'] == host and pid != me and not pid_alive(pid):
                found.append(osp.join(folder, name))
        elif any(p.match(name) for p in legacy):
            found.append(osp.join(folder, name))
    return found


def remove_orphaned_temps(
    folder: str, legacy: Iterable[Pattern] = ()) -> List[Tuple[str, int]]:
    """Remove the :func:`orphaned_temps` of ``folder``.

    Args:
        folder (str): Folder to clean (not recursively).
        legacy (Iterable[Pattern]): See :func:`orphaned_temps`.

    Returns:
        list[tuple[str, int]]: The removed paths and their sizes in bytes.
    """
    removed = []
    for path in orphaned_temps(folder, legacy):
        size = _size(path)
        try:
            if osp.isdir(path) and not osp.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
        except FileNotFoundError:  # removed meanwhile by another cleaner
            continue
        removed.append((path, size))
    return removed


def format_bytes(n: int) -> str:
    """``n`` bytes as ``'3.1 MiB'`` (or ``'512 B'``)."""
    for unit in ('B', 'KiB', 'MiB', 'GiB'):
        if n < 1024 or unit == 'GiB':
            return f'{n} {unit}' if unit == 'B' else f'{n:.1f} {unit}'
        n /= 1024
    return f'{n:.1f} GiB'


class DirLockedError(RuntimeError):
    """Another process holds the lock of a folder."""


class DirLock:
    """A lock file that keeps a second run out of a folder.

    The file holds the holder's pid, host and start time (JSON), and the
    holder keeps a kernel ``flock`` on it while it runs, so the lock dies with
    its process. :meth:`acquire` refuses while another process holds it
    (:class:`DirLockedError`, naming pid, host and the file). A file left by
    a process that died is stale: taken over when its pid ran on this host
    and no longer runs, refused otherwise (its run may be alive elsewhere).
    :meth:`release` removes the file.

    Args:
        path (str): The lock file.
    """

    # Locks this process holds, by path: a runner that raised never released
    # its lock, and a later runner of the same process takes it over.
    _held: Dict[str, 'DirLock'] = {}

    def __init__(self, path: str) -> None:
        self.path = osp.abspath(path)
        self._fd: Optional[int] = None

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.path!r})'

    @staticmethod
    def read_holder(path: str) -> Optional[dict]:
        """The holder recorded in lock file ``path`` (None if unreadable)."""
        try:
            with open(path, encoding='utf-8') as f:
                holder = json.load(f)
        except (OSError, ValueError):
            return None
        if not (isinstance(holder, dict)
                and isinstance(holder.get('pid'), int)
                and isinstance(holder.get('host'), str)):
            return None
        return holder

    def _describe(self, holder: Optional[dict]) -> str:
        if holder is None:
            return f'an unknown process (lock file {self.path} unreadable)'
        started = holder.get('started', '?')
        return (f'pid {holder["pid"]} on host {holder["host"]} (started '
                f'{started}; lock file {self.path})')

    def _locked_error(self) -> 'DirLockedError':
        return DirLockedError(
            f'{osp.dirname(self.path)} is in use by another run: '
            f'{self._describe(self.read_holder(self.path))}. Wait for it to '
            'finish, or use another work dir.')

    def check_free(self) -> None:
        """Raise if another process holds the lock now; take nothing.

        For a check before any work (``tools/train.py`` runs it before the
        Runner writes its config copy into the work dir); :meth:`acquire`
        still decides when the run starts.

        Raises:
            DirLockedError: Another process holds the lock.
        """
        if not osp.isfile(self.path) or self.path in DirLock._held:
            return
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise self._locked_error() from None
        finally:
            os.close(fd)  # closing drops the shared lock taken to test

    def acquire(self) -> Optional[str]:
        """Take the lock.

        Returns:
            str or None: A warning when a stale lock was taken over, else
            None.

        Raises:
            DirLockedError: Another process holds the lock, or a stale lock
                cannot be judged dead (another host, or a live pid).
        """
        note = None
        previous = DirLock._held.pop(self.path, None)
        if previous is not None:
            previous.release()
            note = (f'took over the lock {self.path} that an earlier run of '
                    'this process did not release (it raised)')
        os.makedirs(osp.dirname(self.path), exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                # a few tries: check_free() of a starting run holds a shared
                # lock for microseconds
                for attempt in range(5):
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except OSError as e:
                        if e.errno not in (errno.EAGAIN, errno.EACCES) or \
                                attempt == 4:
                            raise
                        time.sleep(0.02)
            except OSError as e:
                os.close(fd)
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                raise self._locked_error() from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # removed by its releasing holder meanwhile: retry
        try:
            stale = None
            if os.fstat(fd).st_size:
                stale = self.read_holder(self.path)
                stale_note = self._judge_stale(stale)
                note = stale_note or note
            os.ftruncate(fd, 0)
            info = dict(
                pid=os.getpid(),
                host=host_name(),
                started=time.strftime('%Y-%m-%d %H:%M:%S'))
            os.write(fd, json.dumps(info).encode())
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        DirLock._held[self.path] = self
        return note

    def _judge_stale(self, holder: Optional[dict]) -> Optional[str]:
        """Warning for taking over ``holder``'s stale lock, or raise."""
        if holder is None:
            raise DirLockedError(
                f'{osp.dirname(self.path)} has a lock file {self.path} that '
                'is not readable as a lock; if no run uses this work dir, '
                'delete it.')
        pid, host = holder['pid'], holder['host']
        if host == host_name() and pid == os.getpid():
            return None  # released before by this same process
        if host == host_name() and not pid_alive(pid):
            return (f'took over the stale lock {self.path} of pid {pid} on '
                    f'this host ({host}): that process no longer runs')
        if host == host_name():
            why = 'that pid is running'
        else:
            why = 'its host cannot be checked from here'
        raise DirLockedError(
            f'{osp.dirname(self.path)} is locked by {self._describe(holder)}'
            f' and {why}. If no run uses this work dir any more, delete the '
            'lock file.')

    def release(self) -> None:
        """Remove the lock file and drop the lock; a no-op if not held."""
        if self._fd is None:
            return
        try:
            if osp.exists(self.path) and os.stat(self.path).st_ino == os.fstat(
                    self._fd).st_ino:
                os.remove(self.path)
        finally:
            os.close(self._fd)
            self._fd = None
            if DirLock._held.get(self.path) is self:
                del DirLock._held[self.path]

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None
