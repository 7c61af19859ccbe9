"""Bad inputs of the class-embedding tools: each is a named error before any
work, and nothing unusable is written (issue: NaN/inf/zero vectors, truncated
files and cache entries, files of other formats, unwritable --out, indices
for names, --help without defaults)."""
import json
import os
import os.path as osp

import numpy as np
import pytest
from conftest import load_tool
from mmengine.logging import MMLogger

from mmseg_zs3.embeddings import (ClassEmbeddings, build_class_embeddings,
                                  dataset_classes, import_class_embeddings,
                                  load_word_vectors, resolve_class_names)
from mmseg_zs3.embeddings.word_vectors import CACHE_VERSION, cache_key

VOC = list(dataset_classes('PascalVOCDataset'))

_tool = load_tool

BUILD = _tool('build_class_embeddings')
CONVERT = _tool('convert_class_embeddings')


def _cli_error(tool, argv) -> str:
    """Run a tool's ``main``; return its one-line error (exit status 1)."""
    with pytest.raises(SystemExit) as e:
        tool.main(argv)
    assert isinstance(e.value.code, str), e.value.code  # not a traceback
    assert e.value.code.startswith('error: ')
    return e.value.code


class _Warnings:
    """Collects the WARNING records of mmengine's current logger."""

    def __enter__(self):
        import logging
        self.records = []
        self.handler = logging.Handler(logging.WARNING)
        self.handler.emit = self.records.append
        MMLogger.get_current_instance().addHandler(self.handler)
        return self

    def __exit__(self, *exc):
        MMLogger.get_current_instance().removeHandler(self.handler)

    @property
    def messages(self):
        return [r.getMessage() for r in self.records]


@pytest.fixture
def glove_txt(tmp_path):
    """GloVe text with NaN, inf and all-zero vectors for three words."""
    path = tmp_path / 'vectors.txt'
    path.write_text('red nan 1 2\nblue 1 inf 0\ngreen 0 0 0\n'
                    'circle 1 2 3\nsquare 3 2 1\n')
    return str(path)


# --- NaN, inf and all-zero rows ---------------------------------------------


def test_builder_refuses_nonfinite_and_zero_vectors(glove_txt, tmp_path):
    kv = load_word_vectors(glove_txt, cache_dir=str(tmp_path / 'c'))
    with pytest.raises(ValueError) as e:
        build_class_embeddings(['red circle', 'blue', 'green', 'square'], kv)
    msg = str(e.value)
    assert "'red circle' in glove:vectors.txt: non-finite (NaN/inf) " \
        "vector from tokens ['red', 'circle']" in msg
    assert "'blue' in glove:vectors.txt: non-finite" in msg
    assert "'green' in glove:vectors.txt: all-zero vector" in msg
    assert "'square'" not in msg
    out = tmp_path / 'out.npz'
    err = _cli_error(BUILD, [
        glove_txt, '--classes', 'red circle,square', '--cache-dir',
        str(tmp_path / 'c'), '--out',
        str(out)
    ])
    assert "'red circle'" in err and 'non-finite' in err
    assert not out.exists()


def test_converter_refuses_nonfinite_and_zero_rows(tmp_path):
    rows = np.random.default_rng(0).normal(size=(21, 8))
    rows[3, 2] = np.nan  # VOC[3] = 'bird'
    rows[5] = 0  # VOC[5] = 'bottle'
    rows[7, 0] = -np.inf  # VOC[7] = 'car'
    path = str(tmp_path / 'published.npy')
    np.save(path, rows)
    with pytest.raises(ValueError) as e:
        import_class_embeddings(path, VOC)
    msg = str(e.value)
    assert path in msg
    assert "non-finite (NaN/inf) rows for ['bird', 'car']" in msg
    assert "all-zero rows for ['bottle']" in msg
    out = tmp_path / 'out.npz'
    err = _cli_error(CONVERT, [
        path, '--classes', 'PascalVOCDataset', '--normalize', 'l2', '--out',
        str(out)
    ])
    assert path in err and "['bottle']" in err
    assert not out.exists()


def test_load_refuses_unusable_rows(tmp_path):
    vectors = np.ones((3, 4), np.float32)
    vectors[1] = np.nan
    vectors[2] = 0
    path = str(tmp_path / 'e.npz')
    np.savez(
        path,
        format=np.array('mmseg_zs3.class_embeddings'),
        version=np.array(1),
        names=np.array(['a', 'b', 'c']),
        vectors=vectors,
        meta=np.array('{}'))
    with pytest.raises(ValueError) as e:
        ClassEmbeddings.load(path)
    assert path in str(e.value)
    assert "non-finite (NaN/inf) rows for ['b']" in str(e.value)
    assert "all-zero rows for ['c']" in str(e.value)


def test_float32_overflow_is_non_finite():
    with pytest.raises(ValueError, match=r"non-finite .* for \['b'\]"):
        ClassEmbeddings(['a', 'b'], np.array([[1.0, 0], [1e39, 0]]))


# --- truncated and foreign files ---------------------------------------------


@pytest.mark.parametrize('keep', [0.5, 10])
def test_truncated_class_embedding_file(tmp_path, keep):
    path = str(tmp_path / 'e.npz')
    ClassEmbeddings(['a', 'b'], np.eye(2)).save(path)
    data = open(path, 'rb').read()
    n = int(len(data) * keep) if keep < 1 else keep
    open(path, 'wb').write(data[:n])
    with pytest.raises(ValueError) as e:
        ClassEmbeddings.load(path)
    assert path in str(e.value) and 'truncated' in str(e.value)


def test_npy_and_random_bytes_as_class_embedding_file(tmp_path):
    npy = str(tmp_path / 'published.npy')
    np.save(npy, np.eye(3))
    with pytest.raises(ValueError, match='it is a .npy array') as e:
        ClassEmbeddings.load(npy)
    assert npy in str(e.value)
    assert 'tools/convert_class_embeddings.py' in str(e.value)
    junk = tmp_path / 'junk.npz'
    junk.write_bytes(os.urandom(100))
    with pytest.raises(ValueError, match='not an .npz archive'):
        ClassEmbeddings.load(str(junk))


# --- the word-vector cache ---------------------------------------------------


def _entry(source, cache):
    return osp.join(cache, f'{cache_key(source, "glove")}-v{CACHE_VERSION}')


@pytest.mark.parametrize(
    'damage', ['truncate', 'drop_words', 'drop_manifest', 'edit_manifest'])
def test_corrupt_cache_entry_is_named_and_rebuilt(tmp_path, damage):
    source = tmp_path / 'glove.txt'
    source.write_text('red 1 0 0\ngreen 0 1 0\nblue 0 0 1\n')
    cache = str(tmp_path / 'cache')
    load_word_vectors(str(source), cache_dir=cache)
    entry = _entry(str(source), cache)
    vectors = osp.join(entry, 'vectors.npy')
    if damage == 'truncate':  # cut short: gensim's cache said "mmap length"
        size = osp.getsize(vectors)
        with open(vectors, 'r+b') as f:
            f.truncate(size - 8)
    elif damage == 'drop_words':
        os.remove(osp.join(entry, 'words.json'))
    elif damage == 'drop_manifest':  # a crash before the manifest
        os.remove(osp.join(entry, 'manifest.json'))
    else:
        with open(osp.join(entry, 'manifest.json')) as f:
            manifest = json.load(f)
        manifest['words'] = 4
        with open(osp.join(entry, 'manifest.json'), 'w') as f:
            json.dump(manifest, f)
    for attempt in range(2):
        with _Warnings() as w:
            kv = load_word_vectors(str(source), cache_dir=cache)
        np.testing.assert_array_equal(kv['blue'], [0, 0, 1])
        corrupt = [m for m in w.messages if 'corrupt' in m]
        if attempt == 0:  # named, and rebuilt
            assert len(corrupt) == 1 and entry in corrupt[0], w.messages
        else:  # trusted again only once rebuilt
            assert corrupt == []
    assert sorted(os.listdir(cache)) == [osp.basename(entry)]  # no leftovers


# --- vectors files of other formats ------------------------------------------


def test_vectors_files_of_other_formats(tmp_path):
    rng = np.random.default_rng(0)
    binary = tmp_path / 'vectors.bin'
    binary.write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    as_json = tmp_path / 'vectors.json'
    as_json.write_text(json.dumps({'red': [1, 0], 'green': [0, 1]}))
    empty = tmp_path / 'empty.txt'
    empty.write_text('')
    not_gzip = tmp_path / 'vectors.txt.gz'
    not_gzip.write_text('red 1 0\n')
    header = tmp_path / 'w2v.txt'  # word2vec text: rows of the wrong width
    header.write_text('2 3\nred 1 0\ngreen 0 1\n')
    cut = tmp_path / 'w2v.bin'  # word2vec binary cut short
    cut.write_bytes(b'2 3\nred ' + np.ones(3, np.float32).tobytes()[:5])
    cache = tmp_path / 'cache'
    for path, fmt in [(binary, 'auto'), (as_json, 'auto'), (empty, 'auto'),
                      (not_gzip, 'auto'), (header, 'auto'), (as_json, 'glove'),
                      (binary, 'fasttext'), (as_json, 'word2vec_bin'),
                      (cut, 'auto')]:
        with pytest.raises(ValueError) as e:
            load_word_vectors(str(path), fmt=fmt, cache_dir=str(cache))
        msg = str(e.value)
        assert str(path) in msg, (path, fmt, msg)
        assert 'Accepted: word2vec binary' in msg and 'GloVe text' in msg
    assert not cache.exists() or os.listdir(cache) == []
    err = _cli_error(BUILD, [
        str(as_json), '--classes', 'red,green', '--cache-dir',
        str(cache), '--out',
        str(tmp_path / 'o.npz')
    ])
    assert str(as_json) in err and 'Accepted' in err


# --- --out -------------------------------------------------------------------


def test_unwritable_out_is_refused_before_any_work(tmp_path, glove_txt):
    a_file = tmp_path / 'a_file'
    a_file.write_text('')
    array = str(tmp_path / 'voc.npy')
    np.save(array, np.random.default_rng(0).normal(size=(21, 4)))
    cache = tmp_path / 'cache'
    for out, why in [('/proc/zs3_no_such_dir/e.npz', 'not writable'),
                     (str(a_file / 'e.npz'), 'is a file, not a folder'),
                     (str(tmp_path), 'is a folder')]:
        err = _cli_error(BUILD, [
            glove_txt, '--classes', 'circle', '--cache-dir',
            str(cache), '--out', out
        ])
        assert f'--out {out!r}' in err and why in err, err
        err = _cli_error(
            CONVERT, [array, '--classes', 'PascalVOCDataset', '--out', out])
        assert f'--out {out!r}' in err and why in err, err
        assert '.tmp' not in err
    assert not cache.exists()  # the vectors were never read


def test_out_that_is_an_input_is_refused(tmp_path, glove_txt):
    array = str(tmp_path / 'voc.npy')
    np.save(array, np.random.default_rng(0).normal(size=(21, 4)))
    before = open(array, 'rb').read()
    err = _cli_error(CONVERT,
                     [array, '--classes', 'PascalVOCDataset', '--out', array])
    assert f'--out {array!r} is also an input' in err
    assert open(array, 'rb').read() == before
    err = _cli_error(
        BUILD, [glove_txt, '--classes', 'circle,square', '--out', glove_txt])
    assert 'is also an input' in err


# --- indices instead of names ------------------------------------------------


def test_class_indices_instead_of_names(glove_txt, tmp_path):
    with pytest.raises(
            TypeError, match=r'got int values \[1, 6\].*not '
            'indices'):
        resolve_class_names([1, 6])
    kv = load_word_vectors(glove_txt, cache_dir=str(tmp_path / 'c'))
    with pytest.raises(TypeError, match='not indices'):
        build_class_embeddings([1, 6], kv)
    with pytest.raises(TypeError, match='not indices'):
        import_class_embeddings(str(tmp_path / 'x.npy'), [0, 1])


# --- --help ------------------------------------------------------------------


@pytest.mark.parametrize(
    'tool', [BUILD, CONVERT],
    ids=['build_class_embeddings', 'convert_class_embeddings'])
def test_help_describes_every_option_and_default(tool):
    parser = tool.build_parser()
    text = parser.format_help()
    for action in parser._actions:
        if action.dest == 'help':
            continue
        assert action.help, action.dest
        shown = parser._get_formatter()._get_help_string(action)
        assert (action.required or not action.option_strings
                or 'default' in shown), (action.dest, shown)
    assert '(default: l2)' in text or '(default: none)' in text
    assert 'Examples' in text or 'Example' in text
