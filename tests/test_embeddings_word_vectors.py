"""Word-vector loading (every format, written by the test) and building."""
import os

import numpy as np
import pytest
from gensim.models import KeyedVectors

from mmseg_zs3.embeddings import (build_class_embeddings, detect_format,
                                  load_word_vectors)

WORDS = [
    'red', 'green', 'circle', 'square', 'tv', 'monitor', 'traffic_light',
    'table'
]


@pytest.fixture(scope='module')
def vocab():
    rng = np.random.default_rng(0)
    return {w: rng.normal(size=8).astype(np.float32) for w in WORDS}


def _write_text(path, vocab, header):
    with open(path, 'w', encoding='utf-8') as f:
        if header:
            f.write(f'{len(vocab)} 8\n')
        for w, v in vocab.items():
            f.write(w + ' ' + ' '.join(repr(float(x)) for x in v) + '\n')


@pytest.fixture(scope='module')
def files(tmp_path_factory, vocab):
    d = tmp_path_factory.mktemp('wv')
    kv = KeyedVectors(vector_size=8)
    kv.add_vectors(list(vocab), np.stack(list(vocab.values())))
    paths = dict(
        word2vec_text=str(d / 'w2v.txt'),
        word2vec_bin=str(d / 'w2v.bin'),
        glove=str(d / 'glove.txt'),
        kv=str(d / 'native.kv'))
    kv.save_word2vec_format(paths['word2vec_text'], binary=False)
    kv.save_word2vec_format(paths['word2vec_bin'], binary=True)
    _write_text(paths['glove'], vocab, header=False)
    kv.save(paths['kv'])
    return paths


@pytest.mark.parametrize('fmt',
                         ['word2vec_text', 'word2vec_bin', 'glove', 'kv'])
def test_formats_load_and_build_means(files, vocab, fmt, tmp_path):
    assert detect_format(files[fmt]) == fmt
    kv = load_word_vectors(
        files[fmt],
        fmt='auto',
        cache_dir=str(tmp_path),
        trust_pickle=fmt == 'kv')
    assert len(kv.index_to_key) == len(vocab)
    emb = build_class_embeddings(
        ['red circle', 'green', 'traffic light', 'tvmonitor'],
        kv,
        aliases={'tvmonitor': ['tv monitor', 'tv']},
        normalize='none')
    f64 = {w: v.astype(np.float64) for w, v in vocab.items()}
    expected = np.stack([(f64['red'] + f64['circle']) / 2,
                         f64['green'], f64['traffic_light'],
                         (f64['tv'] + f64['monitor']) / 2])
    np.testing.assert_allclose(emb.vectors, expected, atol=1e-6)
    recs = emb.meta['classes']
    assert recs[0]['sources'][0]['strategy'] == 'mean'
    assert recs[2]['sources'][0] == dict(
        phrase='traffic light',
        tokens=['traffic_light'],
        strategy='phrase',
        subword=[],
        alias=False)
    assert recs[3]['sources'][0]['alias'] is True
    assert recs[3]['sources'][0]['tokens'] == ['tv', 'monitor']


def test_cache_is_reused_and_atomic(files, tmp_path):
    cache = tmp_path / 'cache'
    kv1 = load_word_vectors(files['glove'], cache_dir=str(cache))
    entries = os.listdir(cache)
    assert len(entries) == 1 and not entries[0].startswith('.')
    kv2 = load_word_vectors(files['glove'], cache_dir=str(cache))
    assert isinstance(kv2.vectors, np.memmap)
    np.testing.assert_array_equal(kv1.vectors, kv2.vectors)
    assert os.listdir(cache) == entries


def test_cache_dir_from_env(files, tmp_path, monkeypatch):
    monkeypatch.setenv('MMSEG_ZS3_CACHE', str(tmp_path / 'env'))
    load_word_vectors(files['word2vec_text'])
    assert len(os.listdir(tmp_path / 'env' / 'word_vectors')) == 1


def test_normalisations_and_concatenation(files, vocab, tmp_path):
    a = load_word_vectors(files['glove'], cache_dir=str(tmp_path))
    b = load_word_vectors(files['word2vec_bin'], cache_dir=str(tmp_path))
    raw = np.stack([vocab['red'], vocab['square'] * 1]).astype(np.float64)
    cat = np.concatenate([raw, raw], axis=1)
    l2 = build_class_embeddings(['red', 'square'], [a, b], normalize='l2')
    np.testing.assert_allclose(
        l2.vectors,
        cat / np.linalg.norm(cat, axis=1, keepdims=True),
        atol=1e-6)
    assert l2.dim == 16 and len(l2.meta['sources']) == 2
    mx = build_class_embeddings(['red', 'square'], a, normalize='max_norm')
    np.testing.assert_allclose(
        mx.vectors, raw / np.linalg.norm(raw, axis=1).max(), atol=1e-6)
    with pytest.raises(ValueError, match="'unit'.*'none', 'l2', 'max_norm'"):
        build_class_embeddings(['red'], a, normalize='unit')


def test_oov_is_an_error_naming_every_word(files, tmp_path):
    kv = load_word_vectors(files['glove'], cache_dir=str(tmp_path))
    with pytest.raises(KeyError) as e:
        build_class_embeddings(['red', 'purple circle', 'sqare'], kv)
    msg = e.value.args[0]
    assert "'purple circle'" in msg and "'purple'" in msg
    assert "'sqare'" in msg and "'square'" in msg  # nearest spelling
    assert 'circle' not in msg.split("missing")[1].split(']')[0]


def test_allow_missing_says_what_it_did(files, vocab, tmp_path):
    kv = load_word_vectors(files['glove'], cache_dir=str(tmp_path))
    emb = build_class_embeddings(['purple circle', 'red'],
                                 kv,
                                 allow_missing=True,
                                 normalize='none')
    np.testing.assert_allclose(emb.vectors[0], vocab['circle'], atol=1e-6)
    assert len(emb.meta['missing']) == 1
    assert "'purple circle'" in emb.meta['missing'][0]
    strategies = [r['sources'][0]['strategy'] for r in emb.meta['classes']]
    assert strategies == ['missing_partial', 'word']


def test_allow_missing_never_zero_fills(files, tmp_path):
    """A class with no known token was zero-filled; now it stays an error."""
    kv = load_word_vectors(files['glove'], cache_dir=str(tmp_path))
    with pytest.raises(KeyError) as e:
        build_class_embeddings(['purple circle', 'sqare'],
                               kv,
                               allow_missing=True)
    msg = e.value.args[0]
    assert "'sqare'" in msg and 'nothing is zero-filled' in msg
    assert "'purple circle'" not in msg  # that one has a known word


def test_fasttext_subwords_fill_oov(tmp_path):
    from gensim.models import FastText
    from gensim.models.fasttext import save_facebook_model
    sentences = [['red', 'circle', 'green', 'square', 'potted', 'plant'],
                 ['blue', 'triangle', 'plant', 'pot', 'red', 'square']] * 20
    model = FastText(
        vector_size=8,
        window=2,
        min_count=1,
        epochs=2,
        min_n=2,
        max_n=4,
        bucket=2000,
        seed=0,
        workers=1)
    model.build_vocab(sentences)
    model.train(sentences, total_examples=len(sentences), epochs=2)
    path = str(tmp_path / 'ft.bin')
    save_facebook_model(model, path)
    assert detect_format(path) == 'fasttext'
    kv = load_word_vectors(path, cache_dir=str(tmp_path / 'c'))
    kv2 = load_word_vectors(path, cache_dir=str(tmp_path / 'c'))  # cached
    assert 'pottedplant' not in kv.key_to_index
    emb = build_class_embeddings(['red circle', 'pottedplant'],
                                 kv2,
                                 normalize='none')
    ref = model.wv
    np.testing.assert_allclose(
        emb.vectors[0], (ref['red'].astype(np.float64) + ref['circle']) / 2,
        atol=1e-6)
    np.testing.assert_allclose(emb.vectors[1], ref['pottedplant'], atol=1e-6)
    assert emb.vectors[1].any()
    rec = emb.meta['classes'][1]['sources'][0]
    assert rec['subword'] == ['pottedplant'] and rec['strategy'] == 'word'


def test_bad_format_and_missing_file(files, tmp_path):
    with pytest.raises(ValueError, match="'xml'.*'glove'"):
        load_word_vectors(files['glove'], fmt='xml')
    with pytest.raises(FileNotFoundError, match='nope.txt'):
        load_word_vectors(str(tmp_path / 'nope.txt'))


def test_trusted_gensim_model_file(tmp_path):
    """``--trust-pickle`` reads a full gensim model too (its ``.wv``)."""
    from gensim.models import Word2Vec
    sentences = [['red', 'circle', 'green', 'square']] * 10
    model = Word2Vec(
        sentences, vector_size=8, min_count=1, epochs=1, seed=0, workers=1)
    path = str(tmp_path / 'w2v.model')
    model.save(path)
    with pytest.raises(ValueError, match='refusing to read'):
        load_word_vectors(path)
    kv = load_word_vectors(path, trust_pickle=True)
    np.testing.assert_array_equal(kv['red'], model.wv['red'])
    assert kv.zs3_source == 'kv:w2v.model'
