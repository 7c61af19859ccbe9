"""Class name -> vector: aliases, phrase tokens, averaging, normalisation.

For every class and every source (a gensim KeyedVectors), the phrases to try
are the class's alias list (see :mod:`.aliases`) or else its own name. For
each phrase, in order:

1. ``phrase``: the whole phrase as one vocabulary token (as written, then
   joined by ``_`` / ``-``, then lower-cased), e.g. word2vec's
   ``traffic_light``;
2. ``word`` / ``mean``: every word token of the phrase (split on spaces,
   ``-``, ``_``, ``/``; as written, then lower-cased) is in the vocabulary:
   the vector is their mean.

The first phrase that resolves wins. Only when none does, and the source
embeds unknown words from character n-grams (fastText), the first phrase is
resolved with ``subword`` vectors for its unknown words. Otherwise the class
is missing: an error lists every missing class and token with the nearest
vocabulary spellings. ``allow_missing=True`` lets a class average the words
of its first phrase that are known (logged, and recorded in ``meta``); a
class with no known word is an error even then: nothing is zero-filled.
A class whose vector comes out non-finite (NaN/inf in the word vectors) or
all-zero is an error too, naming the class, source and tokens.

Several sources are concatenated (e.g. fastText + word2vec = 600-d) and the
result is normalised as a whole.
"""
import difflib
import re
from typing import List, Optional, Sequence, Union

import numpy as np
from mmengine.logging import print_log

from .aliases import get_aliases, resolve_class_names
from .class_embeddings import ClassEmbeddings

NORMALIZATIONS = ('none', 'l2', 'max_norm')
_SPLIT = re.compile(r'[\s_\-/]+')


def normalize_vectors(vectors: np.ndarray, normalize: str) -> tuple:
    """Normalise a ``[C, D]`` matrix.

    Args:
        vectors (np.ndarray): The matrix (float64 recommended).
        normalize (str): ``'none'``; ``'l2'`` (each row to unit norm; all-zero
            rows stay zero); ``'max_norm'`` (divide everything by the largest
            row norm, as the official ZS3 VOC file).

    Returns:
        tuple[np.ndarray, float | None]: The matrix and, for ``'max_norm'``,
        the divisor.
    """
    if normalize not in NORMALIZATIONS:
        raise ValueError(f'unknown normalization {normalize!r}; valid: '
                         f'{list(NORMALIZATIONS)}')
    if normalize == 'none':
        return vectors, None
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if normalize == 'l2':
        return vectors / np.where(norms > 0, norms, 1.0), None
    divisor = float(norms.max())
    return vectors / (divisor if divisor > 0 else 1.0), divisor


def source_name(kv) -> str:
    """A readable name of a KeyedVectors source for ``meta['sources']``."""
    return getattr(kv, 'zs3_source', None) or (
        f'{type(kv).__name__}({len(kv.index_to_key)}x{kv.vector_size})')


def _has_subwords(kv) -> bool:
    return getattr(kv, 'bucket', 0) > 0 and hasattr(kv, 'vectors_ngrams')


def _in_vocab(kv, token: str) -> Optional[str]:
    for form in (token, token.lower()):
        if form in kv.key_to_index:
            return form
    return None


def resolve_phrase(kv, phrase: str, use_subwords: bool = False):
    """Tokens of ``kv`` for one phrase.

    Args:
        kv (KeyedVectors): The vocabulary.
        phrase (str): e.g. ``'potted plant'``.
        use_subwords (bool): Let unknown words use fastText n-gram vectors.

    Returns:
        tuple: ``(tokens, strategy, subword_tokens, missing_words)``; tokens
        is None when the phrase does not resolve.
    """
    words = [w for w in _SPLIT.split(phrase.strip()) if w]
    if len(words) > 1:
        for form in dict.fromkeys([phrase, '_'.join(words), '-'.join(words)]):
            hit = _in_vocab(kv, form)
            if hit:
                return [hit], 'phrase', [], []
    tokens, missing, subword = [], [], []
    for w in words:
        hit = _in_vocab(kv, w)
        if hit:
            tokens.append(hit)
        elif use_subwords:
            tokens.append(w)
            subword.append(w)
        else:
            missing.append(w)
    if missing or not words:
        return None, 'missing', [], missing or [phrase]
    strategy = 'mean' if len(tokens) > 1 else 'word'
    return tokens, strategy, subword, []


def nearest_spellings(kv, word: str, n: int = 3) -> List[str]:
    """Close vocabulary spellings of an unknown word (``difflib``).

    The search covers vocabulary words of similar length that share the
    first letter or lie in the 50k most frequent words (a full scan of a
    400k vocabulary costs ~0.7 s per word), plus splits of a glued compound
    into two frequent words (``pottedplant`` -> ``potted plant``).

    Args:
        kv (KeyedVectors): The vocabulary.
        word (str): The unknown word.
        n (int): How many. Defaults to 3.

    Returns:
        list[str]: Suggestions, best first.
    """
    w = word.lower()
    lo, hi = len(w) - 3, len(w) + 3
    pool = [
        k for i, k in enumerate(kv.index_to_key)
        if lo <= len(k) <= hi and (i < 50000 or k[:1] == w[:1])
    ]
    out = []

    def frequent(part):  # short parts must be very common words ('tv')
        rank = kv.key_to_index.get(part, 1 << 30)
        return rank < (100000 if len(part) > 2 else 5000)

    for i in range(2, len(w) - 1):
        a, b = w[:i], w[i:]
        if frequent(a) and frequent(b):
            out.append(f'{a} {b}')
    out += difflib.get_close_matches(w, pool, n=n, cutoff=0.7)
    return list(dict.fromkeys(out))[:n]


def _resolve_class(kv, name: str, phrases: List[str]) -> dict:
    for phrase in phrases:
        tokens, strategy, _, _ = resolve_phrase(kv, phrase)
        if tokens:
            return dict(
                phrase=phrase, tokens=tokens, strategy=strategy, subword=[])
    if _has_subwords(kv):
        tokens, strategy, subword, _ = resolve_phrase(
            kv, phrases[0], use_subwords=True)
        return dict(
            phrase=phrases[0],
            tokens=tokens,
            strategy=strategy,
            subword=subword)
    missing = {}
    for phrase in phrases:
        missing[phrase] = resolve_phrase(kv, phrase)[3]
    return dict(
        phrase=None,
        tokens=[],
        strategy='missing',
        subword=[],
        missing=missing)


def embed_class(kv,
                name: str,
                phrases: List[str],
                allow_missing: bool = False) -> tuple:
    """The vector of one class in one source, and how it was found.

    Args:
        kv (KeyedVectors): The source.
        name (str): The class name.
        phrases (list[str]): Phrases to try, in order (its aliases, or
            ``[name]``).
        allow_missing (bool): When no phrase resolves, average the known
            words of the first phrase. Defaults to False.

    Returns:
        tuple[np.ndarray | None, dict]: The float64 mean of the token
        vectors (None when the class does not resolve) and the record
        (``phrase``, ``tokens``, ``strategy``, ``subword``, ``alias``;
        ``missing`` when unresolved).
    """
    rec = _resolve_class(kv, name, phrases)
    rec['alias'] = rec['phrase'] is not None and rec['phrase'] != name
    if rec['strategy'] == 'missing' and allow_missing:
        words = [w for w in _SPLIT.split(phrases[0]) if w]
        known = [k for k in (_in_vocab(kv, w) for w in words) if k]
        if known:
            rec['tokens'] = known
            rec['strategy'] = 'missing_partial'
    if not rec['tokens']:
        return None, rec
    vector = np.mean(
        [np.asarray(kv[t], dtype=np.float64) for t in rec['tokens']], axis=0)
    return vector, rec


def build_class_embeddings(classes: Union[None, str, Sequence[str]],
                           sources,
                           aliases: Union[None, str, dict] = None,
                           dataset: Optional[str] = None,
                           normalize: str = 'l2',
                           allow_missing: bool = False) -> ClassEmbeddings:
    """Class embeddings from word vectors.

    Args:
        classes (None | str | Sequence[str]): Class names (multi-word names
            such as ``'red circle'`` are averaged over their words), or any
            spec of :func:`~.aliases.resolve_class_names`. None: the classes
            of ``dataset``.
        sources (KeyedVectors | list[KeyedVectors]): Word vectors; several
            are concatenated in the given order.
        aliases (None | str | dict): Alias table (see
            :func:`~.aliases.get_aliases`), applied over the table of
            ``dataset``. Defaults to None.
        dataset (str, optional): An mmseg dataset type name; its alias table
            (if any) is used, and its classes when ``classes`` is None.
        normalize (str): ``'none'``, ``'l2'`` (per row) or ``'max_norm'``
            (divide by the largest row norm), applied after concatenation.
            Defaults to ``'l2'``.
        allow_missing (bool): Instead of raising on unknown tokens, average
            the tokens of the first phrase that are known, logging each case
            and recording it in ``meta['missing']``. A class with no known
            token is still an error (a zero row would carry no meaning, and
            :class:`~.class_embeddings.ClassEmbeddings` refuses it). Defaults
            to False.

    Returns:
        ClassEmbeddings: ``meta['classes'][i]`` records, per source, the
        phrase, tokens and strategy (``word``, ``phrase``, ``mean``,
        ``subword`` tokens, or ``missing``) of class ``i``.

    Raises:
        KeyError: Some class does not resolve in some source (with
            ``allow_missing``: has no known token at all); the message lists
            every such class, its missing tokens and the nearest vocabulary
            spellings.
        TypeError: A class name is not a string.
        ValueError: A class vector is non-finite or all-zero (the word
            vectors hold NaN, inf or zeros for its tokens); the message names
            the classes, sources and tokens.
    """
    from .aliases import DATASET_ALIASES
    if classes is None:
        if dataset is None:
            raise ValueError('give `classes` or `dataset`')
        classes = dataset
    names = resolve_class_names(classes)
    sources = list(sources) if isinstance(sources, (list, tuple)) \
        else [sources]
    if not sources:
        raise ValueError('no word-vector sources given')
    if normalize not in NORMALIZATIONS:
        raise ValueError(f'unknown normalization {normalize!r}; valid: '
                         f'{list(NORMALIZATIONS)}')
    table = dict(DATASET_ALIASES.get(dataset, {})) if dataset else {}
    table.update(get_aliases(aliases))

    blocks, records, problems = [], [dict(name=n) for n in names], []
    missing_log, bad_rows = [], []
    for kv in sources:
        block = np.zeros((len(names), kv.vector_size), dtype=np.float64)
        for i, name in enumerate(names):
            phrases = table.get(name, [name])
            vector, rec = embed_class(kv, name, phrases, allow_missing)
            if rec['strategy'] == 'missing':
                problems.append((name, source_name(kv), kv, rec['missing']))
            elif rec['strategy'] == 'missing_partial':
                missing_log.append(f'{name!r} in {source_name(kv)}: mean '
                                   f'of known tokens {rec["tokens"]}')
            if vector is not None:
                block[i] = vector
                if not np.isfinite(vector).all() or not vector.any():
                    kind = ('non-finite (NaN/inf)'
                            if not np.isfinite(vector).all() else 'all-zero')
                    bad_rows.append(f'  {name!r} in {source_name(kv)}: '
                                    f'{kind} vector from tokens '
                                    f'{rec["tokens"]}')
            records[i].setdefault('sources', []).append({
                k: v
                for k, v in rec.items() if k != 'missing'
            })
        blocks.append(block)

    if bad_rows:
        raise ValueError(
            f'{len(bad_rows)} class vector(s) are unusable: the word vectors '
            f'hold NaN, inf or zeros for their tokens (a class needs a '
            f'finite, non-zero vector; give another phrase with --aliases):'
            '\n' + '\n'.join(bad_rows))
    if problems:
        lines = []
        for name, src, kv, missing in problems:
            tried = '; '.join(f'{p!r}: missing {ws}'
                              for p, ws in missing.items())
            hints = sorted({w for ws in missing.values() for w in ws})
            near = {w: nearest_spellings(kv, w) for w in hints}
            near_txt = ', '.join(f'{w!r} ~ {s}' for w, s in near.items())
            lines.append(f'  {name!r} in {src}: tried {tried}; nearest '
                         f'vocabulary spellings: {near_txt}')
        fix = ('add aliases (a class with no known token cannot be '
               'embedded; nothing is zero-filled)' if allow_missing else
               'add aliases, or pass allow_missing=True / --allow-missing to '
               'average the known tokens (a class with none stays an error; '
               'nothing is zero-filled)')
        raise KeyError(
            f'{len(problems)} class(es) have out-of-vocabulary tokens: '
            f'{fix}:\n' + '\n'.join(lines))
    if missing_log:
        print_log(
            'allow_missing fallback used for ' + '; '.join(missing_log),
            logger='current',
            level=30)

    vectors, divisor = normalize_vectors(
        np.concatenate(blocks, axis=1), normalize)
    meta = dict(
        sources=[source_name(kv) for kv in sources],
        source_dims=[int(kv.vector_size) for kv in sources],
        normalization=normalize,
        classes=records)
    if divisor is not None:
        meta['max_norm_divisor'] = divisor
    if dataset:
        meta['dataset'] = dataset
    if missing_log:
        meta['missing'] = missing_log
    return ClassEmbeddings(names, vectors, meta)
