"""``ClassEmbedding``: a class-embedding file as an mmseg component."""
import os.path as osp
from typing import List, Optional, Sequence, Union

import torch
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from mmseg.utils import OptConfigType

from mmseg_zs3.embeddings import ClassEmbeddings, resolve_class_names


@MODELS.register_module()
class ClassEmbedding(BaseModule):
    """Fixed class embeddings (word vectors) for ZS3Net's generator.

    The counterpart of mmseg's ``CLIPTextEncoder`` for word-vector methods
    (ZS3Net, Bucher et al., NeurIPS 2019): ``forward()`` returns the
    ``[num_classes, dim]`` matrix. Rows are matched **by name** to the
    dataset's class list, never by position: the published arrays and
    mmseg's datasets order classes differently.

    Args:
        embedding_file (str): A file written by
            :meth:`mmseg_zs3.embeddings.ClassEmbeddings.save` (see
            ``tools/build_class_embeddings.py`` and
            ``tools/convert_class_embeddings.py``).
        classes (list | tuple | str | None): The class order: a list of
            names, or an mmseg dataset type name such as
            ``'PascalVOCDataset'`` (its ``METAINFO['classes']``). None keeps
            the file's order. A class missing from the file, or a file class
            not in the list, is an error naming it. Defaults to None.
        dim (int, optional): Expected embedding dimension (the generator's
            input); an error if the file differs. Defaults to None.
        init_cfg (dict, optional): Unused; for the BaseModule interface.
            Defaults to None.
    """

    def __init__(self,
                 embedding_file: str,
                 classes: Union[None, str, Sequence[str]] = None,
                 dim: Optional[int] = None,
                 init_cfg: OptConfigType = None):
        super().__init__(init_cfg=init_cfg)
        emb = ClassEmbeddings.load(osp.expanduser(embedding_file))
        if classes is not None:
            names = resolve_class_names(classes)
            try:
                emb = emb.reorder(names)
            except ValueError as e:
                raise ValueError(f'{embedding_file!r} vs classes '
                                 f'{classes if isinstance(classes, str) else "list"}: '
                                 f'{e}') from None
        if dim is not None and emb.dim != dim:
            raise ValueError(
                f'{embedding_file!r} has {emb.dim}-d embeddings but dim={dim} '
                f'was expected (the generator input); sources '
                f'{emb.meta.get("sources")}')
        self.embedding_file = embedding_file
        self.class_names: List[str] = list(emb.names)
        self.meta = emb.meta
        self.register_buffer('embeddings', torch.from_numpy(emb.vectors),
                             persistent=False)

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
            Tensor: float32 ``[num_classes, dim]``, in ``class_names`` order.
        """
        return self.embeddings

    def extra_repr(self) -> str:
        return (f'num_classes={self.num_classes}, dim={self.dim}, '
                f'file={self.embedding_file!r}')
