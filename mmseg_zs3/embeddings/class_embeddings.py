"""``ClassEmbeddings``: class names, their vectors and how they were made.

File format (``.npz``, read with ``allow_pickle=False``, so loading a file
never runs code):

- ``format``: the string ``'mmseg_zs3.class_embeddings'``;
- ``version``: int, currently 1;
- ``names``: unicode array ``[C]``, the class names in row order;
- ``vectors``: float32 ``[C, D]``;
- ``meta``: a JSON string: ``sources`` (list), ``dim``, ``normalization``,
  and ``classes`` (per class: the phrase, tokens and strategy used for each
  source), plus whatever the producer adds (``imported_from``, ...).
"""
import io
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np

from mmseg_zs3.fileio import atomic_open

FILE_FORMAT = 'mmseg_zs3.class_embeddings'
FILE_VERSION = 1


class ClassEmbeddings:
    """A ``[C, D]`` class-embedding matrix whose rows are named.

    Args:
        names (Sequence[str]): The class names, one per row, unique.
        vectors (np.ndarray): ``[C, D]``; stored as float32.
        meta (dict, optional): JSON-serialisable provenance: ``sources``,
            ``dim``, ``normalization``, per-class ``classes``. Defaults to
            ``{}`` plus ``dim``.
    """

    def __init__(self, names: Sequence[str], vectors: np.ndarray,
                 meta: Optional[dict] = None):
        names = [str(n) for n in names]
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2:
            raise ValueError(f'class embeddings must be a 2-D [classes, dim] '
                             f'array, got shape {vectors.shape}')
        if vectors.shape[0] != len(names):
            raise ValueError(f'{len(names)} class names for '
                             f'{vectors.shape[0]} rows')
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f'duplicate class names: {dup}')
        self.names: List[str] = names
        self.vectors: np.ndarray = vectors
        self.meta: dict = dict(meta or {})
        self.meta['dim'] = int(vectors.shape[1])

    @property
    def dim(self) -> int:
        """int: The embedding dimension D."""
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}({len(self)} classes x {self.dim}, '
                f'normalization={self.meta.get("normalization")!r}, '
                f'sources={self.meta.get("sources")})')

    def __getitem__(self, name: str) -> np.ndarray:
        return self.vectors[self.index(name)]

    def index(self, name: str) -> int:
        """Row of ``name``; a KeyError names the close spellings."""
        try:
            return self.names.index(name)
        except ValueError:
            import difflib
            near = difflib.get_close_matches(name, self.names, n=3)
            raise KeyError(f'class {name!r} is not in the embeddings'
                           + (f'; close: {near}' if near else '')) from None

    def class_info(self, name: str) -> Optional[dict]:
        """The per-class record of ``meta['classes']`` for ``name``."""
        for rec in self.meta.get('classes', []):
            if rec.get('name') == name:
                return rec
        return None

    def reorder(self, classes: Sequence[str],
                drop_extra: bool = False) -> 'ClassEmbeddings':
        """Return a copy whose rows follow ``classes``, matched by name.

        Args:
            classes (Sequence[str]): The target class order (e.g. a dataset's
                ``METAINFO['classes']``).
            drop_extra (bool): Drop rows whose names are not in ``classes``
                (recorded in ``meta['dropped']``) instead of raising, e.g. the
                11 unused ids of a 182-row COCO-Stuff array for mmseg's 171
                classes. Defaults to False.

        Returns:
            ClassEmbeddings: The reordered embeddings.

        Raises:
            ValueError: A class of ``classes`` has no row, or (unless
                ``drop_extra``) a row has no class; both lists are named.
        """
        classes = [str(c) for c in classes]
        have = set(self.names)
        missing = [c for c in classes if c not in have]
        wanted = set(classes)
        extra = [n for n in self.names if n not in wanted]
        if len(wanted) != len(classes):
            dup = sorted({c for c in classes if classes.count(c) > 1})
            raise ValueError(f'target class list has duplicates: {dup}')
        if missing or (extra and not drop_extra):
            import difflib
            lines = []
            for c in missing:
                near = difflib.get_close_matches(c, extra or self.names, n=3)
                lines.append(f'  missing {c!r}' +
                             (f' (embeddings have {near})' if near else ''))
            if not drop_extra:
                lines += [f'  extra {n!r}' for n in extra]
            raise ValueError(
                f'class embeddings ({len(self)} classes) do not match the '
                f'target class list ({len(classes)} classes):\n' +
                '\n'.join(lines))
        rows = [self.names.index(c) for c in classes]
        meta = json.loads(json.dumps(self.meta))
        if 'classes' in meta:
            by_name = {r.get('name'): r for r in meta['classes']}
            meta['classes'] = [by_name[c] for c in classes if c in by_name]
        if extra:
            meta['dropped'] = list(meta.get('dropped', [])) + extra
        return ClassEmbeddings(classes, self.vectors[rows], meta)

    def save(self, path: str) -> None:
        """Write the file atomically (temporary file + ``os.replace``).

        Args:
            path (str): Output path; ``.npz`` is the conventional suffix.
        """
        buf = io.BytesIO()
        np.savez(
            buf,
            format=np.array(FILE_FORMAT),
            version=np.array(FILE_VERSION),
            names=np.array(self.names, dtype=str),
            vectors=self.vectors,
            meta=np.array(json.dumps(self.meta, sort_keys=True)))
        with atomic_open(path) as f:
            f.write(buf.getvalue())

    @classmethod
    def load(cls, path: str) -> 'ClassEmbeddings':
        """Read a file written by :meth:`save`.

        Args:
            path (str): The ``.npz`` file.

        Returns:
            ClassEmbeddings: The embeddings.
        """
        if not osp.isfile(path):
            raise FileNotFoundError(f'class-embedding file not found: '
                                    f'{path!r}')
        try:
            with np.load(path, allow_pickle=False) as z:
                data: Dict[str, np.ndarray] = {k: z[k] for k in z.files}
        except (ValueError, OSError) as e:
            raise ValueError(
                f'{path!r} is not a class-embedding file written by '
                f'ClassEmbeddings.save ({e}); convert published arrays with '
                f'tools/convert_class_embeddings.py') from e
        if str(data.get('format', '')) != FILE_FORMAT:
            raise ValueError(
                f'{path!r} is not a {FILE_FORMAT} file (keys '
                f'{sorted(data)}); convert published arrays with '
                f'tools/convert_class_embeddings.py')
        version = int(data['version'])
        if version > FILE_VERSION:
            raise ValueError(f'{path!r} has format version {version}; this '
                             f'code reads up to {FILE_VERSION}')
        return cls([str(n) for n in data['names']], data['vectors'],
                   json.loads(str(data['meta'])))
