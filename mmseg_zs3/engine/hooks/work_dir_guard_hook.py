"""Keep a work dir's checkpoints complete and owned by one run at a time."""
import logging
import os.path as osp
import re
from typing import List, Optional, Tuple

from mmengine.dist import broadcast_object_list, is_main_process
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log
from mmseg.registry import HOOKS

from ...fileio import DirLock, atomic_open, format_bytes, remove_orphaned_temps
from ...utils.checkpoint_file import (CheckpointFileError,
                                      checkpoint_file_problem,
                                      checkpoint_files)
from .runner_state import is_resuming, is_training

ATOMIC_BACKEND = dict(backend='zs3_atomic_local')
# Temporary names of versions before fileio's writer tag: the feature cache
# (the one large file they wrote into a work dir).
LEGACY_TEMPS = (re.compile(r'^\.zs3_feature_cache\.pth\.[a-z0-9_]{8}\.tmp$'), )


def _is_remote(path: str) -> bool:
    return '://' in str(path)


def _warn(msg: str) -> None:
    print_log(msg, logger='current', level=logging.WARNING)


@HOOKS.register_module()
class WorkDirGuardHook(Hook):
    """One run per work dir, complete checkpoints only, and a ``--resume``
    that never trusts a broken file.

    mmengine writes checkpoints straight to their final name and resumes from
    whatever ``last_checkpoint`` names, so a full disk or a kill leaves a
    truncated ``iter_N.pth`` that ``--resume`` then fails on, and two runs in
    one work dir overwrite each other's checkpoints. At ``before_run`` of a
    training run this hook

    1. takes the lock file ``work_dir/<lock_name>``
       (:class:`~mmseg_zs3.fileio.DirLock`):
       a second run in the same work dir stops with an error naming the
       holder's pid and host; the stale lock of a dead process of this host
       is taken over with a warning;
    2. removes the orphaned temporary files that killed runs left in the work
       dir (only names of this package's writers, of dead processes: see
       :func:`~mmseg_zs3.fileio.remove_orphaned_temps`), logging each;
    3. makes every local ``CheckpointHook`` without ``backend_args`` save
       through :class:`~mmseg_zs3.fileio.AtomicLocalBackend`, so a checkpoint
       appears under its name only when complete, and ``last_checkpoint``
       (written by mmengine after the save) only names complete files;
    4. with ``--resume`` (and no ``load_from``), checks the checkpoint that
       ``last_checkpoint`` names. If it is missing, empty or truncated, it
       logs the skipped file and why, and points ``last_checkpoint`` at the
       newest complete checkpoint of the work dir, from which mmengine then
       resumes; if there is none, it raises. Without ``--resume``, it logs the
       checkpoints of an earlier run that this run will replace.

    Test runs (``tools/test.py``) are left alone. The lock is released at
    ``after_run``; a run that raises keeps it until its process ends (a later
    runner of the same process takes it over). Under DDP, rank 0 does the
    work and every rank raises its error.

    Args:
        lock_name (str): Lock file name in the work dir. Defaults to
            '.zs3_train.lock'.
        atomic_checkpoints (bool): Step 3. Defaults to True.
    """
    priority = 'VERY_HIGH'

    def __init__(self,
                 lock_name: str = '.zs3_train.lock',
                 atomic_checkpoints: bool = True) -> None:
        self.lock_name = lock_name
        self.atomic_checkpoints = atomic_checkpoints
        self._lock: Optional[DirLock] = None

    def before_run(self, runner) -> None:
        """Lock, clean, switch to atomic saves, settle what is resumed.

        Args:
            runner (Runner): The runner.

        Raises:
            DirLockedError: Another run holds the work dir.
            CheckpointFileError: ``--resume`` finds no complete checkpoint
                among broken ones.
        """
        training = is_training(runner)
        if training and self.atomic_checkpoints:
            for hook in self._checkpoint_hooks(runner):
                if hook.backend_args is None and hook.file_client_args is None:
                    hook.backend_args = dict(ATOMIC_BACKEND)
        error = None
        if is_main_process():
            try:
                if training:
                    self._lock_and_clean(runner)
                    resuming = is_resuming(runner)
                    if resuming and runner._load_from is None:
                        self._settle_resume_target(runner)
                    elif not resuming:
                        self._log_replaced(runner)
            except Exception as e:
                if self._lock is not None:
                    self._lock.release()
                    self._lock = None
                error = e
        reason = None if error is None else f'{type(error).__name__}: {error}'
        shared = [reason]
        broadcast_object_list(shared)
        if error is not None:
            raise error
        if shared[0] is not None:
            raise RuntimeError(f'rank 0 stopped before the run: {shared[0]}')

    def after_run(self, runner) -> None:
        """Release the work-dir lock."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    # ------------------------------------------------------------------
    @staticmethod
    def _checkpoint_hooks(runner) -> List[CheckpointHook]:
        return [
            h for h in runner.hooks if isinstance(h, CheckpointHook)
            and not _is_remote(h.out_dir or runner.work_dir)
        ]

    @staticmethod
    def _out_dir(hook: CheckpointHook, runner) -> str:
        """The folder ``hook`` will save to (as its ``before_train`` sets)."""
        if hook.out_dir is None or hook.out_dir == runner.work_dir:
            return runner.work_dir
        return osp.join(hook.out_dir,
                        osp.basename(runner.work_dir.rstrip(osp.sep)))

    def _lock_and_clean(self, runner) -> None:
        self._lock = DirLock(osp.join(runner.work_dir, self.lock_name))
        note = self._lock.acquire()
        if note:
            _warn(f'WorkDirGuardHook: {note}.')
        folders = {osp.abspath(runner.work_dir)}
        folders.update(
            osp.abspath(self._out_dir(h, runner))
            for h in self._checkpoint_hooks(runner))
        for folder in sorted(folders):
            for path, size in remove_orphaned_temps(folder, LEGACY_TEMPS):
                _warn(f'WorkDirGuardHook: removed {path} ({format_bytes(size)}'
                      '), a temporary file that a killed run left behind.')

    def _settle_resume_target(self, runner) -> None:
        """Point ``last_checkpoint`` at a complete checkpoint, or raise."""
        hooks = self._checkpoint_hooks(runner)
        if hooks:
            folder = self._out_dir(hooks[0], runner)
            tmpl = hooks[0].filename_tmpl
        else:
            folder, tmpl = runner.work_dir, 'iter_{}.pth'
        pointer = osp.join(runner.work_dir, 'last_checkpoint')
        target = None
        if osp.isfile(pointer):
            with open(pointer, 'rb') as f:
                raw = f.read(4097)
            try:
                target = raw.decode('utf-8').strip()
            except UnicodeDecodeError:
                target = '\n'  # not a path: handled below
        if target and _is_remote(target):
            return
        candidates = checkpoint_files(folder, tmpl)
        skipped: List[Tuple[str, str]] = []
        if target and (len(target) > 4096 or not target.isprintable()):
            skipped.append((pointer, 'does not hold a file path'))
            target = None
        elif target:
            problem = checkpoint_file_problem(target)
            if problem is None:
                return
            skipped.append((target, problem))
        elif target == '':
            skipped.append((pointer, 'is empty'))
        elif not candidates:  # no last_checkpoint, no checkpoint
            return  # nothing to resume: mmengine starts afresh, says so
        else:
            skipped.append((pointer, 'does not exist'))
        chosen = None
        for path in candidates:
            if target and osp.abspath(path) == osp.abspath(target):
                continue
            problem = checkpoint_file_problem(path)
            if problem is None:
                chosen = path
                break
            skipped.append((path, problem))
        listing = '; '.join(f'{p}, which {why}' for p, why in skipped)
        if chosen is None:
            raise CheckpointFileError(
                f'--resume found no complete checkpoint in {folder}: '
                f'{listing}. Move or delete the broken files and train '
                'without --resume to start afresh.')
        with atomic_open(pointer, 'w', encoding='utf-8') as f:
            f.write(chosen)
        _warn(f'WorkDirGuardHook: --resume skips {listing}. Resuming from '
              f'the newest complete checkpoint {chosen} instead '
              f'({pointer} now names it).')

    def _log_replaced(self, runner) -> None:
        """Log which checkpoints of an earlier run this new run replaces."""
        for hook in self._checkpoint_hooks(runner):
            folder = self._out_dir(hook, runner)
            existing = checkpoint_files(folder, hook.filename_tmpl)
            pointer = osp.join(runner.work_dir, 'last_checkpoint')
            if not existing and not osp.isfile(pointer):
                continue
            tmpl = re.compile(
                '^' +
                re.escape(hook.filename_tmpl).replace(r'\{\}', r'(\d+)') + '$')
            total = runner.max_epochs if hook.by_epoch else runner.max_iters
            replaced, kept = [], []
            for path in sorted(existing, key=osp.basename):
                step = int(tmpl.match(osp.basename(path)).group(1))
                saved = (
                    hook.interval > 0 and step <= total
                    and step >= hook.save_begin
                    and (step - hook.save_begin) % hook.interval == 0)
                saved = saved or (hook.save_last and step == total)
                (replaced if saved else kept).append(osp.basename(path))
            if osp.isfile(pointer):
                replaced.append('last_checkpoint')
            msg = (f'WorkDirGuardHook: {folder} holds checkpoints of an '
                   f'earlier run. This new run (not --resume) will replace '
                   f'{", ".join(replaced)}')
            if kept:
                msg += f'; it leaves {", ".join(kept)} untouched'
            _warn(msg + '. Use --resume to continue that run instead, or '
                  'another --work-dir to keep both.')
