"""Index storage behind one narrow interface, one backend per module.

:mod:`rag.store.base` says what the query path needs from a store (``Store``)
and what an index is built from (``IndexSpec``); :mod:`rag.store.faiss_store` is
the default backend (FAISS files, NumPy vectors, JSON Lines records and BM25 in
process), built by :mod:`rag.store.build` in the on-disk format of
:mod:`rag.store.layout`. Importing this package loads no backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from rag.config import Settings
    from rag.store.base import Progress, Store


def open_store(
    settings: Settings,
    embeddings: Embeddings,
    progress: Progress | None = None,
    rebuild: bool = False,
) -> Store:
    """The configured store (``settings.store.backend``), brought up to date with the
    documents first; ``rebuild`` builds it anew."""
    from rag.store.base import IndexError_, IndexSpec

    spec = IndexSpec.from_settings(settings)
    store = settings.store
    if store.backend == "milvus":
        try:
            from rag.store.milvus_store import open_milvus_store
        except ImportError as exc:
            raise IndexError_(
                f"RAG_STORE=milvus needs the Milvus client ({exc.name} is not installed). "
                "Fix: pip install -e '.[milvus]', or unset RAG_STORE for the FAISS store."
            ) from exc
        return open_milvus_store(
            spec,
            embeddings,
            progress,
            uri=store.milvus_uri or None,
            token=store.milvus_token or None,
            rebuild=rebuild,
        )
    from rag.store.faiss_store import open_store as open_faiss

    return open_faiss(spec, embeddings, progress, rebuild=rebuild)
