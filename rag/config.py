"""One ``Settings`` for the whole product, nested per concern and read from the environment once.

``Settings.from_env()`` is the only place that reads ``RAG_*`` variables; every
other module receives the settings (or the part it needs) as an argument. The CLI
flags and ``app.py`` override them the same way, with :meth:`Settings.override`.
This module imports nothing heavy: it sits at the bottom of the import graph.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from rag.limits import IngestLimits

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LLM_TIMEOUT_S = 30.0


def _path(env: Mapping[str, str], name: str, default: Path) -> Path:
    value = env.get(name, "").strip()
    return Path(value).expanduser() if value else default


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None


def _seconds(env: Mapping[str, str], name: str, default: float | None) -> float | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be a positive number of seconds, not {raw!r}")
    return value


@dataclass(frozen=True)
class ChunkerSettings:
    """How documents are cut; recorded in the index manifest, so a change makes it stale."""

    target_chars: int = 220
    max_sentence_chars: int = 260
    overlap_sentences: int = 1
    short_line_chars: int = 24
    topic_sentence_chars: int = 16
    # Only sentences this long get clause vectors. At 60 the hand-set scorer's citations and
    # facts (seed, corpus) are the same with 58 % fewer (benchmarks/vector_kinds.py), but the
    # learned scorer was fit on every clause and then answers a question it abstained on:
    # every sentence keeps its clauses until it is refit.
    clause_sentence_chars: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class ModelSettings:
    """Which model embeds, and where converted models and hub downloads are cached."""

    name: str = "bundled"  # RAG_EMBED_MODEL: "bundled", a hub id or a local folder
    cache_dir: Path = PROJECT_ROOT / ".cache"  # RAG_CACHE_DIR
    # RAG_EMBED_BACKEND: the bundled model on ONNX Runtime (int8) or on torch. ONNX is the
    # default by the benchmarks: first answer 5.1 vs 10.2 s from start, builds 2.9× faster,
    # evals within a question or two (README: Performance). Hub models always use torch.
    backend: str = "onnx"

    def __post_init__(self) -> None:
        if self.backend not in ("torch", "onnx"):
            raise ValueError(
                f"RAG_EMBED_BACKEND must be torch or onnx (or unset), not {self.backend!r}"
            )


@dataclass(frozen=True)
class DocumentSettings:
    """Where the documents are and how they are cut."""

    docs_dir: Path = PROJECT_ROOT / "seeds"  # RAG_DOCS_DIR
    chunker: ChunkerSettings = field(default_factory=ChunkerSettings)
    max_upload_bytes: int = 20 * 1024 * 1024  # a long report as PDF is a few MB
    limits: IngestLimits = field(default_factory=IngestLimits)  # RAG_MAX_PAGES, …


@dataclass(frozen=True)
class StoreSettings:
    """Which engine holds the index, and where."""

    index_dir: Path = PROJECT_ROOT / "index"  # RAG_INDEX_DIR
    backend: str = "faiss"  # RAG_STORE: "faiss" (one machine) or "milvus"
    milvus_uri: str = ""  # RAG_MILVUS_URI: empty = a Milvus Lite file in the index folder
    milvus_token: str = field(default="", repr=False)  # RAG_MILVUS_TOKEN

    def __post_init__(self) -> None:
        if self.backend not in ("faiss", "milvus"):
            raise ValueError(f"RAG_STORE must be faiss or milvus, not {self.backend!r}")


@dataclass(frozen=True)
class RetrievalSettings:
    """How many chunks a question retrieves and how the rankings are fused."""

    k: int = 5  # chunks returned (shown, given to an LLM, measured by recall@k)
    rrf_k: int = 60  # reciprocal rank fusion constant
    candidates: int = 30  # per ranking, before fusion
    # Chunks whose sentences compete for the answer: the sentence scorer ranks a sentence of
    # the 15th chunk as well as one of the first (held out, 20 did better than 5 and 40).
    read: int = 20


SCORERS = ("handset", "calibrated", "learned")


@dataclass(frozen=True)
class AnsweringSettings:
    """The answer-or-abstain decision and the question limits."""

    # Calibrated on evals/questions.jsonl (see README: Accuracy).
    abstain_below_zh: float = 0.80
    abstain_below_en: float = 0.88
    # A Chinese question shares words with its answer; one sharing almost none is not answered.
    min_lexical_zh: float = 0.2
    # "calibrated": the hand-set ranking, answered or abstained by the model of
    # rag/data/abstention.json (its threshold chosen leave-one-document-out); "handset": the
    # thresholds above (set on the seed); "learned": rag/data/scorer.json (RAG_ANSWER_SCORER).
    scorer: str = "calibrated"
    # English questions' vectors moved by rag/data/query_adapter.safetensors (fit for the
    # bundled model only; RAG_ENGLISH_ADAPTER=0 turns it off).
    english_adapter: bool = True
    max_citations: int = 3
    closest_shown: int = 3  # passages listed with an abstention
    max_question_chars: int = 500  # RAG_MAX_QUESTION_CHARS

    def __post_init__(self) -> None:
        if self.scorer not in SCORERS:
            raise ValueError(
                f"RAG_ANSWER_SCORER must be one of {', '.join(SCORERS)}, not {self.scorer!r}"
            )


@dataclass(frozen=True)
class LLMSettings:
    """Where the chat model is and how long to wait for it.

    ``timeout`` bounds connecting and every wait for data; ``max_seconds`` (default
    four times ``timeout``) bounds the whole streamed reply.
    """

    base_url: str
    model: str
    api_key: str = field(default="", repr=False)
    timeout: float = DEFAULT_LLM_TIMEOUT_S
    max_seconds: float | None = None
    max_tokens: int = 512
    temperature: float = 0.0

    @property
    def deadline_seconds(self) -> float:
        return self.max_seconds if self.max_seconds is not None else 4 * self.timeout

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LLMSettings | None:
        """Settings from ``RAG_LLM_*``; ``None`` (extractive answers) unless URL and model are set.

        Raises ``ValueError`` for a timeout that is not a positive number.
        """
        env = os.environ if environ is None else environ
        base_url = env.get("RAG_LLM_BASE_URL", "").strip()
        model = env.get("RAG_LLM_MODEL", "").strip()
        if not (base_url and model):
            if base_url or model:
                log.warning(
                    "LLM answers need both RAG_LLM_BASE_URL and RAG_LLM_MODEL; "
                    "answering extractively"
                )
            return None
        return cls(
            base_url=base_url,
            model=model,
            api_key=env.get("RAG_LLM_API_KEY", "").strip(),
            timeout=_seconds(env, "RAG_LLM_TIMEOUT", DEFAULT_LLM_TIMEOUT_S)
            or DEFAULT_LLM_TIMEOUT_S,
            max_seconds=_seconds(env, "RAG_LLM_MAX_SECONDS", None),
        )


@dataclass(frozen=True)
class ServerSettings:
    """How the chat app listens and who may use it."""

    host: str = "127.0.0.1"  # RAG_HOST; 0.0.0.0 listens on all interfaces
    port: int = 7860  # RAG_PORT
    share: bool = False  # a public share link only when asked for
    auth: tuple[str, str] | None = field(default=None, repr=False)  # RAG_AUTH=user:password
    log_level: str = "INFO"  # RAG_LOG_LEVEL
    concurrency: int = 4  # questions answered at once
    queue_size: int = 64  # questions waiting beyond those


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``RAG_AUTH="user:password"`` → credentials; unset → no login. Malformed values fail."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ValueError("RAG_AUTH must look like user:password")
    return user, password


# Flat names the CLI flags and callers use, and where each lives in the nested settings.
_FLAT = {
    "embed_model": ("model", "name"),
    "cache_dir": ("model", "cache_dir"),
    "embed_backend": ("model", "backend"),
    "docs_dir": ("documents", "docs_dir"),
    "chunker": ("documents", "chunker"),
    "index_dir": ("store", "index_dir"),
    "store": ("store", "backend"),
    "k": ("retrieval", "k"),
    "max_question_chars": ("answering", "max_question_chars"),
    "scorer": ("answering", "scorer"),
    "host": ("server", "host"),
    "port": ("server", "port"),
    "share": ("server", "share"),
    "auth": ("server", "auth"),
    "log_level": ("server", "log_level"),
}


@dataclass(frozen=True)
class Settings:
    """Everything configurable, one part per concern; passed explicitly to whoever needs it."""

    model: ModelSettings = field(default_factory=ModelSettings)
    documents: DocumentSettings = field(default_factory=DocumentSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    answering: AnsweringSettings = field(default_factory=AnsweringSettings)
    llm: LLMSettings | None = None  # RAG_LLM_BASE_URL + RAG_LLM_MODEL: LLM answers
    server: ServerSettings = field(default_factory=ServerSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings the ``RAG_*`` environment variables give; defaults elsewhere.

        Raises ``ValueError`` naming the variable when a value cannot be used.
        """
        env = os.environ if environ is None else environ
        return cls(
            model=ModelSettings(
                name=env.get("RAG_EMBED_MODEL", "").strip() or "bundled",
                cache_dir=_path(env, "RAG_CACHE_DIR", PROJECT_ROOT / ".cache"),
                backend=env.get("RAG_EMBED_BACKEND", "").strip().lower() or "onnx",
            ),
            documents=DocumentSettings(
                docs_dir=_path(env, "RAG_DOCS_DIR", PROJECT_ROOT / "seeds"),
                limits=IngestLimits.from_env(env),
            ),
            store=StoreSettings(
                index_dir=_path(env, "RAG_INDEX_DIR", PROJECT_ROOT / "index"),
                backend=env.get("RAG_STORE", "").strip().lower() or "faiss",
                milvus_uri=env.get("RAG_MILVUS_URI", "").strip(),
                milvus_token=env.get("RAG_MILVUS_TOKEN", "").strip(),
            ),
            answering=AnsweringSettings(
                max_question_chars=_int(env, "RAG_MAX_QUESTION_CHARS", 500),
                scorer=env.get("RAG_ANSWER_SCORER", "").strip().lower() or "calibrated",
                english_adapter=env.get("RAG_ENGLISH_ADAPTER", "1").strip() not in ("0", ""),
            ),
            llm=LLMSettings.from_env(env),
            server=ServerSettings(
                host=env.get("RAG_HOST", "").strip() or "127.0.0.1",
                port=_int(env, "RAG_PORT", 7860),
                auth=parse_auth(env.get("RAG_AUTH")),
                log_level=(env.get("RAG_LOG_LEVEL", "").strip() or "INFO").upper(),
            ),
        )

    def override(self, **changes: object) -> Settings:
        """A copy with the given settings replaced, by flat name (``docs_dir=…``) or by
        part (``llm=None``, ``answering=AnsweringSettings(…)``)."""
        parts: dict[str, object] = {}
        for name, value in changes.items():
            if name in _FLAT:
                part, key = _FLAT[name]
                current = parts.get(part, getattr(self, part))
                parts[part] = replace(current, **{key: value})
            elif name in self.__dataclass_fields__:
                parts[name] = value
            else:
                raise TypeError(f"unknown setting {name!r}")
        return replace(self, **parts)
