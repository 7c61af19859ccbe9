"""Class embeddings from word vectors (gensim), file format and importers."""
from .aliases import (COCO_STUFF_182_CLASSES, COCO_STUFF_UNUSED_IDS,
                      DATASET_ALIASES, dataset_classes, get_aliases,
                      resolve_class_names)
from .builder import (NORMALIZATIONS, build_class_embeddings,
                      nearest_spellings, normalize_vectors)
from .class_embeddings import ClassEmbeddings, check_output_path, unusable_rows
from .glove import load_packaged_glove
from .importers import check_alignment, import_class_embeddings, load_array
from .report import format_neighbour_table, format_token_table
from .word_vectors import (ACCEPTED_FORMATS, WORD_VECTOR_FORMATS,
                           default_cache_dir, detect_format, load_word_vectors)

__all__ = [
    'ClassEmbeddings', 'check_output_path', 'unusable_rows',
    'build_class_embeddings', 'load_word_vectors', 'load_packaged_glove',
    'import_class_embeddings', 'check_alignment', 'load_array', 'get_aliases',
    'resolve_class_names', 'dataset_classes', 'nearest_spellings',
    'normalize_vectors', 'detect_format', 'default_cache_dir',
    'format_token_table', 'format_neighbour_table', 'DATASET_ALIASES',
    'COCO_STUFF_182_CLASSES', 'COCO_STUFF_UNUSED_IDS', 'NORMALIZATIONS',
    'WORD_VECTOR_FORMATS', 'ACCEPTED_FORMATS'
]
