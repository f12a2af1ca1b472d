"""The training loop: a killed run resumes exactly where its checkpoint left off; batches grouped
by length hold every item once."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from eval.train.common import SIZE_POOL_BATCHES, batches_by_size, fine_tune
from qa.answer.model import READ_TOP
from qa.answer.readers import ReaderConfig, build, span_logits

BASE = "sentence-transformers/all-MiniLM-L6-v2"
TEXTS = [f"The gauge at Pelham read {i} metres on Monday." for i in range(12)]


class Killed(Exception):
    """Stands in for the process being killed mid-run."""


def _run(  # type: ignore[no-untyped-def]
    checkpoint: Path | None = None, die_at: int | None = None, texts: list[str] = TEXTS
):
    """Two epochs of three texts a step over a one-layer reader: the head's weights after,
    and the validation history."""
    import torch

    torch.manual_seed(0)
    tokenizer, encoder, head = build(ReaderConfig(BASE, layers=1, max_length=32))
    calls = itertools.count(1)

    def loss_of(rows: list[str]):  # type: ignore[no-untyped-def]
        if next(calls) == die_at:
            raise Killed
        batch = tokenizer(rows, padding=True, return_tensors="pt")
        starts, ends = span_logits(encoder, head, batch)
        return (starts - 1).pow(2).mean() + (starts - ends).pow(2).mean()

    history, _ = fine_tune(
        encoder,
        head,
        list(texts),
        epochs=2,
        batch_size=3,
        lr=1e-3,
        seed=1,
        loss_of=loss_of,
        check=lambda: {"checked": True},
        checkpoint=checkpoint,
        checkpoint_every=2,
        check_before=False,
    )
    return head.weight.detach().clone(), history


def test_a_killed_run_resumes_where_its_checkpoint_left_off(tmp_path: Path) -> None:
    import torch

    whole, whole_history = _run()
    checkpoint = tmp_path / "run.ckpt"
    with pytest.raises(Killed):
        _run(checkpoint, die_at=6)  # steps 1-5 ran; the last checkpoint is step 4's
    assert checkpoint.exists() and not checkpoint.with_name("run.ckpt.partial").exists()
    resumed, history = _run(checkpoint)
    assert torch.allclose(whole, resumed, atol=1e-6)
    assert (
        history == whole_history == [{"epoch": 1, "checked": True}, {"epoch": 2, "checked": True}]
    )


def test_batches_by_length_hold_every_item_once_and_pad_less() -> None:
    import random

    items = [random.Random(n).randint(5, 300) for n in range(1000)]  # lengths of windows
    batch = 16
    grouped = batches_by_size(list(items), batch, int, random.Random(3))
    assert sorted(x for b in grouped for x in b) == sorted(items)
    assert len(grouped) == (len(items) + batch - 1) // batch  # as many steps as plain batches
    assert batches_by_size(list(items), batch, int, random.Random(3)) == grouped  # resumable

    def padded(batches: list[list[int]]) -> int:
        return sum(len(b) * max(b) for b in batches)

    plain = [items[i : i + batch] for i in range(0, len(items), batch)]
    assert padded(grouped) < 0.7 * padded(plain)
    # Batches come from all over the epoch, not in order of length.
    longest = [max(b) for b in grouped[: len(grouped) // 2]]
    assert longest != sorted(longest)
    assert SIZE_POOL_BATCHES * batch < len(items)  # more than one pool was sorted


def test_a_checkpoint_of_another_run_is_refused(tmp_path: Path) -> None:
    checkpoint = tmp_path / "run.ckpt"
    with pytest.raises(Killed):
        _run(checkpoint, die_at=4)
    with pytest.raises(ValueError, match="of a run of 8 steps, not 4"):
        _run(checkpoint, texts=TEXTS[:6])


def test_the_confidence_is_calibrated_for_mixes_with_few_to_a_quarter_unanswerable() -> None:
    """Fitted on questions a third of which have no answer indexed, the answerer's confidence
    is calibrated for a share between none and a quarter: its answers' calibration error stays
    low both where every question has an answer and where a quarter have none, and lower than
    a fit to the trainer's own mix gives where all do."""
    import numpy as np

    from eval.metrics import expected_calibration_error
    from eval.train.answerer import CALIBRATION_SHARES, HOLDOUT, _calibrate

    rng = np.random.default_rng(0)
    n = 6000
    answerable = rng.random(n) >= 1 / 3
    logit = np.where(answerable, rng.normal(1.5, 1.5, n), rng.normal(-1.0, 1.5, n))
    right = answerable & (rng.random(n) < 1 / (1 + np.exp(-logit)))
    rows = [
        {"answerable": bool(a), "right": bool(r)} for a, r in zip(answerable, right, strict=True)
    ]
    fitted = _calibrate(logit, logit, rows, rows, right.tolist(), lambda r: r["right"])

    assert fitted.scale > 0  # increasing: the same questions are answered whatever the share
    assert 0 < fitted.share < 1 / 3 and fitted.share in CALIBRATION_SHARES
    assert set(fitted.errors) == {"0.0", str(HOLDOUT)}
    assert max(fitted.errors.values()) < 0.05

    # The trainer's own mix: Platt scaling with every question weighed alike.
    from sklearn.linear_model import LogisticRegression

    platt = LogisticRegression(C=1e6).fit(logit.reshape(-1, 1), right)
    mixed = platt.predict_proba(logit.reshape(-1, 1))[:, 1]
    ours = 1 / (1 + np.exp(-(fitted.scale * logit + fitted.shift)))
    given = answerable & (ours >= 0.3)
    assert expected_calibration_error(
        ours[given].tolist(), right[given].tolist()
    ) < expected_calibration_error(mixed[given].tolist(), right[given].tolist())


@pytest.mark.parametrize(
    ("held", "asked"), [([{"passages": 8}], "5"), ([{"answerable": True}], "8")]
)
def test_a_rows_file_read_from_another_passage_count_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], held: list[dict[str, object]], asked: str
) -> None:
    """Reusing rows collected with another --passages would fit a model that says it was fitted
    for passages it never read; a rows file without the field holds five."""
    import json

    from eval.train.answerer import main

    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps(held))
    out = tmp_path / "model.json"
    with pytest.raises(SystemExit) as refused:
        main(["--rows", str(rows), "--passages", asked, "--out", str(out)])
    assert refused.value.code == 2 and not out.exists()
    assert f"not {asked}" in capsys.readouterr().err


def _rows(count: int, sentences: int = 12) -> list[dict[str, object]]:
    """Collected rows as eval.train.answerer writes them, of made-up features: the gold sentence
    of an answerable question scores higher, and its reader margin too, with noise."""
    import random

    from qa.answer.features import SENTENCE_FEATURES

    rng = random.Random(5)
    rows: list[dict[str, object]] = []
    for n in range(count):
        kind = ("plain", "plain", "unanswerable", "swapped")[n % 4]
        answerable = kind == "plain"
        gold = rng.randrange(sentences) if answerable else -1
        rows.append(
            {
                "features": [
                    {f: rng.random() + (i == gold) * rng.random() for f in SENTENCE_FEATURES}
                    for i in range(sentences)
                ],
                "reader": [rng.gauss(2.0 if i == gold else -2.0, 2.0) for i in range(sentences)],
                "gold": [i == gold for i in range(sentences)],
                "answerable": answerable,
                "kind": kind,
                "words": [12] * sentences,
                "ranks": [i * 5 // sentences for i in range(sentences)],
                "passages": 5,
            }
        )
    return rows


@pytest.mark.parametrize(("given", "saved"), [([], READ_TOP), (["--read-top", "0"], None)])
def test_the_answer_model_records_how_many_sentences_its_reader_reads(
    tmp_path: Path, given: list[str], saved: int | None
) -> None:
    """--read-top K fits the judge on the reader's margins of the first ranker's best K
    sentences (0: every one) and records K, so the answerer reads as many."""
    import json

    from eval.train.answerer import main
    from qa.answer.model import load_model

    rows, out = tmp_path / "rows.json", tmp_path / "model.json"
    rows.write_text(json.dumps(_rows(400)))
    assert main(["--rows", str(rows), "--out", str(out), *given]) == 0
    assert json.loads(out.read_text())["judge"]["read_top"] == saved
    assert load_model(out).judge.read_top == saved


def test_the_answer_model_records_how_many_passages_its_reader_reads(tmp_path: Path) -> None:
    """--read-passages C fits the judge on every sentence of the first ranker's best C passages
    and records C, so the answerer reads the same; a count below one is refused."""
    import json

    from eval.train.answerer import main
    from qa.answer.model import load_model

    rows, out = tmp_path / "rows.json", tmp_path / "model.json"
    rows.write_text(json.dumps(_rows(400)))
    assert main(["--rows", str(rows), "--out", str(out), "--read-passages", "2"]) == 0
    assert load_model(out).judge.read_passages == 2
    with pytest.raises(SystemExit) as refused:
        main(["--rows", str(rows), "--out", str(out), "--read-passages", "0"])
    assert refused.value.code == 2


def test_near_misses_can_teach_the_second_stage(tmp_path: Path) -> None:
    """--staged-near-misses fits the second stage on the near misses' sentences too: where they
    lack the question's most specific word yet draw high span margins, it learns to trust such
    a sentence less than from the answerable questions alone, and records that it did."""
    import json

    from eval.train.answerer import main
    from qa.answer.model import load_model

    rows = _rows(400)
    for r in rows:
        near = not r["answerable"]
        for i, f in enumerate(r["features"]):  # type: ignore[attr-defined]
            f["missing"] = 1.0 if near else float(i % 2)
        if near:
            r["reader"] = [4.0] * len(r["reader"])  # type: ignore[arg-type]
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(rows))
    weights = {}
    for staged in (False, True):
        out = tmp_path / f"model{staged}.json"
        assert (
            main(["--rows", str(path), "--out", str(out)] + ["--staged-near-misses"] * staged) == 0
        )
        final = load_model(out).judge.final
        weights[staged] = dict(zip(final.features, final.coef, strict=True))["missing"]
        assert json.loads(out.read_text())["trained_on"]["staged_near_misses"] is staged
    assert weights[True] < weights[False] - 0.15, weights


def test_a_reader_gaining_a_verdict_starts_from_the_trained_spans(tmp_path: Path) -> None:
    """--init into a head with a verdict: the start and end outputs are the trained reader's,
    the verdict starts at zero (no opinion)."""
    import torch

    from eval.train.common import load_init, save_weights

    _, encoder, head = build(ReaderConfig(BASE, layers=1, max_length=32))
    torch.nn.init.normal_(head.weight)
    save_weights(encoder, head, tmp_path)
    _, encoder2, judged = build(ReaderConfig(BASE, layers=1, max_length=32, verdict=True))
    assert judged.weight.shape[0] == 3
    load_init(encoder2, judged, tmp_path)
    assert torch.equal(judged.weight[:2], head.weight) and torch.equal(judged.bias[:2], head.bias)
    assert not judged.weight[2].any() and float(judged.bias[2]) == 0.0


def test_the_verdict_separates_what_the_span_margin_does_not() -> None:
    """Validation's separations: the chance an answer sentence outscores a null one, by span
    margin and by verdict, per null kind, and the share of each on the right side of zero."""
    from eval.train.spans import separations

    scored = {
        "answer": [(2.0, 3.0), (1.0, 1.0), (-1.0, 2.0)],
        "same_article": [(1.5, -1.0), (3.0, -2.0)],
        "other": [(-5.0, -3.0), (-5.0, 0.5)],
    }
    found = separations(scored)
    assert found["same_article_margin_auc"] == pytest.approx(round(1 / 6, 4))
    assert found["same_article_verdict_auc"] == 1.0
    assert found["other_margin_auc"] == 1.0
    assert found["other_verdict_auc"] == 1.0
    assert found["other_verdict_no"] == 0.5 and found["answer_verdict_yes"] == 1.0
    plain = separations({k: [(m, None) for m, _ in v] for k, v in scored.items()})
    assert set(plain) == {"same_article_margin_auc", "other_margin_auc"}


def test_the_judge_weighs_the_verdicts_the_rows_carry(tmp_path: Path) -> None:
    """Rows collected with a verdict reader carry each sentence's verdict; the answerer's
    trainer then fits both stages on it too, and where the verdict tells near misses apart
    (their sentences' span margins as high as answers') it declines more of them for the same
    false abstention. --without-verdict fits the same rows as before."""
    import json
    import random

    from eval.train.answerer import main
    from qa.answer.model import load_model

    rng = random.Random(3)
    rows = _rows(800)
    for r in rows:
        gold: list[bool] = r["gold"]  # type: ignore[assignment]
        if not r["answerable"]:  # a near miss: one sentence looks as an answer does
            decoy = rng.randrange(len(gold))
            for i, f in enumerate(r["features"]):  # type: ignore[attr-defined]
                for name in f:
                    f[name] = rng.random() + (i == decoy) * rng.random()
            r["reader"] = [rng.gauss(2.0 if i == decoy else -2.0, 2.0) for i in range(len(gold))]
        r["verdict"] = [rng.gauss(2.0 if g else -2.0, 1.0) for g in gold]
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(rows))
    checks = {}
    for without in (False, True):
        out = tmp_path / f"model{without}.json"
        assert main(["--rows", str(path), "--out", str(out)] + ["--without-verdict"] * without) == 0
        saved = json.loads(out.read_text())
        assert saved["trained_on"]["verdict"] is not without
        judge = load_model(out).judge
        assert judge.verdict is not without
        if not without:
            assert dict(zip(judge.final.features, judge.final.coef, strict=True))["verdict"] > 0
        checks[without] = saved["trained_on"]["checks"]
    assert checks[False]["off_index_declined"] > checks[True]["off_index_declined"] + 0.1, checks


def test_off_index_questions_are_checked_apart_by_whether_their_article_is_indexed() -> None:
    """A question whose whole article is left out is an easy near miss (nothing on its topic is
    indexed); one whose paragraph alone is left out is what `qa eval --holdout` asks. The
    trainer's checks give each its own share declined, so the easy ones cannot hide the hard."""
    import random

    from eval.train.answerer import fit

    rng = random.Random(4)
    rows = _rows(800)
    left_out: set[str] = set()
    for n, r in enumerate(rows):
        r["id"] = f"q{n}"
        if r["kind"] != "unanswerable":
            continue
        gold: list[bool] = r["gold"]  # type: ignore[assignment]
        if n % 8 == 2:  # its article left out: nothing retrieved looks like an answer
            left_out.add(f"q{n}")
            r["reader"] = [rng.gauss(-4.0, 1.0) for _ in gold]
        else:  # its paragraph left out: one sentence of the article looks like an answer
            decoy = rng.randrange(len(gold))
            for i, f in enumerate(r["features"]):  # type: ignore[attr-defined]
                for name in f:
                    f[name] = rng.random() + (i == decoy) * rng.random()
            r["reader"] = [rng.gauss(2.0 if i == decoy else -2.0, 2.0) for i in range(len(gold))]
    checks = fit(rows, 800, left_out=left_out)["trained_on"]["checks"]
    article, paragraph = (
        checks["off_index_article_declined"],
        checks["off_index_paragraph_declined"],
    )
    assert article > paragraph + 0.3, checks
    assert min(article, paragraph) <= checks["off_index_declined"] <= max(article, paragraph)
    assert "off_index_article_declined" not in fit(rows, 800)["trained_on"]["checks"]
