"""Optional LLM answers over the retrieved passages, held to the extractive citation contract.

When ``RAG_LLM_BASE_URL`` and ``RAG_LLM_MODEL`` are set, a chat model behind any
OpenAI-compatible endpoint (through LangChain's ``ChatOpenAI``) writes the answer
from the numbered passages [1]..[n]. Its reply is then checked sentence by
sentence before anyone relies on it:

* every sentence cites at least one passage, and every ``[n]`` names a given passage;
* every number in a sentence (NFKC, thousands separators and digit-group spaces
  removed, ``%`` and ``万/亿/million/billion`` understood) occurs in a passage that
  sentence cites;
* the passage text a sentence rests on is not itself an instruction ("ignore
  previous instructions …"): passages are data.

A sentence that fails is dropped and the failure recorded (:class:`LLMCheck`, kept in
``Answer.checks``). If nothing verified remains, or the endpoint fails (timeout,
connection error, HTTP error, empty reply, refusal), the extractive answer is
returned instead, with a visible note. Citations are real :class:`Citation` s: the
quote is the sentence(s) of the cited chunk holding the sentence's numbers, an exact
substring of the source, and ``[k]`` in the text is ``citations[k - 1]``.

One module per job, from the bottom up: ``settings`` (``RAG_LLM_*``), ``reply``
(sentences and ``[n]`` markers), ``numbers``, ``passages`` (what a citation can
quote), ``prompt``, ``verify``, ``client`` (the endpoint, streamed) and ``answer``
(the whole, with its fallback). Importing the package loads no LangChain.
"""

from rag.config import DEFAULT_LLM_TIMEOUT_S as DEFAULT_TIMEOUT_S
from rag.config import LLMSettings
from rag.llm.answer import answer_with_llm
from rag.llm.client import LLMUnavailable, chat_model, stream_reply
from rag.llm.numbers import Number, NumberSet, numbers_in
from rag.llm.passages import PageOf, looks_like_instruction
from rag.llm.prompt import (
    DATA_NOT_INSTRUCTIONS,
    HUMAN_PROMPT,
    SYSTEM_PROMPT,
    build_prompt,
    format_passages,
)
from rag.llm.reply import cited_numbers, split_reply
from rag.llm.verify import LLMCheck, verify_reply, verify_sentence
from rag.text import normalize_numbers

__all__ = [
    "DATA_NOT_INSTRUCTIONS",
    "DEFAULT_TIMEOUT_S",
    "HUMAN_PROMPT",
    "SYSTEM_PROMPT",
    "LLMCheck",
    "LLMSettings",
    "LLMUnavailable",
    "Number",
    "NumberSet",
    "PageOf",
    "answer_with_llm",
    "build_prompt",
    "chat_model",
    "cited_numbers",
    "format_passages",
    "looks_like_instruction",
    "normalize_numbers",
    "numbers_in",
    "split_reply",
    "stream_reply",
    "verify_reply",
    "verify_sentence",
]
