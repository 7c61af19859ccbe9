"""No run loses or corrupts data: the shapes generator's ``--overwrite``,
atomic checkpoints, ``--resume`` past a broken checkpoint, one run per work
dir, orphaned temporary files, and checkpoint files that are not one."""
import errno
import glob
import hashlib
import json
import os
import os.path as osp
import shutil
import signal
import subprocess
import sys
import time

import mmseg
import pytest
import torch
from conftest import (REPO, tiny_config, unique_experiment_name,
                      write_tiny_config)
from mmengine.config import Config
from mmengine.runner import Runner

from mmseg_zs3.datasets import generate_shapes_dataset
from mmseg_zs3.fileio import AtomicLocalBackend, DirLockedError, host_name
from mmseg_zs3.utils import CheckpointFileError, checkpoint_file_problem

TINY = dict(num_train=2, num_val=1, num_calib=1)


def _digest(folder):
    """sha1 of every file under ``folder``, by relative path."""
    out = {}
    for d, _, files in os.walk(folder):
        for f in files:
            path = osp.join(d, f)
            with open(path, 'rb') as fh:
                out[osp.relpath(path,
                                folder)] = hashlib.sha1(fh.read()).hexdigest()
    return out


def _dead_pid():
    """The pid of a process of this host that has exited."""
    proc = subprocess.Popen(['true'])
    proc.wait()
    return proc.pid


def _temp_name(name, pid):
    """The temporary name fileio gives ``name`` in process ``pid``."""
    return f'.{name}.zs3tmp-{host_name()}-{pid}-abcd_123.tmp'


def _assert_complete(path):
    assert checkpoint_file_problem(path) is None, path


def _log(runner):
    with open(osp.join(runner.log_dir, f'{runner.timestamp}.log')) as f:
        return f.read()


# ---------------------------------------------------------------- generator
def test_overwrite_refuses_a_folder_of_user_files(tmp_path):
    root = tmp_path / 'mine'
    (root / 'img_dir').mkdir(parents=True)
    (root / 'notes.txt').write_bytes(b'my notes')
    (root / 'img_dir' / 'photo.png').write_bytes(b'\x89PNG my photo')
    before = _digest(str(root))
    with pytest.raises(FileExistsError) as info:
        generate_shapes_dataset(str(root), overwrite=True, **TINY)
    msg = str(info.value)
    assert str(root) in msg and 'not a shapes dataset' in msg
    assert 'it holds img_dir, notes.txt.' in msg
    assert _digest(str(root)) == before
    assert os.listdir(tmp_path) == ['mine']  # no temporary folder left


def test_overwrite_refuses_a_dataset_holding_user_files(tmp_path):
    root = str(tmp_path / 'shapes')
    generate_shapes_dataset(root, **TINY)
    user_file = osp.join(root, 'img_dir', 'train', 'my_image.jpg')
    with open(user_file, 'wb') as f:
        f.write(b'user bytes')
    before = _digest(root)
    with pytest.raises(FileExistsError, match='img_dir/train/my_image.jpg'):
        generate_shapes_dataset(root, overwrite=True, seed=1, **TINY)
    assert _digest(root) == before


def test_overwrite_replaces_own_output(tmp_path):
    root = str(tmp_path / 'shapes')
    generate_shapes_dataset(root, **TINY)
    # SeenOnlyDataset's class-presence cache is this package's output too.
    cache = osp.join(root, 'ann_dir', '.zs3_cache')
    os.makedirs(cache)
    with open(osp.join(cache, 'class_presence_0a1b.json'), 'w') as f:
        f.write('{}')
    with pytest.raises(FileExistsError, match='other parameters'):
        generate_shapes_dataset(root, seed=1, **TINY)
    meta = generate_shapes_dataset(root, overwrite=True, seed=1, **TINY)
    with open(osp.join(root, 'meta.json')) as f:
        assert json.load(f) == meta and meta['seed'] == 1
    assert not osp.exists(cache)  # the cache of the old labels went too
    assert sorted(os.listdir(osp.join(
        root, 'img_dir', 'train'))) == ['train_00000.png', 'train_00001.png']
    assert os.listdir(tmp_path) == ['shapes']


def test_generator_removes_only_orphans_of_dead_processes(tmp_path):
    dead, live = _dead_pid(), os.getppid()
    orphan = tmp_path / _temp_name('shapes', dead)
    (orphan / 'img_dir' / 'train').mkdir(parents=True)
    (orphan / 'img_dir' / 'train' / 'train_00000.png').write_bytes(b'x' * 99)
    in_progress = tmp_path / _temp_name('shapes', live)
    in_progress.mkdir()
    legacy = tmp_path / '.shapes-tmp-ab12cd34'  # an untagged older version
    (legacy / 'ann_dir').mkdir(parents=True)
    not_ours = tmp_path / '.shapes-tmp-zz99zz99'
    not_ours.mkdir()
    (not_ours / 'thesis.tex').write_bytes(b'user')
    (tmp_path / 'notes.tmp').write_bytes(b'user')
    generate_shapes_dataset(str(tmp_path / 'shapes'), **TINY)
    assert sorted(os.listdir(tmp_path)) == sorted(
        ['shapes', in_progress.name, not_ours.name, 'notes.tmp'])
    assert (not_ours / 'thesis.tex').read_bytes() == b'user'


def test_generator_refuses_a_file_root_and_an_unwritable_folder(
        tmp_path, monkeypatch):
    root = tmp_path / 'shapes'
    root.write_bytes(b'a file')
    with pytest.raises(FileExistsError, match=f'{root} exists and is not a'):
        generate_shapes_dataset(str(root), overwrite=True, **TINY)
    assert root.read_bytes() == b'a file'
    from mmseg_zs3.datasets import generate_shapes

    def unwritable(path):
        raise PermissionError(errno.EACCES, 'Permission denied',
                              osp.join(osp.dirname(path), '.x.zs3tmp'))

    monkeypatch.setattr(generate_shapes, 'make_temp_dir', unwritable)
    with pytest.raises(OSError) as info:
        generate_shapes_dataset(str(tmp_path / 'new'), **TINY)
    assert (f'cannot write the shapes dataset {tmp_path / "new"}: its folder '
            f'{tmp_path} is not writable (Permission denied)') in str(
                info.value)


@pytest.mark.parametrize('other_seed', [0, 1])
def test_generator_racing_another_writer(tmp_path, monkeypatch, other_seed):
    """Another process writes the same root while this one generates."""
    from mmseg_zs3.datasets import generate_shapes
    root = str(tmp_path / 'shapes')
    render = generate_shapes.render_shapes_image
    calls = []

    def render_while_another_writes(*args, **kwargs):
        if not calls:
            calls.append(1)
            monkeypatch.setattr(generate_shapes, 'render_shapes_image', render)
            generate_shapes_dataset(root, seed=other_seed, **TINY)
        return render(*args, **kwargs)

    monkeypatch.setattr(generate_shapes, 'render_shapes_image',
                        render_while_another_writes)
    if other_seed == 0:  # the same dataset: kept, and reported as written
        assert generate_shapes_dataset(root, seed=0, **TINY)['seed'] == 0
    else:
        with pytest.raises(FileExistsError, match='another process'):
            generate_shapes_dataset(root, seed=0, **TINY)
    with open(osp.join(root, 'meta.json')) as f:
        assert json.load(f)['seed'] == other_seed
    assert os.listdir(tmp_path) == ['shapes']


def test_generator_tool_help_and_error(tmp_path, capsys):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'zs3_tool_generate',
        osp.join(REPO, 'tools', 'generate_shapes_dataset.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    with pytest.raises(SystemExit) as info:
        tool.parse_args(['--help'])
    assert info.value.code == 0
    text = ' '.join(capsys.readouterr().out.split())
    for expected in ('output folder (default: data/zs3_shapes)',
                     'images in the train split', '(default: 2400)',
                     '(default: 300)', '(default: 150)', '(default: 64)',
                     'random seed', 'never replaced'):
        assert expected in text, expected
    (tmp_path / 'mine').mkdir()
    (tmp_path / 'mine' / 'a.txt').write_bytes(b'keep')
    with pytest.raises(SystemExit) as info:
        tool.main([str(tmp_path / 'mine'), '--overwrite', '--num-train', '1'])
    assert str(info.value.code).startswith('error: refusing to overwrite')
    assert (tmp_path / 'mine' / 'a.txt').read_bytes() == b'keep'


# ------------------------------------------------------------- checkpoints
def _cfg(shapes_root, work_dir, **kwargs):
    kwargs.setdefault('max_iters', 2)
    kwargs.setdefault('checkpoint_interval', 1)
    cfg = tiny_config(shapes_root, str(work_dir), **kwargs)
    # mmengine names a runner's logger by config and start second: two
    # runners within a second would share the first one's log file.
    cfg.experiment_name = unique_experiment_name('zs3_data_safety')
    return cfg


class _DiskFullFile:
    """A file whose ``write`` stores half the bytes, then fails (ENOSPC)."""

    def __init__(self, f):
        self._f = f

    def write(self, data):
        self._f.write(data[:len(data) // 2])
        self._f.flush()
        raise OSError(errno.ENOSPC, 'No space left on device')

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._f.__exit__(*exc)


def test_disk_full_while_saving_leaves_no_partial_checkpoint(
        shapes_root, tmp_path, monkeypatch):
    work_dir = tmp_path / 'work'
    real_fdopen = os.fdopen

    def fdopen(fd, *args, **kwargs):
        f = real_fdopen(fd, *args, **kwargs)
        name = osp.basename(os.readlink(f'/proc/self/fd/{fd}'))
        return _DiskFullFile(f) if name.startswith('.iter_2.pth.') else f

    monkeypatch.setattr(os, 'fdopen', fdopen)
    runner = Runner.from_cfg(_cfg(shapes_root, work_dir))
    with pytest.raises(OSError, match='No space left'):
        runner.train()
    monkeypatch.undo()
    hooks = [h for h in runner.hooks if type(h).__name__ == 'CheckpointHook']
    assert isinstance(hooks[0].file_backend, AtomicLocalBackend)
    # iter_2.pth was never visible; iter_1.pth is complete and is what
    # last_checkpoint names; no temporary file is left.
    names = sorted(os.listdir(work_dir))
    assert 'iter_2.pth' not in names and 'iter_1.pth' in names
    assert not [n for n in names if n.endswith('.tmp')]
    _assert_complete(str(work_dir / 'iter_1.pth'))
    assert (work_dir / 'last_checkpoint').read_text() == str(work_dir /
                                                             'iter_1.pth')
    # The next --resume run (same process: it takes over the lock the
    # failed runner kept) continues from iter_1 and completes.
    cfg = _cfg(shapes_root, work_dir)
    cfg.resume = True
    resumed = Runner.from_cfg(cfg)
    resumed.train()
    assert resumed.iter == 2
    ckpt = torch.load(str(work_dir / 'iter_2.pth'), weights_only=True)
    assert ckpt['meta']['iter'] == 2
    assert not osp.exists(work_dir / '.zs3_train.lock')


def _copy_run(tiny_run, work_dir, truncate=(), pointer='iter_4.pth'):
    """The checkpoints of ``tiny_run`` in ``work_dir``, some truncated."""
    os.makedirs(work_dir)
    for name in ('iter_2.pth', 'iter_4.pth'):
        shutil.copy(osp.join(tiny_run['work_dir'], name), work_dir)
        os.utime(osp.join(work_dir, name), (1e9 + int(name[5]), ) * 2)
    for name in truncate:
        path = osp.join(work_dir, name)
        with open(path, 'rb') as f:
            data = f.read()
        with open(path, 'wb') as f:
            f.write(data[:len(data) // 3])
    with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(work_dir, pointer))


def test_resume_skips_a_truncated_newest_checkpoint(shapes_root, tiny_run,
                                                    tmp_path):
    work_dir = str(tmp_path / 'work')
    _copy_run(tiny_run, work_dir, truncate=['iter_4.pth'])
    cfg = _cfg(shapes_root, work_dir, max_iters=4, checkpoint_interval=2)
    cfg.resume = True
    runner = Runner.from_cfg(cfg)
    runner.train()
    log = _log(runner)
    assert (f'--resume skips {work_dir}/iter_4.pth, which is truncated' in log)
    assert f'newest complete checkpoint {work_dir}/iter_2.pth' in log
    assert runner.iter == 4
    # iter_4.pth was trained again from iter_2 and is complete now.
    _assert_complete(osp.join(work_dir, 'iter_4.pth'))
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read() == osp.join(work_dir, 'iter_4.pth')


def test_resume_from_a_moved_work_dir(shapes_root, tiny_run, tmp_path):
    # last_checkpoint names the work dir's old place.
    work_dir = str(tmp_path / 'work')
    old = str(tmp_path / 'old_place' / 'iter_4.pth')
    _copy_run(tiny_run, work_dir, pointer=old)
    cfg = _cfg(shapes_root, work_dir, max_iters=4, checkpoint_interval=2)
    cfg.resume = True
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert (
        f'--resume skips {old}, which does not exist. Resuming from the '
        f'newest complete checkpoint {work_dir}/iter_4.pth') in _log(runner)
    assert runner.iter == 4


def test_resume_with_no_complete_checkpoint_names_each_file(
        shapes_root, tiny_run, tmp_path):
    work_dir = str(tmp_path / 'work')
    _copy_run(tiny_run, work_dir, truncate=['iter_2.pth', 'iter_4.pth'])
    before = _digest(work_dir)
    cfg = _cfg(shapes_root, work_dir, max_iters=4, checkpoint_interval=2)
    cfg.resume = True
    runner = Runner.from_cfg(cfg)
    with pytest.raises(CheckpointFileError) as info:
        runner.train()
    msg = str(info.value)
    assert f'no complete checkpoint in {work_dir}' in msg
    assert f'{work_dir}/iter_4.pth, which is truncated' in msg
    assert f'{work_dir}/iter_2.pth, which is truncated' in msg
    assert 'weights_only' not in msg
    after = _digest(work_dir)
    assert {k: v for k, v in after.items() if k in before} == before
    assert not [k for k in after if k.endswith('.pth') and k not in before]
    assert not osp.exists(osp.join(work_dir, '.zs3_train.lock'))


@pytest.mark.parametrize('content, problem, loader_says', [
    (b'', 'is empty (0 bytes)', 'is empty (0 bytes)'),
    ('truncated', 'is truncated (5000 bytes', 'truncated'),
    (bytes(range(256)) * 8, 'is not a torch file', 'is not a torch file'),
])
def test_a_file_that_is_no_checkpoint(shapes_root, trained_checkpoint,
                                      tmp_path, content, problem, loader_says):
    path = str(tmp_path / 'model.pth')
    if content == 'truncated':
        with open(trained_checkpoint, 'rb') as f:
            content = f.read()[:5000]
    with open(path, 'wb') as f:
        f.write(content)
    assert checkpoint_file_problem(path).startswith(problem)
    # tools/test.py (a test run with load_from): the error names the file
    # and what is wrong with it, and gives no advice to load it unsafely.
    cfg = _cfg(shapes_root, tmp_path / 'test')
    cfg.load_from = path
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError) as info:
        runner.test()
    assert path in str(info.value) and loader_says in str(info.value)
    assert 'weights_only' not in str(info.value)


def test_complete_checkpoints_pass(trained_checkpoint, tmp_path):
    assert checkpoint_file_problem(trained_checkpoint) is None
    legacy = str(tmp_path / 'legacy.pth')
    torch.save({'w': torch.ones(2)},
               legacy,
               _use_new_zipfile_serialization=False)
    assert checkpoint_file_problem(legacy) is None
    assert checkpoint_file_problem(
        str(tmp_path)) == ('is a folder, not a checkpoint file')
    other_zip = str(tmp_path / 'data.zip')
    shutil.make_archive(other_zip[:-4], 'zip', str(tmp_path), 'legacy.pth')
    assert 'not a torch checkpoint' in checkpoint_file_problem(other_zip)


# ------------------------------------------------------------------ lock
_HOLDER = '''
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location('fileio', sys.argv[1])
fileio = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fileio)
fileio.DirLock(sys.argv[2]).acquire()
print('locked', flush=True)
time.sleep(120)
'''


def test_second_run_in_a_work_dir_is_refused(shapes_root, tmp_path):
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    (work_dir / 'iter_1.pth').write_bytes(b'the first run\'s checkpoint')
    lock = str(work_dir / '.zs3_train.lock')
    holder = subprocess.Popen([
        sys.executable, '-c', _HOLDER,
        osp.join(REPO, 'mmseg_zs3', 'fileio.py'), lock
    ],
                              stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == 'locked'
        runner = Runner.from_cfg(_cfg(shapes_root, work_dir))
        with pytest.raises(DirLockedError) as info:
            runner.train()
        msg = str(info.value)
        assert f'{work_dir} is in use by another run' in msg
        assert f'pid {holder.pid} on host {host_name()}' in msg
        assert lock in msg
        assert (work_dir /
                'iter_1.pth').read_bytes() == (b'the first run\'s checkpoint')
        assert not osp.exists(work_dir / 'iter_2.pth')
        # tools/train.py refuses before the Runner writes anything there
        # (its config copy, a log folder)
        from argparse import Namespace

        from mmseg_zs3.apis import train
        config = write_tiny_config(
            str(tmp_path / 'cfg.py'), shapes_root, str(work_dir))
        before = sorted(os.listdir(work_dir))
        with pytest.raises(DirLockedError, match=f'pid {holder.pid} on'):
            train(
                Namespace(
                    config=config,
                    work_dir=None,
                    resume=False,
                    amp=False,
                    cfg_options=None,
                    launcher='none'))
        assert sorted(os.listdir(work_dir)) == before
    finally:
        holder.kill()
        holder.wait()
    # The holder was killed: its lock is stale, and the next run takes it
    # over with a warning, and replaces the old run's iter_1.pth (logged).
    runner = Runner.from_cfg(_cfg(shapes_root, work_dir))
    runner.train()
    log = _log(runner)
    assert (f'took over the stale lock {lock} of pid {holder.pid} on this '
            'host') in log
    assert 'This new run (not --resume) will replace iter_1.pth' in log
    _assert_complete(str(work_dir / 'iter_1.pth'))
    assert not osp.exists(lock)


def test_lock_of_another_host_is_not_taken_over(shapes_root, tmp_path):
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    lock = work_dir / '.zs3_train.lock'
    lock.write_text(json.dumps(dict(pid=4242, host='gpu-node-7')))
    runner = Runner.from_cfg(_cfg(shapes_root, work_dir))
    with pytest.raises(DirLockedError) as info:
        runner.train()
    msg = str(info.value)
    assert 'pid 4242 on host gpu-node-7' in msg and 'delete the lock' in msg
    assert json.loads(lock.read_text()) == dict(pid=4242, host='gpu-node-7')
    assert not [
        n for n in os.listdir(work_dir)
        if n.endswith('.pth') or n == 'last_checkpoint'
    ]


def test_new_run_logs_the_checkpoints_it_replaces(shapes_root, tmp_path):
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    for step in (1, 2, 7):
        (work_dir / f'iter_{step}.pth').write_bytes(b'old %d' % step)
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'iter_7.pth'))
    runner = Runner.from_cfg(_cfg(shapes_root, work_dir))
    runner.train()
    assert (f'{work_dir} holds checkpoints of an earlier run. This new run '
            '(not --resume) will replace iter_1.pth, iter_2.pth, '
            'last_checkpoint; it leaves iter_7.pth untouched') in _log(runner)
    assert (work_dir / 'iter_7.pth').read_bytes() == b'old 7'
    _assert_complete(str(work_dir / 'iter_2.pth'))


def test_next_run_removes_only_orphaned_temps(shapes_root, tmp_path):
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    dead = _dead_pid()
    orphans = [
        _temp_name('iter_8.pth', dead),
        _temp_name('zs3_feature_cache.pth', dead),
        '.zs3_feature_cache.pth.k2j4h5g6.tmp',  # untagged, older version
    ]
    kept = [
        _temp_name('iter_9.pth', os.getppid()),  # a live process's write
        'notes.tmp',
        '.draft.k2j4h5g6.tmp',
        '.iter_8.pth.zs3tmp-othermachine-%d-abcd_123.tmp' % dead,
    ]
    for name in orphans + kept:
        (work_dir / name).write_bytes(b'x' * 3000)
    runner = Runner.from_cfg(_cfg(shapes_root, work_dir))
    runner.train()
    log = _log(runner)
    for name in orphans:
        assert not osp.exists(work_dir / name)
        assert (f'removed {work_dir / name} (2.9 KiB), a temporary file '
                'that a killed run left behind') in log
    for name in kept:
        assert (work_dir / name).read_bytes() == b'x' * 3000


# ------------------------------------------------- mmseg's own train tool
def test_killed_run_of_mmseg_train_tool_resumes(shapes_root, tmp_path):
    """SIGKILL a run of mmseg's unmodified tools/train.py (the hooks come
    from the config), leave a truncated newest checkpoint and an orphan of
    its save, and resume: the stale lock is taken over, the orphan removed,
    the broken checkpoint skipped, and the run completes."""
    tool = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'train.py')
    work_dir = str(tmp_path / 'work')
    config = write_tiny_config(
        str(tmp_path / 'cfg.py'),
        shapes_root,
        work_dir,
        max_iters=100,
        checkpoint_interval=1)
    env = dict(os.environ, OMP_NUM_THREADS='1')
    with open(tmp_path / 'stderr.txt', 'w') as stderr:
        proc = subprocess.Popen([sys.executable, tool, config],
                                cwd=str(tmp_path),
                                env=env,
                                stdout=subprocess.DEVNULL,
                                stderr=stderr)
    pointer = osp.join(work_dir, 'last_checkpoint')
    deadline = time.time() + 240
    while not (osp.isfile(osp.join(work_dir, 'iter_2.pth'))
               and osp.isfile(pointer)) and proc.poll() is None:
        assert time.time() < deadline
        time.sleep(0.05)
    assert proc.poll() is None, (tmp_path / 'stderr.txt').read_text()[-3000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    lock = osp.join(work_dir, '.zs3_train.lock')
    with open(lock) as f:
        assert json.load(f)['pid'] == proc.pid
    newest = max(
        int(osp.basename(p)[5:-4])
        for p in glob.glob(osp.join(work_dir, 'iter_*.pth')))
    for step in range(1, newest + 1):  # every save was complete
        _assert_complete(osp.join(work_dir, f'iter_{step}.pth'))
    # What a kill in the middle of a save by an older version leaves: a
    # truncated newest checkpoint that last_checkpoint names; and what the
    # same kill leaves now: an orphaned temporary file.
    with open(osp.join(work_dir, f'iter_{newest}.pth'), 'r+b') as f:
        f.truncate(1000)
    with open(pointer, 'w') as f:
        f.write(osp.join(work_dir, f'iter_{newest}.pth'))
    orphan = osp.join(work_dir, _temp_name(f'iter_{newest + 1}.pth', proc.pid))
    with open(orphan, 'wb') as f:
        f.write(b'half a checkpoint')

    cfg = Config.fromfile(config)
    cfg.resume = True
    cfg.train_cfg.max_iters = newest + 1
    cfg.experiment_name = unique_experiment_name('zs3_data_safety')
    runner = Runner.from_cfg(cfg)
    runner.train()
    log = _log(runner)
    assert f'took over the stale lock {lock} of pid {proc.pid}' in log
    assert f'removed {orphan}' in log and not osp.exists(orphan)
    assert (f'--resume skips {work_dir}/iter_{newest}.pth, which is '
            'truncated (1000 bytes') in log
    assert (f'newest complete checkpoint {work_dir}/iter_{newest - 1}.pth'
            in log)
    assert runner.iter == newest + 1
    for step in (newest, newest + 1):
        _assert_complete(osp.join(work_dir, f'iter_{step}.pth'))
    assert not osp.exists(lock)
    assert not glob.glob(osp.join(work_dir, '.*.tmp'))


def test_atomic_writes_get_the_usual_permissions(tmp_path):
    """Files and folders written through temporary names get the mode a
    plain open()/mkdir() gives under the umask (mkstemp's is 0600), or the
    mode of the file they replace."""
    from mmseg_zs3.fileio import atomic_open, make_temp_dir
    old = os.umask(0o022)
    try:
        new = str(tmp_path / 'new.pth')
        with atomic_open(new) as f:
            f.write(b'x')
        assert os.stat(new).st_mode & 0o777 == 0o644
        os.chmod(new, 0o640)
        with atomic_open(new) as f:
            f.write(b'y')
        assert os.stat(new).st_mode & 0o777 == 0o640
        folder = make_temp_dir(str(tmp_path / 'dataset'))
        assert os.stat(folder).st_mode & 0o777 == 0o755
    finally:
        os.umask(old)
