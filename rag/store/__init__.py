"""Index storage behind one narrow interface, one backend per module.

:mod:`rag.store.base` says what the query path needs from a store (``Store``)
and what an index is built from (``IndexSpec``); :mod:`rag.store.faiss_store` is
the default backend (FAISS files, NumPy vectors, JSON Lines records and BM25 in
process), built by :mod:`rag.store.build` in the on-disk format of
:mod:`rag.store.layout`. Importing this package loads no backend.
"""
