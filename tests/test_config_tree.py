"""The config tree reads like mmseg's: names in mmseg's scheme that agree
with what the config sets, inheritance at most three levels deep, prose in
configs/zs3/README.md (not copied across configs), no reference to a file
that is not shipped, and a metafile that lists the configs as mmseg's do."""
import functools
import glob
import os.path as osp
import re

import pytest
import yaml
from conftest import REPO
from mmengine.config import Config

ZS3 = osp.join(REPO, 'configs', 'zs3')
CONFIG_FILES = sorted(glob.glob(osp.join(ZS3, '**', '*.py'), recursive=True))
LEAVES = sorted(glob.glob(osp.join(ZS3, '*.py')))
MAX_DEPTH = 3
# {algorithm}_{backbone}_{gpus}x{batch}-{schedule}_{dataset}-{protocol}-{crop}
NAME = re.compile(r'^(?P<algorithm>[a-z0-9-]+)_(?P<backbone>[a-z0-9_.-]+?)_'
                  r'(?P<gpus>\d+)xb(?P<batch>\d+)-(?P<schedule>\d+(?:e|k|it))_'
                  r'(?P<dataset>[a-z0-9-]+?)(?:-(?P<protocol>zs3k\d+|u\d+))?'
                  r'-(?P<crop>\d+x\d+)\.py$')
# the algorithms and datasets of the published tables (this tree's README
# and metafile); other leaves (demo, oracle, ZS5Net...) document themselves
PUBLISHED = re.compile(r'^(seen-only|zs3net|zs3net-paper|devise)_.*_'
                       r'(voc12aug|context60|coco-stuff164k)-')
# documents of the development machine that a user never gets
NOT_SHIPPED = ('ZS3NET.md', 'FINDINGS', 'STYLE.md', 'STACK.md', '/work/',
               'shared/docs', '../docs')


@functools.lru_cache(maxsize=None)
def depth(path: str) -> int:
    """Levels of inheritance below ``path`` (0 for a file without bases),
    mmseg's own files (``mmseg::``) included."""
    bases = Config._get_base_files(path)
    return max((1 + depth(Config._get_cfg_path(b, path)[0]) for b in bases),
               default=0)


@pytest.mark.parametrize(
    'path', CONFIG_FILES, ids=[osp.relpath(p, ZS3) for p in CONFIG_FILES])
def test_inheritance_at_most_three_levels(path):
    assert depth(path) <= MAX_DEPTH, (path, depth(path))


def test_depth_counts_every_level(tmp_path):
    # a chain of four files is three levels deep
    for i in range(3):
        (tmp_path / f'c{i}.py').write_text(f"_base_ = ['./c{i + 1}.py']\n")
    (tmp_path / 'c3.py').write_text('a = 1\n')
    assert depth(str(tmp_path / 'c0.py')) == 3
    assert depth(str(tmp_path / 'c3.py')) == 0
    # mmseg's files count too: default_runtime.py has no base
    (tmp_path /
     'm.py').write_text("_base_ = ['mmseg::_base_/default_runtime.py']\n")
    assert depth(str(tmp_path / 'm.py')) == 1


@pytest.mark.parametrize('path', LEAVES, ids=[osp.basename(p) for p in LEAVES])
def test_leaf_name_matches_its_settings(path):
    """The name says what the config sets: batch per GPU, schedule (epochs,
    thousands of iterations or iterations) and crop."""
    match = NAME.match(osp.basename(path))
    assert match, f'{osp.basename(path)} is not ' \
        '{algorithm}_{backbone}_{gpus}x{batch}-{schedule}_{dataset}' \
        '-{protocol}-{crop}.py'
    cfg = Config.fromfile(path)
    assert cfg.train_dataloader.batch_size == int(match['batch'])
    schedule = match['schedule']
    if schedule.endswith('e'):
        assert cfg.train_cfg.max_epochs == int(schedule[:-1])
    elif schedule.endswith('k'):
        assert cfg.train_cfg.max_iters == int(schedule[:-1]) * 1000
    else:
        assert cfg.train_cfg.max_iters == int(schedule[:-2])
    if 'crop_size' in cfg:
        height, width = map(int, match['crop'].split('x'))
        assert tuple(cfg.crop_size) == (height, width)


def _comment_lines(path: str) -> list:
    with open(path, encoding='utf-8') as f:
        return [
            line.strip() for line in f if line.strip().startswith('#')
            and not line.strip().startswith('# noqa')
        ]


def test_prose_is_not_copied_across_configs():
    """A comment line of more than a few words appears in one config only
    (shared explanations belong in configs/zs3/README.md)."""
    seen = {}
    for path in CONFIG_FILES:
        for line in set(_comment_lines(path)):
            if len(line.split()) > 3:
                seen.setdefault(line, []).append(osp.relpath(path, ZS3))
    copied = {line: paths for line, paths in seen.items() if len(paths) > 1}
    assert not copied, copied


def test_published_leaves_carry_no_prose():
    for path in LEAVES:
        if PUBLISHED.match(osp.basename(path)):
            assert _comment_lines(path) == [], path


def test_no_reference_to_files_that_are_not_shipped():
    files = CONFIG_FILES + glob.glob(osp.join(ZS3, '*.md')) + \
        glob.glob(osp.join(ZS3, '*.yaml'))
    for path in files:
        with open(path, encoding='utf-8') as f:
            text = f.read()
        for word in NOT_SHIPPED:
            assert word not in text, (path, word)


def _metafile() -> dict:
    with open(osp.join(ZS3, 'metafile.yaml'), encoding='utf-8') as f:
        return yaml.safe_load(f)


def test_metafile_lists_every_published_config():
    meta = _metafile()
    collections = {c['Name'] for c in meta['Collections']}
    listed = {}
    for model in meta['Models']:
        assert model['In Collection'] in collections
        assert set(model) >= {
            'Name', 'In Collection', 'Results', 'Config', 'Metadata'
        }
        assert osp.isfile(osp.join(REPO, model['Config'])), model['Config']
        assert model['Name'] == osp.basename(model['Config'])[:-3]
        assert model['Metadata']['Batch Size'] > 0
        listed[model['Name']] = model
    for path in LEAVES:
        name = osp.basename(path)[:-3]
        if PUBLISHED.match(name + '.py'):
            assert name in listed, name
    # the published numbers, from the paper, and marked as such
    k2 = listed['zs3net-paper_deeplabv3plus_r101-d16-mg248_1xb8-30e_'
                'voc12aug-zs3k2-312x312']
    assert k2['Results'][0]['Metrics'] == {
        'mIoU seen (paper)': 72.0,
        'mIoU unseen (paper)': 35.4,
        'hIoU (paper)': 47.5
    }
    with open(osp.join(REPO, 'model-index.yml'), encoding='utf-8') as f:
        assert yaml.safe_load(f) == dict(Import=['configs/zs3/metafile.yaml'])


def test_readme_links_existing_configs():
    with open(osp.join(ZS3, 'README.md'), encoding='utf-8') as f:
        text = f.read()
    links = re.findall(r'\]\(([^)]+\.py)\)', text)
    assert len(links) > 20
    for link in links:
        assert osp.isfile(osp.join(ZS3, link)), link
    for section in ('## Introduction', '## Abstract', '## Results and models',
                    '## Usage', '## Citation'):
        assert section in text
