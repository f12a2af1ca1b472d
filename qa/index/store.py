"""Chroma as the single source of truth: chunk vectors, article texts, a change marker.

Writes are ordered so that readers never see half of an article: new chunks are written under
a version-specific id, then the article record (the commit point) is switched to that version,
then the old version's chunks are deleted. Readers keep only chunks whose version is the one
their article record names, so a crash at any step leaves a consistent index.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from qa.errors import ArticleNotFound, IndexLocked, IndexMismatch, StoreUnavailable
from qa.quotes import Quote, decode
from qa.settings import Settings
from qa.types import Article, ArticleInfo, Chunk, Filters, date_in_range

log = logging.getLogger(__name__)

_PAGE = 5000
_MARKER = [1.0]  # article records and the change marker carry no meaningful vector
# Every metadata key an article record may hold. Chroma's upsert merges metadata, so a key the
# new version lacks is written as None (which Chroma deletes) rather than left as it was.
_ARTICLE_KEYS = ("title", "source", "date", "url", "path")


class BadRecord(ValueError):
    """A stored record that cannot be read back (written by an older or a broken writer)."""


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as Chroma holds it, with the version and article metadata stored beside it."""

    chunk: Chunk
    version: str
    meta: dict[str, Any]


def connect(settings: Settings) -> tuple[Any, Any]:
    """Opens the configured Chroma: a server at QA_CHROMA_URL, else embedded under data_dir.

    Returns (client, lock); the lock keeps a second process off an embedded data dir.
    """
    lock = None if settings.chroma_url else _lock_data_dir(Path(settings.data_dir))
    import chromadb  # after the lock: a refused second process does not wait for this import
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        try:
            client = chromadb.HttpClient(
                host=url.hostname or "localhost",
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
            client.heartbeat()
        except Exception as exc:  # chromadb raises several unrelated types for "unreachable"
            raise StoreUnavailable(
                f"cannot reach the Chroma server at {settings.chroma_url} ({exc}); start it with "
                "`chroma run --path DIR --port PORT` or unset QA_CHROMA_URL"
            ) from exc
        return client, None
    try:
        client = chromadb.PersistentClient(
            path=str(Path(settings.data_dir) / "chroma"), settings=chroma_settings
        )
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    return client, lock


def _lock_data_dir(data_dir: Path) -> Any:
    """Takes the data dir for this process, or says which process has it."""
    from filelock import FileLock, Timeout

    data_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(data_dir / "index.lock"), is_singleton=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise IndexLocked(
            f"the index in {data_dir.resolve()} is open in another article-qa process "
            f"(see {data_dir / 'index.owner'}); stop it, ask through its HTTP API, or run a "
            "Chroma server and set QA_CHROMA_URL so several processes can share it"
        ) from None
    (data_dir / "index.owner").write_text(f"pid {os.getpid()}\n")
    return lock


class ChromaStore:
    """Three collections: chunks (vectors), articles (texts; the commit point), meta (marker)."""

    def __init__(self, client: Any, embed_model: str, dim: int, prefix: str = "qa") -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self._client = client
        self._batch = max(1, min(client.get_max_batch_size(), 1000))
        self.chunks = client.get_or_create_collection(
            f"{prefix}_chunks",
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"embed_model": embed_model, "dim": dim},
            embedding_function=None,
        )
        meta = self.chunks.metadata or {}
        if meta.get("embed_model") != embed_model or meta.get("dim") != dim:
            raise IndexMismatch(
                f"the index was built with the embedding model {meta.get('embed_model')!r} "
                f"({meta.get('dim')} dims), not {embed_model!r}; set QA_EMBED_MODEL back, or "
                "use another QA_DATA_DIR and ingest again"
            )
        self.articles = client.get_or_create_collection(
            f"{prefix}_articles", embedding_function=None
        )
        self.meta = client.get_or_create_collection(f"{prefix}_meta", embedding_function=None)
        self.skipped: dict[str, str] = {}  # unreadable article records: id -> why

    # --- reads -------------------------------------------------------------------------

    def generation(self) -> str:
        """A token that changes on every committed write, by any process."""
        got = self.meta.get(ids=["generation"], include=["documents"])
        docs = got.get("documents") or []
        return docs[0] if docs else ""

    def manifest(self) -> dict[str, ArticleInfo]:
        """Every committed article with its current version, without texts.

        A record that cannot be read is left out, logged and listed in `skipped` (id -> why)
        rather than failing every reader; `delete` removes it."""
        out: dict[str, ArticleInfo] = {}
        skipped: dict[str, str] = {}
        for ids, metas, _ in _pages(self.articles, include=["metadatas"]):
            for article_id, meta in zip(ids, metas, strict=True):
                try:
                    out[article_id] = _info(article_id, meta)
                except BadRecord as exc:
                    skipped[article_id] = str(exc)
        for article_id in skipped.keys() - self.skipped.keys():
            log.warning(
                "skipped the unreadable article record %r (%s); `qa remove %s` deletes it, "
                "ingesting it again replaces it",
                article_id,
                skipped[article_id],
                article_id,
            )
        self.skipped = skipped
        return out

    def exists(self, article_id: str) -> bool:
        """Whether any record has this id, readable or not."""
        return bool(self.articles.get(ids=[article_id], include=[])["ids"])

    def article(self, article_id: str) -> tuple[ArticleInfo, str]:
        got = self.articles.get(ids=[article_id], include=["metadatas", "documents"])
        if not got["ids"]:
            raise ArticleNotFound(f"no article with id {article_id!r}; `qa articles` lists them")
        try:
            return _info(article_id, got["metadatas"][0]), got["documents"][0]
        except BadRecord as exc:
            raise ArticleNotFound(
                f"the article record {article_id!r} cannot be read ({exc}); "
                f"`qa remove {article_id}` deletes it"
            ) from None

    def quotes_of(self, versions: dict[str, str]) -> dict[str, list[Quote] | None]:
        """The stored quotes of the given article versions: None for a record written without
        them, or whose quotes cannot be read (the caller finds them again); versions no longer
        current are left out."""
        out: dict[str, list[Quote] | None] = {}
        ids = sorted(versions)
        for i in range(0, len(ids), 500):
            got = self.articles.get(ids=ids[i : i + 500], include=["metadatas", "documents"])
            for article_id, meta, text in zip(
                got["ids"], got["metadatas"], got["documents"], strict=True
            ):
                meta = meta or {}
                if meta.get("version") != versions[article_id]:
                    continue
                stored = meta.get("quotes")
                try:
                    out[article_id] = decode(stored, text or "") if stored else None
                except (ValueError, TypeError) as exc:
                    log.warning("finding the quotes of %r again: %s", article_id, exc)
                    out[article_id] = None
        return out

    def chunks_of(self, versions: dict[str, str]) -> list[StoredChunk]:
        """The chunks of the given article versions (others' chunks are left out)."""
        out: list[StoredChunk] = []
        ids = sorted(versions)
        for i in range(0, len(ids), 500):
            where = {"article_id": {"$in": ids[i : i + 500]}}
            for _, metas, docs in _pages(
                self.chunks, include=["metadatas", "documents"], where=where
            ):
                for meta, doc in zip(metas, docs, strict=True):
                    try:
                        stored = _stored(meta, doc)
                    except BadRecord as exc:
                        log.warning("skipped an unreadable chunk record (%s)", exc)
                        continue
                    if versions.get(stored.chunk.article_id) == stored.version:
                        out.append(stored)
        return out

    def query(
        self, vector: np.ndarray, n: int, filters: Filters | None = None
    ) -> list[tuple[StoredChunk, float]]:
        """Nearest chunks with their cosine similarity, of any version (callers filter)."""
        got = self.chunks.query(  # fewer than n stored: Chroma returns what there is
            query_embeddings=[vector.tolist()],
            n_results=n,
            where=where_clause(filters),
            include=["metadatas", "documents", "distances"],
        )
        rows = zip(got["metadatas"][0], got["documents"][0], got["distances"][0], strict=True)
        out = []
        for meta, doc, dist in rows:
            try:
                out.append((_stored(meta, doc), 1.0 - float(dist)))
            except BadRecord:
                continue  # logged when the lexical index read it
        return out

    def nearest_ids(
        self, vector: np.ndarray, n: int, filters: Filters | None = None
    ) -> list[tuple[str, float]]:
        """The ids of the nearest chunks with their cosine similarity, of any version: for a
        caller that holds the chunks already (half the time of `query`, which reads them)."""
        got = self.chunks.query(
            query_embeddings=[vector.tolist()],
            n_results=n,
            where=where_clause(filters),
            include=["distances"],
        )
        return [
            (i, 1.0 - float(d)) for i, d in zip(got["ids"][0], got["distances"][0], strict=True)
        ]

    # --- writes ------------------------------------------------------------------------

    def put(
        self,
        items: Sequence[tuple[Article, str, Sequence[Chunk], np.ndarray]],
        replacing: Iterable[str] = (),
        quotes: dict[str, str] | None = None,
    ) -> None:
        """Writes articles (article, version, chunks, vectors) in the crash-safe order; the ids in
        `replacing` had an older version whose chunks go last. `quotes` (article id -> the
        quotes' JSON) go into the article records, so they commit with them."""
        if not items:
            return
        self._write_chunks(items)
        self._commit(items, quotes or {})
        versions = {a.id: v for a, v, _, _ in items}
        self._drop_stale({i: versions[i] for i in replacing if i in versions})

    def _write_chunks(
        self, items: Sequence[tuple[Article, str, Sequence[Chunk], np.ndarray]]
    ) -> None:
        ids, vectors, docs, metas = [], [], [], []
        for article, version, chunks, vecs in items:
            base = article.metadata()
            base.pop("path", None)
            for chunk, vec in zip(chunks, vecs, strict=True):
                ids.append(f"{article.id}@{version}:{chunk.n}")
                vectors.append(vec)
                docs.append(chunk.text)
                metas.append(
                    {
                        **base,
                        "article_id": article.id,
                        "version": version,
                        "n": chunk.n,
                        "start": chunk.start,
                        "end": chunk.end,
                        "sentences": _sentences_meta(chunk.sentences),
                    }
                )
        for i in range(0, len(ids), self._batch):
            self.chunks.upsert(
                ids=ids[i : i + self._batch],
                embeddings=np.asarray(vectors[i : i + self._batch], dtype=np.float32),
                documents=docs[i : i + self._batch],
                metadatas=metas[i : i + self._batch],
            )

    def _commit(
        self,
        items: Sequence[tuple[Article, str, Sequence[Chunk], np.ndarray]],
        quotes: dict[str, str],
    ) -> None:
        """Points each article record at its new version: the moment readers switch."""
        records = [
            (
                a.id,
                a.text,
                _record_meta(a)
                | {"version": v, "chunks": len(c), "chars": len(a.text)}
                | {"quotes": quotes.get(a.id)},
            )
            for a, v, c, _ in items
        ]
        for i in range(0, len(records), self._batch):
            part = records[i : i + self._batch]
            self.articles.upsert(
                ids=[r[0] for r in part],
                embeddings=[_MARKER] * len(part),
                documents=[r[1] for r in part],
                metadatas=[r[2] for r in part],
            )
        self._bump()

    def delete(self, article_ids: Iterable[str]) -> None:
        """Removes articles: the record first (so readers stop at once), then the chunks."""
        ids = list(article_ids)
        if not ids:
            return
        self.articles.delete(ids=ids)
        for i in range(0, len(ids), 500):
            self.chunks.delete(where={"article_id": {"$in": ids[i : i + 500]}})
        self._bump()

    def repair(self) -> int:
        """Deletes chunks no article record points at (left by a crash); returns how many."""
        manifest = self.manifest()
        orphans: list[str] = []
        for ids, metas, _ in _pages(self.chunks, include=["metadatas"]):
            for chunk_id, meta in zip(ids, metas, strict=True):
                info = manifest.get((meta or {}).get("article_id", ""))
                if info is None or info.version != meta.get("version"):
                    orphans.append(chunk_id)
        for i in range(0, len(orphans), self._batch):
            self.chunks.delete(ids=orphans[i : i + self._batch])
        if orphans:
            log.warning("removed %d chunks left behind by an interrupted write", len(orphans))
        return len(orphans)

    def _drop_stale(self, versions: dict[str, str]) -> None:
        for article_id, version in versions.items():
            self.chunks.delete(
                where={"$and": [{"article_id": article_id}, {"version": {"$ne": version}}]}
            )

    def _bump(self) -> None:
        self.meta.upsert(ids=["generation"], embeddings=[_MARKER], documents=[uuid.uuid4().hex])


def where_clause(filters: Filters | None) -> dict[str, Any] | None:
    """Filters as a Chroma where clause over chunk metadata."""
    if filters is None or filters.is_empty():
        return None
    parts: list[dict[str, Any]] = []
    if filters.article_ids:
        parts.append({"article_id": {"$in": list(filters.article_ids)}})
    if filters.sources:
        parts.append({"source": {"$in": list(filters.sources)}})
    if filters.date_from is not None:
        parts.append({"date": {"$gte": filters.date_from}})
    if filters.date_to is not None:
        parts.append({"date": {"$lte": filters.date_to}})
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _pages(collection: Any, include: list[str], where: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
    offset = 0
    while True:
        got = collection.get(where=where, include=include, limit=_PAGE, offset=offset)
        ids = got["ids"]
        if not ids:
            return
        yield (
            ids,
            got.get("metadatas") or [None] * len(ids),
            got.get("documents") or [None] * len(ids),
        )
        if len(ids) < _PAGE:
            return
        offset += len(ids)


def _record_meta(article: Article) -> dict[str, Any]:
    """An article's metadata with every known key present, None where the article has none."""
    return {key: None for key in _ARTICLE_KEYS} | article.metadata()


def _info(article_id: str, meta: dict[str, Any] | None) -> ArticleInfo:
    meta = meta or {}
    date = meta.get("date")
    if date is not None and not date_in_range(date):
        raise BadRecord(f"date {date!r} is out of range")
    try:
        return ArticleInfo(
            id=article_id,
            title=str(meta.get("title", article_id)),
            version=str(meta.get("version", "")),
            chunks=int(meta.get("chunks", 0)),
            chars=int(meta.get("chars", 0)),
            source=_opt_str(meta.get("source")),
            date=date,
            url=_opt_str(meta.get("url")),
            path=_opt_str(meta.get("path")),
        )
    except (TypeError, ValueError, OverflowError) as exc:
        raise BadRecord(f"unreadable metadata: {exc}") from None


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _stored(meta: dict[str, Any] | None, doc: str | None) -> StoredChunk:
    meta = meta or {}
    date = meta.get("date")
    if date is not None and not date_in_range(date):
        raise BadRecord(f"chunk of {meta.get('article_id')!r}: date {date!r} is out of range")
    try:
        text = doc if isinstance(doc, str) else ""
        chunk = Chunk(
            article_id=str(meta["article_id"]),
            n=int(meta["n"]),
            start=int(meta["start"]),
            end=int(meta["end"]),
            text=text,
            sentences=_sentences_of_meta(meta.get("sentences"), len(text)),
        )
        return StoredChunk(chunk=chunk, version=str(meta["version"]), meta=meta)
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise BadRecord(f"chunk of {meta.get('article_id')!r}: unreadable ({exc!r})") from None


def _sentences_meta(sentences: tuple[tuple[int, int], ...] | None) -> str | None:
    """A chunk's sentence offsets as one metadata string, "0:52,53:120" (None: not known)."""
    return None if sentences is None else ",".join(f"{a}:{b}" for a, b in sentences)


def _sentences_of_meta(value: Any, length: int) -> tuple[tuple[int, int], ...] | None:
    """The sentence offsets a chunk's metadata holds, or None where it holds none or holds
    offsets that do not fit its text (the text is then split again)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        spans = tuple((int(a), int(b)) for a, b in (part.split(":") for part in value.split(",")))
    except ValueError:
        return None
    before = [0] + [b for _, b in spans[:-1]]  # where the sentence before each one ends
    if all(e <= a < b <= length for (a, b), e in zip(spans, before, strict=True)):
        return spans
    return None
