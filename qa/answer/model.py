"""The extractive answerer's logistic models and their file, qa/answer/weights/answer_model.json.

Each model names the features it was trained on and reads them from a row by name; loading a
file whose names are not exactly the features this code computes is a clear error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from qa.answer.features import (
    CONFIDENCE_FEATURES,
    FINAL_FEATURES,
    SENTENCE_FEATURES,
    VERDICT_FEATURES,
)
from qa.errors import ModelMismatch

MODEL_FILE = Path(__file__).with_name("weights") / "answer_model.json"
# A sentence reader reads the first ranker's best few sentences in one pass: six hold the answer
# sentence for 0.88 of SQuAD train questions, four for 0.84 (docs/experiments.md). A passage
# reader reads whole chunks, so an answer model fitted for one may read more (Judge.read_top).
READ_TOP = 6


@dataclass(frozen=True)
class Linear:
    """A logistic model over named features: sigmoid(coef · row[features] + intercept)."""

    features: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float

    def __post_init__(self) -> None:
        if len(self.features) != len(self.coef):
            raise ValueError(f"{len(self.features)} features but {len(self.coef)} coefficients")

    def __call__(self, row: Mapping[str, float]) -> float:
        z = self.intercept + sum(
            c * row[name] for name, c in zip(self.features, self.coef, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "coef": [round(c, 5) for c in self.coef],
            "intercept": round(self.intercept, 5),
        }

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        expected: Sequence[str],
        where: str,
        optional: Sequence[str] = (),
    ) -> Linear:
        """The model of a file's entry, which must name exactly the `expected` features, and
        may name the `optional` ones too, all or none of them."""
        names = tuple(data["features"])
        extra = set(names) - set(expected)
        if (
            set(expected) - set(names)
            or extra not in (set(), set(optional))
            or len(names) != len(set(names))
        ):
            missing, unknown = set(expected) - set(names), extra
            repeated = sorted({name for name in names if names.count(name) > 1})
            raise ModelMismatch(
                f"{where} was trained on other features (missing {sorted(missing)}, unknown "
                f"{sorted(unknown)}, repeated {repeated}); run python -m eval.train.answerer"
            )
        return cls(names, tuple(float(c) for c in data["coef"]), float(data["intercept"]))


@dataclass(frozen=True)
class Judge:
    """Weighs the first ranker against the reader's logits, and says how sure the answer is."""

    final: Linear  # second stage, over FINAL_FEATURES of the sentences the reader read
    confidence: Linear  # over CONFIDENCE_FEATURES of the chosen sentence
    threshold: float
    second_ratio: float  # a second sentence joins when its probability is this share of the best
    # How many of the first ranker's best sentences the reader reads (None: every one), as the
    # judge was fitted.
    read_top: int | None = READ_TOP
    # Or, for a passage reader: how many passages it reads whole, the first ranker's order of
    # their best sentences, every sentence of them weighed (None: read_top sentences).
    read_passages: int | None = None

    @property
    def verdict(self) -> bool:
        """Whether the judge weighs the reader's verdict (a reader with none cannot serve it)."""
        return any(
            name in VERDICT_FEATURES for name in (*self.final.features, *self.confidence.features)
        )


@dataclass(frozen=True)
class AnswerModel:
    """The first ranker, over every candidate sentence, and the judge, over the sentences the
    reader read."""

    ranker: Linear  # first stage, over SENTENCE_FEATURES
    judge: Judge

    @property
    def threshold(self) -> float:
        return self.judge.threshold


@cache
def load_model(path: Path = MODEL_FILE) -> AnswerModel:
    """The shipped model; refuses a file whose features do not match this code."""
    data = json.loads(path.read_text())
    if "judge" not in data:
        raise ModelMismatch(f"{path} is of another answerer; run python -m eval.train.answerer")
    d = data["judge"]
    return AnswerModel(
        ranker=Linear.from_dict(data["ranker"], SENTENCE_FEATURES, f"{path} (ranker)"),
        judge=Judge(
            Linear.from_dict(d["final"], FINAL_FEATURES, f"{path} (final)", VERDICT_FEATURES),
            Linear.from_dict(
                d["confidence"], CONFIDENCE_FEATURES, f"{path} (confidence)", VERDICT_FEATURES
            ),
            float(d["threshold"]),
            float(d["second_ratio"]),
            # Files without the field were fitted reading READ_TOP sentences.
            d.get("read_top", READ_TOP),
            d.get("read_passages"),
        ),
    )
