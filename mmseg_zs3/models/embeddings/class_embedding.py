"""``ClassEmbedding``: a class-embedding file as an mmseg component."""
import json
import logging
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Union

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from mmseg.utils import OptConfigType

from mmseg_zs3.embeddings import ClassEmbeddings, resolve_class_names
from mmseg_zs3.utils.extra_state import decode_extra_state, encode_extra_state

_EXTRA_STATE = '_extra_state'  # torch's key of get_extra_state()


@MODELS.register_module()
class ClassEmbedding(BaseModule):
    """Fixed class embeddings (word vectors) for ZS3Net's generator.

    The counterpart of mmseg's ``CLIPTextEncoder`` for word-vector methods
    (ZS3Net, Bucher et al., NeurIPS 2019): ``forward()`` returns the
    ``[num_classes, dim]`` matrix. Rows are matched **by name** to the
    dataset's class list, never by position: the published arrays and
    mmseg's datasets order classes differently.

    Checkpoints are self-contained: the matrix is a persistent buffer
    (``embeddings``) and the class names and provenance are the module's
    extra state, so every checkpoint of a model holds the embeddings it was
    trained with. Where they come from:

    - **the file exists**: it is read when the model is built. A checkpoint
      loaded afterwards wins (the weights were trained with its
      embeddings); if they differ from the file's, the log says so.
    - **the file is missing** (testing or inference on another machine, the
      training file deleted): mmseg's ``init_model``, ``MMSegInferencer``
      and ``tools/test.py`` build the model from its config *before* they
      load the checkpoint, so the module is built with a placeholder of the
      configured shape, ``[len(classes), dim]`` (NaN, never used as data),
      and the checkpoint fills it. ``classes`` and ``dim`` are therefore
      needed to build without the file. A checkpoint without embeddings, or
      of another shape or class order, is then an error naming the file.
    - **training** needs the file: :meth:`init_weights` (which mmengine's
      Runner calls before training, never before testing) raises naming the
      missing file, before any work is done.

    Args:
        embedding_file (str, optional): A file written by
            :meth:`mmseg_zs3.embeddings.ClassEmbeddings.save` (see
            ``tools/build_class_embeddings.py`` and
            ``tools/convert_class_embeddings.py``). None: the embeddings come
            from a checkpoint only (needs ``classes`` and ``dim``).
        classes (list | tuple | str | None): The class order: a list of
            names, or an mmseg dataset type name such as
            ``'PascalVOCDataset'`` (its ``METAINFO['classes']``). None keeps
            the file's order. A class missing from the file, or a file class
            not in the list, is an error naming it. Defaults to None.
        dim (int, optional): Expected embedding dimension (the generator's
            input); an error if the file differs. Defaults to None.
        init_cfg (dict, optional): Unused; for the BaseModule interface.
            Defaults to None.

    Raises:
        FileNotFoundError: The file is missing and ``classes`` or ``dim`` is
            not given (the shape cannot be known).
        ValueError: The file does not match ``classes`` or ``dim``, is not
            a class-embedding file (or is a folder), or ``dim`` is not a
            positive integer.
    """

    def __init__(self,
                 embedding_file: Optional[str],
                 classes: Union[None, str, Sequence[str]] = None,
                 dim: Optional[int] = None,
                 init_cfg: OptConfigType = None):
        super().__init__(init_cfg=init_cfg)
        if dim is not None and (isinstance(dim, bool)
                                or not isinstance(dim, int) or dim <= 0):
            raise ValueError(f'dim={dim!r}; expected a positive integer (the '
                             'embedding dimension) or None')
        self.embedding_file = embedding_file
        path = None if embedding_file is None else osp.expanduser(
            embedding_file)
        if path is not None and osp.isdir(path):
            raise ValueError(f'embedding_file={embedding_file!r} is a folder; '
                             'expected a class-embedding .npz file')
        if path is not None and osp.exists(path):
            names, vectors, meta = self._read_file(path, classes, dim)
            self.source: Optional[str] = 'file'
        elif classes is not None and dim is not None:
            names = resolve_class_names(classes)
            vectors = torch.full((len(names), dim), float('nan'))
            meta = {}
            self.source = None  # filled by a checkpoint
        else:
            raise FileNotFoundError(
                f'class-embedding file not found: {embedding_file!r}. Build '
                'it with tools/build_class_embeddings.py (or convert one with '
                'tools/convert_class_embeddings.py); to build this model for '
                'testing or inference from a checkpoint that holds the class '
                'embeddings, give ClassEmbedding both classes= and dim= '
                f'(got classes={classes!r}, dim={dim!r}).')
        self.class_names: List[str] = list(names)
        self.meta: Dict[str, Any] = meta
        self.register_buffer('embeddings', vectors)

    @staticmethod
    def _read_file(path: str, classes, dim):
        emb = ClassEmbeddings.load(path)
        if classes is not None:
            names = resolve_class_names(classes)
            try:
                emb = emb.reorder(names)
            except ValueError as e:
                raise ValueError(
                    f'{path!r} vs classes '
                    f'{classes if isinstance(classes, str) else "list"}: '
                    f'{e}') from None
        if dim is not None and emb.dim != dim:
            raise ValueError(
                f'{path!r} has {emb.dim}-d embeddings but dim={dim} '
                f'was expected (the generator input); sources '
                f'{emb.meta.get("sources")}')
        return emb.names, torch.from_numpy(emb.vectors), emb.meta

    @property
    def num_classes(self) -> int:
        """int: Number of classes (rows)."""
        return len(self.class_names)

    @property
    def dim(self) -> int:
        """int: Embedding dimension."""
        return int(self.embeddings.shape[1])

    def forward(self) -> torch.Tensor:
        """Return the class embeddings.

        Returns:
            Tensor: float32 ``[num_classes, dim]``, in ``class_names`` order
            (NaN while a model built without its file waits for a
            checkpoint).
        """
        return self.embeddings

    def init_weights(self) -> None:
        """Check that the embeddings exist before training.

        Raises:
            FileNotFoundError: The module was built without its file (a
                placeholder for a checkpoint to fill): training needs the
                file.
        """
        if self.source is None:
            raise FileNotFoundError(
                f'class-embedding file not found: {self.embedding_file!r}. '
                'Training needs it (a checkpoint provides the class '
                'embeddings only for testing and inference); build it with '
                'tools/build_class_embeddings.py.')
        super().init_weights()

    def get_extra_state(self) -> torch.Tensor:
        """The class names (row order) and provenance, saved with the
        weights as a JSON ``uint8`` tensor (see
        :mod:`mmseg_zs3.utils.extra_state`: a state dict of tensors only, as
        mmengine's DDP set-up needs)."""
        return encode_extra_state(
            dict(
                class_names=list(self.class_names),
                meta=json.loads(json.dumps(self.meta))))

    def set_extra_state(self, state: Any) -> None:
        """Adopt the provenance of a checkpoint's embeddings (the names were
        checked in :meth:`_load_from_state_dict`)."""
        state = decode_extra_state(state, 'ClassEmbedding extra state')
        self.meta = dict(state.get('meta') or {})

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys,
                              error_msgs) -> None:
        """Load the checkpoint's embeddings after checking shape and class
        order; refuse a checkpoint without them when there is no file."""
        key = prefix + 'embeddings'
        extra_key = prefix + _EXTRA_STATE
        extra = decode_extra_state(state_dict.get(extra_key), extra_key)
        if extra is not None and not (isinstance(extra, dict) and isinstance(
                extra.get('class_names'), (list, tuple))):
            raise TypeError(
                f'`{extra_key}` of the checkpoint is {type(extra).__name__}; '
                'expected the dict of ClassEmbedding.get_extra_state')
        if key not in state_dict:
            if self.source is None:
                raise FileNotFoundError(
                    f'class-embedding file not found: '
                    f'{self.embedding_file!r}, and the checkpoint has no '
                    f'class embeddings (`{key}`): it was saved before '
                    'checkpoints held them, or by a model without this '
                    'module (e.g. a stage-1 checkpoint for a stage-2 '
                    'config). Provide the file.')
            # An older checkpoint: the file's embeddings stay.
            super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                          strict, missing_keys,
                                          unexpected_keys, error_msgs)
            if extra_key in missing_keys:
                missing_keys.remove(extra_key)
            return
        value = state_dict[key]
        where = (f'{self.embedding_file!r}'
                 if self.source == 'file' else 'the config (classes=, dim=)')
        if tuple(value.shape) != tuple(self.embeddings.shape):
            raise ValueError(
                f'the checkpoint\'s class embeddings `{key}` have shape '
                f'{tuple(value.shape)}, but {where} gives '
                f'{tuple(self.embeddings.shape)} ([classes, dim]); use a '
                'checkpoint trained with this config')
        if not torch.isfinite(value).all():
            raise ValueError(
                f'the checkpoint\'s class embeddings `{key}` are not finite: '
                'it was saved from a model built without its embedding file '
                'that never loaded any; provide the file or another '
                'checkpoint')
        if extra is not None and list(extra['class_names']) != \
                self.class_names:
            diff = [(i, a, b) for i, (
                a,
                b) in enumerate(zip(extra['class_names'], self.class_names))
                    if a != b]
            raise ValueError(
                f'the checkpoint\'s class embeddings (`{key}`) are for '
                f'another class order than {where}: first differences '
                f'(row, checkpoint, config) {diff[:3]}; use a checkpoint '
                'trained with this config\'s classes')
        if self.source == 'file' and not torch.equal(
                value.to(self.embeddings), self.embeddings):
            print_log(
                f'ClassEmbedding: the checkpoint\'s class embeddings differ '
                f'from {self.embedding_file!r}; the checkpoint\'s are used '
                '(the weights were trained with them).',
                logger='current',
                level=logging.WARNING)
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)
        if extra_key in missing_keys:
            missing_keys.remove(extra_key)
        self.source = 'checkpoint'

    def extra_repr(self) -> str:
        return (f'num_classes={self.num_classes}, dim={self.dim}, '
                f'file={self.embedding_file!r}, source={self.source!r}')
