"""A BERT encoder's inference pass in a few torch calls a layer.

The embedding model and the span reader are six-layer BERT encoders (all-MiniLM-L6-v2 and its
fine-tuned copy), and most of their passes are small: one question, or a question with six
sentences of about 70 word pieces. On such passes transformers' `BertModel` spends a large
share of its time in Python between kernels (module calls, mask building, attention dispatch,
three separate query/key/value products). `FastBert` runs the same arithmetic on the same
weights with one matrix product for query, key and value, torch's scaled-dot-product attention
and post-layer norms, the per-token work on the real tokens only: a question with six sentences
in bfloat16 on two cores takes 16.7 ms against 23.3 ms (docs/results.md).

Only inference, and only the BERT variant these models are (absolute positions, erf GELU, an
encoder without cross-attention); `supports` says whether a model is one, and callers use
transformers' forward pass for any other. Its output matches `BertModel`'s last hidden state
to bfloat16 rounding (tests/test_encoder.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The products' row counts are rounded up to a multiple of this (FastBert.__call__).
ROWS = 32


def supports(model: Any) -> bool:
    """Whether `model` is a transformers BertModel that FastBert computes exactly."""
    try:
        from transformers import BertModel
    except ImportError:  # pragma: no cover - transformers is a dependency
        return False
    config = getattr(model, "config", None)
    return (
        isinstance(model, BertModel)
        and config is not None
        and getattr(config, "position_embedding_type", "absolute") == "absolute"
        and config.hidden_act == "gelu"
        and not getattr(config, "is_decoder", False)
        and config.hidden_size % config.num_attention_heads == 0
    )


class FastBert:
    """The last hidden state of a BERT encoder, from its weights as named in a BertModel's
    state dict (in the dtype they are given in)."""

    def __init__(self, weights: Mapping[str, Any], heads: int, eps: float) -> None:
        import torch

        def get(name: str) -> Any:
            try:
                return weights[name].detach()
            except KeyError:
                raise ValueError(f"BERT weights lack {name!r}") from None

        self._word = get("embeddings.word_embeddings.weight")
        self._position = get("embeddings.position_embeddings.weight")
        self._token_type = get("embeddings.token_type_embeddings.weight")
        self._norm = (get("embeddings.LayerNorm.weight"), get("embeddings.LayerNorm.bias"))
        self._eps = float(eps)
        self._heads = int(heads)
        self._layers = []
        count = len({k.split(".")[2] for k in weights if k.startswith("encoder.layer.")})
        for n in range(count):
            at = f"encoder.layer.{n}."
            parts = [f"{at}attention.self.{p}" for p in ("query", "key", "value")]
            self._layers.append(
                (
                    torch.cat([get(f"{p}.weight") for p in parts]),
                    torch.cat([get(f"{p}.bias") for p in parts]),
                    *(
                        get(f"{at}{name}.{kind}")
                        for name in (
                            "attention.output.dense",
                            "attention.output.LayerNorm",
                            "intermediate.dense",
                            "output.dense",
                            "output.LayerNorm",
                        )
                        for kind in ("weight", "bias")
                    ),
                )
            )
        if not self._layers:
            raise ValueError("BERT weights hold no encoder layer")

    @classmethod
    def from_model(cls, model: Any) -> FastBert:
        """The pass of a transformers BertModel, on its weights as they are now (convert the
        model to the dtype wanted first)."""
        if not supports(model):
            raise ValueError(f"{type(model).__name__} is not a BERT encoder FastBert can run")
        config = model.config
        return cls(model.state_dict(), config.num_attention_heads, config.layer_norm_eps)

    def __call__(
        self, input_ids: Any, attention_mask: Any, token_type_ids: Any | None = None
    ) -> Any:
        """(batch, tokens, hidden): each token's last hidden state, zeros at padding.

        The per-token work (products, GELU, norms) runs on the real tokens only, packed into
        one row each, and only attention on the padded (batch, tokens) layout it needs: a
        reader's batch of six sentences of unequal length is about a quarter padding."""
        import torch
        import torch.nn.functional as F

        batch, tokens = input_ids.shape
        real = attention_mask.to(torch.bool)
        where = real.flatten().nonzero().squeeze(1)  # the real tokens' rows in the padded layout
        x = self._word[input_ids] + self._position[:tokens]
        if token_type_ids is not None:
            x = x + self._token_type[token_type_ids]
        else:
            x = x + self._token_type[0]
        hidden = x.shape[-1]
        heads = self._heads
        size = hidden // heads
        # The packed rows are padded to a multiple of ROWS: oneDNN compiles a kernel for each
        # new shape of a product and caches it, so packed rows of every count would compile on
        # most passes (about 2 ms more a product, 24 products a pass) and fill memory with kernels.
        m = where.numel()
        pad = -m % ROWS

        def padded(rows: Any) -> Any:
            return F.pad(rows, (0, 0, 0, pad)) if pad else rows

        x = padded(F.layer_norm(x.reshape(-1, hidden)[where], (hidden,), *self._norm, self._eps))
        mask = real[:, None, None, :]
        for wqkv, bqkv, wo, bo, g1, b1, wi, bi, wo2, bo2, g2, b2 in self._layers:
            qkv = x.new_zeros(batch * tokens, 3 * hidden)
            qkv[where] = F.linear(x, wqkv, bqkv)[:m]
            q, k, v = qkv.view(batch, tokens, 3, heads, size).permute(2, 0, 3, 1, 4)
            attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            attended = padded(attended.transpose(1, 2).reshape(batch * tokens, hidden)[where])
            x = F.layer_norm(F.linear(attended, wo, bo) + x, (hidden,), g1, b1, self._eps)
            inner = F.gelu(F.linear(x, wi, bi))
            x = F.layer_norm(F.linear(inner, wo2, bo2) + x, (hidden,), g2, b2, self._eps)
        out = x.new_zeros(batch * tokens, hidden)
        out[where] = x[:m]
        return out.view(batch, tokens, hidden)
