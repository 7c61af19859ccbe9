"""Our file format, reordering by name, and importers of published arrays."""
import pickle
import struct

import numpy as np
import pytest
import torch

from mmseg_zs3.embeddings import (COCO_STUFF_182_CLASSES, ClassEmbeddings,
                                  check_alignment, dataset_classes,
                                  import_class_embeddings)

VOC = list(dataset_classes('PascalVOCDataset'))
CONTEXT = list(dataset_classes('PascalContextDataset'))
COCO = list(dataset_classes('COCOStuffDataset'))


def _random(names, dim=6, seed=0):
    rng = np.random.default_rng(seed)
    return ClassEmbeddings(names, rng.normal(size=(len(names), dim)),
                           dict(sources=['test'], normalization='none'))


def test_save_load_roundtrip(tmp_path):
    emb = _random(['red circle', 'tvmonitor', 'wall-concrete'])
    emb.meta['classes'] = [dict(name=n, sources=[]) for n in emb.names]
    path = str(tmp_path / 'e.npz')
    emb.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ['e.npz']  # no temp left
    back = ClassEmbeddings.load(path)
    assert back.names == emb.names
    assert back.vectors.dtype == np.float32
    np.testing.assert_array_equal(back.vectors, emb.vectors)
    assert back.meta == emb.meta and back.meta['dim'] == 6


def test_load_rejects_other_npz(tmp_path):
    path = str(tmp_path / 'x.npz')
    np.savez(path, a=np.zeros(3))
    with pytest.raises(ValueError, match='convert_class_embeddings'):
        ClassEmbeddings.load(path)


@pytest.mark.parametrize('classes', [VOC, CONTEXT, COCO])
def test_reorder_by_name_to_mmseg_lists(classes):
    shuffled = list(np.random.default_rng(1).permutation(classes))
    emb = _random(shuffled)
    out = emb.reorder(classes)
    assert out.names == list(classes)
    for i, name in enumerate(classes):
        np.testing.assert_array_equal(out.vectors[i],
                                      emb.vectors[shuffled.index(name)])


def test_reorder_names_missing_and_extra():
    emb = _random(VOC[1:] + ['table'])
    with pytest.raises(ValueError) as e:
        emb.reorder(VOC)
    assert "missing 'background'" in str(e.value)
    assert "extra 'table'" in str(e.value)


def test_reorder_182_to_mmseg_171_drops_unused_ids():
    assert len(COCO_STUFF_182_CLASSES) == 182 and len(COCO) == 171
    emb = _random(list(COCO_STUFF_182_CLASSES))
    with pytest.raises(ValueError, match="extra 'street sign'"):
        emb.reorder(COCO)
    out = emb.reorder(COCO, drop_extra=True)
    assert out.names == COCO and len(out.meta['dropped']) == 11


class _Py2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 ``str`` opcodes, like a Python 2 pickle."""
    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        self.write(pickle.BINSTRING + struct.pack('<i', len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def test_import_latin1_pickle(tmp_path):
    arr = np.random.default_rng(0).normal(size=(21, 300)).astype(np.float32)
    path = tmp_path / 'voc_w2v.pkl'
    with open(path, 'wb') as f:
        _Py2Pickler(f, protocol=2).dump(arr)
    with open(path, 'rb') as f, pytest.raises(UnicodeDecodeError):
        pickle.load(f)  # what a plain Python 3 load does with it
    emb = import_class_embeddings(str(path), VOC, normalize='max_norm')
    expected = arr.astype(np.float64)
    expected /= np.linalg.norm(expected, axis=1).max()
    np.testing.assert_allclose(emb.vectors, expected, atol=1e-6)
    assert emb.meta['normalization'] == 'max_norm'


def test_import_npy_torch_and_py3_pickle(tmp_path):
    arr = np.random.default_rng(0).normal(size=(21, 8))
    np.save(tmp_path / 'a.npy', arr)
    torch.save(torch.from_numpy(arr), tmp_path / 'a.pth')
    with open(tmp_path / 'a.pkl', 'wb') as f:
        pickle.dump({'embeddings': arr}, f, protocol=2)
    for name, key in [('a.npy', None), ('a.pth', None),
                      ('a.pkl', 'embeddings')]:
        emb = import_class_embeddings(str(tmp_path / name), VOC, key=key)
        np.testing.assert_allclose(emb.vectors, arr, atol=1e-6)
        assert emb.names == VOC


def test_import_refuses_code_in_pickles(tmp_path):
    import os
    path = tmp_path / 'evil.pkl'

    class Evil:

        def __reduce__(self):
            return (os.system, ('true', ))

    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(pickle.UnpicklingError, match='refusing'):
        import_class_embeddings(str(path), VOC)


def test_class_list_offset_by_one_is_caught(tmp_path):
    arr = np.random.default_rng(0).normal(size=(182, 8))
    np.save(tmp_path / 'coco.npy', arr)
    labels = tmp_path / 'labels.txt'  # cocostuff labels.txt incl. 0
    labels.write_text('0: unlabeled\n' +
                      ''.join(f'{i + 1}: {n}\n'
                              for i, n in enumerate(COCO_STUFF_182_CLASSES)))
    with pytest.raises(ValueError, match=r'182 rows but 183 class.*\(\+1\)'):
        import_class_embeddings(str(tmp_path / 'coco.npy'), str(labels))
    # Same row count but rolled names: caught by the similarity structure,
    # here against a random rotation of the same vectors (another space).
    ref = _random(VOC, dim=12, seed=3)
    q, _ = np.linalg.qr(np.random.default_rng(4).normal(size=(12, 12)))
    rows = ref.vectors.astype(np.float64) @ q
    np.save(tmp_path / 'voc.npy', rows)
    good = import_class_embeddings(
        str(tmp_path / 'voc.npy'), VOC, reference=ref)
    assert good.meta['alignment']['best_shift'] == 0
    np.save(tmp_path / 'voc_off.npy', rows[1:])
    with pytest.raises(ValueError, match=r'offset by \+1'):
        import_class_embeddings(
            str(tmp_path / 'voc_off.npy'), VOC[:-1], reference=ref)
    with pytest.raises(ValueError, match=r'20 rows but 21'):
        import_class_embeddings(str(tmp_path / 'voc_off.npy'), VOC)
    assert check_alignment(good, ref)['best_shift'] == 0
