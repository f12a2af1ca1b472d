"""What the retriever derives from stored chunks, kept on disk so a new process need not
derive it all again: each chunk's BM25 terms and each article version's copy fingerprint.

Over the 2,225 BBC articles a new process took 1.7-2.1 s to build its first snapshot deriving
them (the fingerprints most of it), and 1.3-1.5 s reading them from the file. Entries are keyed
by a digest of the text they come from, so an entry can only ever be used for the very text it
was made from; and on its first use in a process the cache checks a few entries against a fresh
derivation and drops itself if they differ (the tokenizer or the fingerprinting changed), so a
stale file never changes an answer. The file is written whole to a temporary name and renamed
into place in the background; an unreadable or damaged file is ignored, and derived again.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from qa.index.duplicates import Fingerprint

log = logging.getLogger(__name__)

FORMAT = 2  # the tokenizer's terms as of qa.text.tokenize; a file of another format is ignored
CHECKS = 3  # entries re-derived and compared on first use in a process


def digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


class DerivedCache:
    """Terms and fingerprints by the digest of their text; `path` None keeps them in memory."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._terms: dict[str, list[str]] = {}
        self._prints: dict[str, Fingerprint] = {}
        self._checked = {"terms": False, "prints": False}
        self._lock = threading.Lock()
        self._writer: threading.Thread | None = None
        self._dirty = False
        # Each fingerprint as last written, beside the very object it encodes, by digest.
        self._rows: dict[str, tuple[Fingerprint, list[object]]] = {}
        if path is not None and path.exists():
            try:
                self._load(path)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("ignored the derived-data cache %s: %s", path, exc)
                self._terms, self._prints, self._rows = {}, {}, {}

    def __len__(self) -> int:
        return len(self._terms) + len(self._prints)

    def terms(
        self, texts: list[str], derive: Callable[[list[str]], list[list[str]]]
    ) -> list[list[str]]:
        """The terms of each text: from the cache where it has them, the rest from derive."""
        keys = [digest(t) for t in texts]
        self._check(
            "terms",
            texts,
            keys,
            lambda ts: [" ".join(x) for x in derive(ts)],
            lambda k: " ".join(self._terms[k]),
        )
        missing = [i for i, k in enumerate(keys) if k not in self._terms]
        if missing:
            for i, found in zip(missing, derive([texts[i] for i in missing]), strict=True):
                self._terms[keys[i]] = found
            self._dirty = True
        return [self._terms[k] for k in keys]

    def fingerprint(self, text: str, derive: Callable[[str], Fingerprint]) -> Fingerprint:
        key = digest(text)
        self._check(
            "prints",
            [text],
            [key],
            lambda ts: [_encode(derive(t)) for t in ts],
            lambda k: _encode(self._prints[k]),
        )
        found = self._prints.get(key)
        if found is None:
            found = self._prints[key] = derive(text)
            self._dirty = True
        return found

    def keep(self, terms: set[str], prints: set[str]) -> None:
        """Forgets every entry but those of these digests (of chunk texts, of article texts)."""
        for store, live in ((self._terms, terms), (self._prints, prints)):
            for key in [k for k in store if k not in live]:
                del store[key]
                self._dirty = True

    def _check(
        self,
        kind: str,
        texts: list[str],
        keys: list[str],
        derive: Callable[[list[str]], list[object]],
        cached: Callable[[str], object],
    ) -> None:
        """On first use, re-derives up to CHECKS cached entries; any difference drops them all."""
        if self._checked[kind]:
            return
        store = self._terms if kind == "terms" else self._prints
        sample = [i for i, k in enumerate(keys) if k in store][:CHECKS]
        if not sample:
            return  # nothing cached to check yet: check on a later call
        self._checked[kind] = True
        fresh = derive([texts[i] for i in sample])
        if any(f != cached(keys[i]) for i, f in zip(sample, fresh, strict=True)):
            log.warning("the derived-data cache differs from a fresh derivation: dropped")
            store.clear()
            self._dirty = True

    # --- the file ----------------------------------------------------------------------

    def save(self) -> None:
        """Writes the cache in the background if anything changed since the last write. The
        caller (a refresh, under the retriever's lock) only copies two dicts; encoding the
        fingerprints (a quarter of a second for the BBC articles) happens on the writer."""
        if self._path is None or not self._dirty:
            return
        self._dirty = False
        terms, prints = dict(self._terms), dict(self._prints)
        with self._lock:
            previous = self._writer
            self._writer = threading.Thread(
                target=self._write,
                args=(terms, prints, previous),
                name="qa-derived",
                daemon=True,
            )
            self._writer.start()

    def wait(self) -> None:
        """Waits for a write in progress (tests; closing a process)."""
        with self._lock:
            writer = self._writer
        if writer is not None:
            writer.join()

    def _write(
        self,
        terms: dict[str, list[str]],
        prints: dict[str, Fingerprint],
        previous: threading.Thread | None,
    ) -> None:
        if previous is not None:
            previous.join()  # writes land in order, and only one writer touches _rows
        assert self._path is not None
        for key in [k for k in self._rows if k not in prints]:
            del self._rows[key]
        for key, f in prints.items():
            if key not in self._rows or self._rows[key][0] is not f:
                self._rows[key] = (f, _encode(f))
        payload = {
            "format": FORMAT,
            "terms": {k: " ".join(v) for k, v in terms.items()},
            "prints": {k: self._rows[k][1] for k in prints},
        }
        tmp = self._path.with_name(f".{self._path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(payload), encoding="utf-8")
            os.replace(tmp, self._path)
        except OSError as exc:
            log.warning("could not write the derived-data cache %s: %s", self._path, exc)
            tmp.unlink(missing_ok=True)

    def _load(self, path: Path) -> None:
        # Hundreds of thousands of new objects at once: in a process that holds a model's
        # millions, the collector's passes over them would take ten times the loading.
        enabled = gc.isenabled()
        gc.disable()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                found = data.get("format") if isinstance(data, dict) else type(data).__name__
                raise ValueError(f"format {found!r}, not {FORMAT}")
            self._terms = {k: v.split() for k, v in data["terms"].items()}
            self._prints = {k: _decode(v) for k, v in data["prints"].items()}
            self._rows = {k: (self._prints[k], v) for k, v in data["prints"].items()}
        finally:
            if enabled:
                gc.enable()


def _encode(f: Fingerprint) -> list[object]:
    """[shingles, signature hash values, seed] as base64 and an int (None without signature)."""
    shingles = np.array(sorted(f.shingles), dtype=np.uint32).tobytes()
    signature = f.signature
    if signature is None:
        return [base64.b64encode(shingles).decode(), None, None]
    values = np.asarray(signature.hashvalues, dtype=np.uint64).tobytes()  # type: ignore[attr-defined]
    seed = int(signature.seed)  # type: ignore[attr-defined]
    return [base64.b64encode(shingles).decode(), base64.b64encode(values).decode(), seed]


def _decode(row: list[object]) -> Fingerprint:
    shingles, values, seed = row
    got = frozenset(np.frombuffer(base64.b64decode(str(shingles)), dtype=np.uint32).tolist())
    if values is None:
        return Fingerprint(got, None)
    from datasketch import LeanMinHash

    hashvalues = np.frombuffer(base64.b64decode(str(values)), dtype=np.uint64)
    return Fingerprint(got, LeanMinHash(seed=int(seed), hashvalues=hashvalues, scheme="affine32"))  # type: ignore[call-overload]
