"""Class-embedding providers."""
from .class_embedding import ClassEmbedding

__all__ = ['ClassEmbedding']
