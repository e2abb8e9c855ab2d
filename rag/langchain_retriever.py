"""The retriever as a LangChain ``BaseRetriever``, for LangChain chains and agents.

A thin adapter: :class:`rag.retrieval.Retriever` does the work; this turns its
chunks into ``Document`` s whose metadata carries the citation fields.
"""

from __future__ import annotations

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from rag.retrieval import Retriever
from rag.types import Chunk


def chunk_document(chunk: Chunk) -> Document:
    """A chunk as a LangChain ``Document``; metadata carries the citation fields."""
    return Document(
        page_content=chunk.text,
        id=str(chunk.chunk_id),
        metadata={
            "chunk_id": chunk.chunk_id,
            "source": chunk.source,
            "section": chunk.section,
            "start": chunk.start,
            "end": chunk.end,
            "line": chunk.line,
        },
    )


class HybridRetriever(BaseRetriever):
    """``k`` chunks per question from BM25, dense chunks and dense sentences, fused."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Retriever
    k: int = 5

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        docs = []
        for hit in self.retriever.search(query, k=self.k):
            doc = chunk_document(hit.chunk)
            doc.metadata |= {"score": hit.score, "dense": hit.dense}
            docs.append(doc)
        return docs
