"""Class embeddings from word vectors (gensim), file format and importers."""
