"""Every metric against numbers worked out by hand, and the gates."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from eval import metrics
from eval.cli import gate_failures
from eval.harness import Result, Run, summarize
from eval.sets import SetError, load_jsonl


def test_normalize_and_exact_match() -> None:
    assert metrics.normalize("The  Mark Toner!") == "mark toner"
    assert metrics.exact_match("the Mark Toner", ["Mark Toner"]) == 1.0
    assert metrics.exact_match("Toner", ["Mark Toner"]) == 0.0
    assert metrics.exact_match(None, ["x"]) == 0.0


def test_f1_by_hand() -> None:
    # prediction "mark toner said", gold "mark toner": common 2, p = 2/3, r = 1, F1 = 0.8
    assert metrics.f1("Mark Toner said", ["Mark Toner"]) == pytest.approx(0.8)
    # best over golds: "toner" vs "toner" = 1.0
    assert metrics.f1("Toner", ["Mark Toner", "Toner"]) == 1.0
    assert metrics.f1("Atme", ["Mark Toner"]) == 0.0


def test_containment_is_whole_words_and_normalised() -> None:
    assert metrics.contains_any("Spokesman Mark Toner said [1]", ["mark toner"])
    assert not metrics.contains_any("2,6570 strikes", ["2,657"])
    assert metrics.contains_any("“positive repercussions”", ['"positive repercussions"'])


def test_a_possessive_contains_its_word_but_not_other_words() -> None:
    assert metrics.contains_any("to reinforce Iraq’s military forces [1]", ["Iraq"])
    assert metrics.contains_any("Turkey's Adana province", ["Turkey's Adana"])
    assert not metrics.contains_any("Iraqis said", ["Iraq"])
    assert not metrics.contains_any("its forces", ["it"])


def test_answer_correct_rules() -> None:
    long = "word " * 81 + "Toner"
    assert metrics.answer_correct(True, "Mark Toner [1]", ["Mark Toner"], True)
    assert not metrics.answer_correct(False, "Mark Toner", ["Mark Toner"], True)  # abstained
    assert not metrics.answer_correct(True, long, ["Toner"], True)  # over 80 words
    assert metrics.answer_correct(False, "The articles don't say.", [], False)
    assert not metrics.answer_correct(True, "Something", [], False)


def test_evidence_ranks_hits_and_mrr() -> None:
    assert metrics.evidence_cited(["he was “not  aware” of"], 'was "not aware"')
    assert not metrics.evidence_cited(["nothing here"], "not aware")
    ranks = [1, 3, None, 6]
    assert metrics.first_rank(["a", "b", "c"], ["c", "z"]) == 3
    assert metrics.hit_at(ranks, 1)["score"] == 0.25
    assert metrics.hit_at(ranks, 5)["score"] == 0.5
    # MRR = (1 + 1/3 + 0 + 1/6) / 4 = 0.375
    assert metrics.mrr(ranks)["score"] == pytest.approx(0.375)
    assert metrics.all_recalled(["a", "b", "c"], ["c", "a"]) and not metrics.all_recalled(
        ["a"], ["a", "b"]
    )


def test_best_threshold_by_hand() -> None:
    # Two answerable (right at 0.9, wrong at 0.6) and two unanswerable (0.2, 0.7).
    # t in (0.2, 0.6]: answers 0.9 right, 0.6 wrong, 0.7 wrong -> 2/4 right... t in (0.7, 0.9]:
    # answers only 0.9 -> right; 0.6 abstains (wrong: answerable); 0.2 and 0.7 abstain -> 3/4.
    t, acc, curve = metrics.best_threshold(
        [0.9, 0.6, 0.2, 0.7], [True, False, False, False], [True, True, False, False]
    )
    assert acc == 0.75 and 0.7 < t <= 0.9
    assert dict(curve)[0.0] == 0.25


def test_calibration_error_by_hand() -> None:
    # Bin [0.9, 1]: confidences 0.9 and 1.0 (mean 0.95), one of two right: |0.5 - 0.95| = 0.45.
    # Bin [0.2, 0.3): 0.25, wrong: |0 - 0.25| = 0.25. Weighted: (2 * 0.45 + 0.25) / 3.
    conf, right = [0.9, 1.0, 0.25], [True, False, False]
    assert metrics.reliability(conf, right) == [
        (pytest.approx(0.25), 0.0, 1),
        (pytest.approx(0.95), 0.5, 2),
    ]
    assert metrics.expected_calibration_error(conf, right) == pytest.approx((0.9 + 0.25) / 3)
    assert metrics.expected_calibration_error([0.75] * 4, [True, True, True, False]) == 0.0
    assert metrics.expected_calibration_error([], []) is None
    # Weights count an answer that many times; a weight of 0 leaves it out.
    twice = metrics.expected_calibration_error([0.9, 1.0, 0.25, 0.25], [True, False, False, False])
    assert metrics.expected_calibration_error(
        [0.9, 1.0, 0.25, 0.6], [True, False, False, True], weights=[1, 1, 2, 0]
    ) == pytest.approx(twice)


def _result(**kw) -> Result:  # type: ignore[no-untyped-def]
    base = dict(
        id="q",
        kind="answerable",
        question="?",
        standalone_question="?",
        expected=["x"],
        answerable=True,
        answer="x [1]",
        short_answer="x",
        answered=True,
        confidence=0.9,
        correct=True,
        would_be_right=True,
        evidence_cited=True,
        quote_mismatches=0,
        retrieval_measured=True,
        rank=1,
        support_recalled=None,
        em=1.0,
        f1=1.0,
        latency_ms=10.0,
    )
    return Result(**{**base, **kw})


def test_summary_and_gates() -> None:
    results = [
        _result(),
        _result(id="b", correct=False, answered=False, rank=7, em=0.0, f1=0.5, latency_ms=30.0),
        _result(
            id="c",
            kind="unanswerable",
            answerable=False,
            correct=True,
            answered=False,
            retrieval_measured=False,
            rank=None,
            em=None,
            f1=None,
            evidence_cited=None,
        ),
    ]
    summary = summarize(results)
    assert summary["accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    assert summary["false_abstention_rate"] == 0.5
    assert summary["abstention_accuracy"] == 1.0
    assert summary["hit@1"] == 0.5 and summary["hit@10"] == 1.0
    assert summary["exact_match"] == 0.5 and summary["f1"] == 0.75
    assert summary["accuracy_by_kind"] == {"answerable": 0.5, "unanswerable": 1.0}
    assert summary["ece"] == pytest.approx(0.1)  # one answer given, at 0.9, and right
    assert summary["held_out_answered_right"] == 0.0
    run = Run("demo", results)
    assert gate_failures([run], {"min_accuracy": 0.6}) == []
    assert gate_failures([run], {"min_accuracy": 0.7}) == ["demo: accuracy 0.6667 < 0.7"]
    bad = Run("bad", [_result(quote_mismatches=2)])
    assert "2 quotes do not match" in gate_failures([bad], {})[0]


def test_held_out_questions_answered_from_elsewhere_are_counted_apart() -> None:
    """A question whose paragraph was held out of the index is right only when declined; the
    summary also says how many were answered with their answer from another passage. Questions
    with no answer anywhere (an empty accept list) are not among them."""
    held = dict(kind="unanswerable", answerable=False, rank=None, em=None, f1=None)
    results = [
        _result(id="a", correct=False, answer="It was x. [1]", **held),
        _result(id="b", correct=False, answer="It was y. [1]", **held),
        _result(id="c", correct=True, answered=False, answer="The articles don't say.", **held),
        _result(id="d", correct=False, expected=[], answer="It was x. [1]", **held),
    ]
    summary = summarize(results)
    assert summary["held_out_answered_right"] == pytest.approx(1 / 3, abs=1e-4)
    assert summary["abstention_accuracy"] == 0.25
    assert "held_out_answered_right" not in summarize([_result()])


def test_set_loader_reports_bad_lines(tmp_path: Path) -> None:
    good = {"id": "a", "question": "Who?", "accept": ["X"], "answerable": True}
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "id": "b", "accept": []}) + "\n")
    with pytest.raises(SetError, match=r"set\.jsonl:2: an answerable question needs accept"):
        load_jsonl(path)
    path.write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n")
    with pytest.raises(SetError, match="ids repeat"):
        load_jsonl(path)


def test_a_set_as_typed_asks_lower_case_without_question_marks(tmp_path: Path) -> None:
    from eval.sets import as_typed

    line = {
        "id": "a",
        "question": " Who denied awareness of the airstrikes? ",
        "accept": ["Mark Toner"],
    }
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps({**line, "answerable": True}) + "\n")
    typed = as_typed(load_jsonl(path))
    assert typed.name == "set (as typed)"
    (q,) = typed.questions
    assert q.question == "who denied awareness of the airstrikes"
    assert q.accept == ["Mark Toner"] and q.answerable and q.id == "a"


def test_a_swapped_question_asks_for_what_the_answer_sentence_lacks() -> None:
    from eval.sets import swap_term
    from qa.text import tokenize

    answer = "Spokesman Mark Toner said the airstrikes on Atme were not deliberate."
    elsewhere = ["Turkey hosts Incirlik Air Base.", "the jets flew from Adana."]
    question = "What did Mark Toner say about Atme?"
    swapped = swap_term(question, answer, elsewhere, random.Random(0))
    assert swapped is not None and swapped != question
    # One capitalised word of the answer became a capitalised word found only elsewhere.
    gone = set(tokenize([question])[0]) - set(tokenize([swapped])[0])
    new = set(tokenize([swapped])[0]) - set(tokenize([question])[0])
    here = set(tokenize([answer])[0])
    assert len(gone) == 1 and gone <= here
    assert len(new) == 1 and not new & here and new <= set(tokenize([" ".join(elsewhere)])[0])
    assert swapped.split()[-1][0].isupper()
    # Nothing to swap: no question word is both specific and in the answer.
    assert swap_term("What happened?", answer, elsewhere, random.Random(0)) is None
    # A word ending in an apostrophe is swapped too, never left as it was.
    plural = "How did Descartes' ideas spread?"
    swapped = swap_term(plural, "Descartes' ideas spread fast.", elsewhere, random.Random(0))
    assert swapped is not None and "Descartes" not in swapped


def test_an_act_swapped_question_asks_of_an_act_the_answer_does_not_tell_of() -> None:
    from eval.sets import swap_act

    answer = "A group of forty volunteers has completed a restoration of the Karsvik lighthouse."
    elsewhere = ["The tower was designed and painted in 1871.", "It reopened, as planned."]
    question = "Who restored the Karsvik lighthouse?"
    swapped = {swap_act(question, answer, elsewhere, random.Random(k)) for k in range(20)}
    # The act asked about is one the answer tells of ("restoration"); its stand-in is a past
    # tense found elsewhere, neither in the answer nor in the question, names untouched.
    assert swapped == {
        "Who designed the Karsvik lighthouse?",
        "Who painted the Karsvik lighthouse?",
        "Who reopened the Karsvik lighthouse?",
        "Who planned the Karsvik lighthouse?",
    }
    # No act of the answer's in the question, or none elsewhere to put in its place.
    assert swap_act("Who owns the Karsvik lighthouse?", answer, elsewhere, random.Random(0)) is None
    assert swap_act(question, answer, ["The lighthouse was restored."], random.Random(0)) is None
