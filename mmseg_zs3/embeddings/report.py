"""Sanity tables printed by the tools: tokens used and nearest classes."""
import numpy as np

from .class_embeddings import ClassEmbeddings


def format_token_table(emb: ClassEmbeddings) -> str:
    """One line per class: the phrase, tokens and strategy per source.

    Args:
        emb (ClassEmbeddings): Built embeddings.

    Returns:
        str: The table; classes resolved through an alias are marked ``*``.
    """
    width = max(len(n) for n in emb.names)
    lines = [f'{"class":<{width}}  tokens per source (strategy)']
    for rec in emb.meta.get('classes', []):
        parts, alias = [], False
        for src in rec.get('sources', []):
            alias |= bool(src.get('alias'))
            toks = ' + '.join(src.get('tokens') or []) or '-'
            sub = f', subword {src["subword"]}' if src.get('subword') else ''
            parts.append(f'{toks} ({src.get("strategy")}{sub})')
        mark = '*' if alias else ' '
        lines.append(f'{rec["name"]:<{width}}{mark} ' + ' | '.join(parts))
    lines.append('* = resolved through an alias')
    return '\n'.join(lines)


def format_neighbour_table(emb: ClassEmbeddings, k: int = 3) -> str:
    """One line per class: its ``k`` nearest classes by cosine similarity.

    Args:
        emb (ClassEmbeddings): The embeddings.
        k (int): Neighbours per class. Defaults to 3.

    Returns:
        str: The table.
    """
    v = emb.vectors.astype(np.float64)
    n = np.linalg.norm(v, axis=1, keepdims=True)
    v = v / np.where(n > 0, n, 1.0)
    sim = v @ v.T
    np.fill_diagonal(sim, -np.inf)
    width = max(len(n) for n in emb.names)
    lines = [f'{"class":<{width}}  nearest classes (cosine)']
    for i, name in enumerate(emb.names):
        order = np.argsort(-sim[i])[:k]
        near = ', '.join(f'{emb.names[j]} {sim[i, j]:.2f}' for j in order)
        lines.append(f'{name:<{width}}  {near}')
    return '\n'.join(lines)
