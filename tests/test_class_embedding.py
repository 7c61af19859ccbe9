"""The registered ClassEmbedding component."""
import numpy as np
import pytest
import torch
from mmseg.registry import MODELS

import mmseg_zs3  # noqa: F401
from mmseg_zs3.embeddings import ClassEmbeddings, dataset_classes
from mmseg_zs3.utils.extra_state import decode_extra_state

VOC = list(dataset_classes('PascalVOCDataset'))


@pytest.fixture
def voc_file(tmp_path):
    names = list(reversed(VOC))
    vectors = np.arange(len(names) * 4, dtype=np.float32).reshape(-1, 4)
    path = str(tmp_path / 'voc.npz')
    ClassEmbeddings(names, vectors, dict(sources=['t'])).save(path)
    return path, names, vectors


def test_builds_and_reorders_by_dataset_name(voc_file):
    path, names, vectors = voc_file
    model = MODELS.build(
        dict(
            type='ClassEmbedding',
            embedding_file=path,
            classes='PascalVOCDataset',
            dim=4))
    out = model()
    assert out.dtype == torch.float32 and out.shape == (21, 4)
    assert model.num_classes == 21 and model.dim == 4
    assert model.class_names == VOC
    for i, name in enumerate(VOC):
        assert torch.equal(out[i],
                           torch.from_numpy(vectors[names.index(name)]))
    # saved with the weights: checkpoints are self-contained
    state = model.state_dict()
    assert torch.equal(state['embeddings'], out)
    assert decode_extra_state(state['_extra_state'])['class_names'] == VOC


def test_list_and_file_order(voc_file):
    path, names, _ = voc_file
    model = MODELS.build(dict(type='ClassEmbedding', embedding_file=path))
    assert model.class_names == names
    sub = VOC[::-1]
    model = MODELS.build(
        dict(type='ClassEmbedding', embedding_file=path, classes=tuple(sub)))
    assert model.class_names == sub


def test_errors_name_the_problem(voc_file):
    path, _, _ = voc_file
    with pytest.raises(ValueError, match="missing 'bag'"):
        MODELS.build(
            dict(
                type='ClassEmbedding',
                embedding_file=path,
                classes='PascalContextDataset'))
    with pytest.raises(ValueError, match="extra 'tvmonitor'"):
        MODELS.build(
            dict(type='ClassEmbedding', embedding_file=path, classes=VOC[:-1]))
    with pytest.raises(ValueError, match='4-d.*dim=300'):
        MODELS.build(dict(type='ClassEmbedding', embedding_file=path, dim=300))
    with pytest.raises(ValueError, match='PascalVOCDataset'):
        MODELS.build(
            dict(
                type='ClassEmbedding',
                embedding_file=path,
                classes='PascalVOCDatset'))


def test_npy_array_names_the_converter(voc_file, tmp_path):
    _, _, vectors = voc_file
    path = str(tmp_path / 'published.npy')
    np.save(path, vectors)
    with pytest.raises(ValueError) as e:
        MODELS.build(
            dict(
                type='ClassEmbedding',
                embedding_file=path,
                classes='PascalVOCDataset',
                dim=4))
    assert path in str(e.value)
    assert 'tools/convert_class_embeddings.py' in str(e.value)
