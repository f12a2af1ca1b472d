"""Slow suites over the public data in ../shared/data: the figures the README reports, gated
at the levels measured so a regression fails CI. Run with `make test` (or `pytest -m slow`)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from eval.cli import eval_command
from qa.cli import cli

from .conftest import ROOT, SEEDS, shared_data

pytestmark = pytest.mark.slow
cli.add_command(eval_command, "eval")

# Measured on 2026-12-02 (docs/results.md): SQuAD answers 0.784 and short answer F1 0.654;
# with the BBC articles indexed, the seed set's answerable 0.893, unanswerable 0.643, evidence
# 0.919, and the news set (eval/sets/bbc.jsonl) 0.800 with evidence 0.775; HotpotQA
# both-supports recall 0.848. The floors sit a little under them so a regression fails. They
# are not the goals (issue 17: SQuAD 0.82, the seed set whole, the news set 0.85); raise them as
# the answerer improves.
SQUAD_ANSWER_FLOOR = 0.77
SQUAD_SHORT_F1_FLOOR = 0.63
SEED_ANSWERABLE_FLOOR = 0.84
SEED_UNANSWERABLE_FLOOR = 0.55
SEED_EVIDENCE_FLOOR = 0.9
HOTPOT_SUPPORT_FLOOR = 0.82
NEWS_ACCURACY_FLOOR = 0.75
NEWS_EVIDENCE_FLOOR = 0.72


def _eval(tmp_path: Path, *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    out = tmp_path / "result.json"
    result = CliRunner().invoke(cli, ["eval", *args, "--json", str(out)], catch_exceptions=False)
    print(result.stdout)
    summaries = {r["name"]: r["summary"] for r in json.loads(out.read_text())["runs"]}
    return result.exit_code, summaries


def test_squad_open_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    squad = shared_data("squad-v1.1-dev.json")
    code, runs = _eval(
        tmp_path,
        str(squad),
        *("--sample", "500", "--seed", "0", "--compare", "hybrid,dense,lexical"),
        *("--answer-with", "hybrid"),  # the other modes' retrieval figures, without answers
    )
    hybrid, dense, lexical = (runs[f"squad-v1.1-dev [{m}]"] for m in ("hybrid", "dense", "lexical"))
    assert hybrid["hit@5"] >= 0.93
    assert hybrid["hit@5"] >= max(dense["hit@5"], lexical["hit@5"])  # fusion beats either side
    assert hybrid["answer_accuracy"] >= SQUAD_ANSWER_FLOOR
    assert hybrid["f1"] >= SQUAD_SHORT_F1_FLOOR
    assert hybrid["quote_mismatches"] == 0 and code == 0


def test_seed_and_news_sets_with_every_bbc_article_indexed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seed set with the 2,225 BBC articles as distractors, and the news set written over
    them (eval/sets/bbc.jsonl), asked of one index of both."""
    monkeypatch.chdir(tmp_path)
    bbc = shared_data("bbc-news")
    sets = ROOT / "eval" / "sets"
    code, runs = _eval(
        tmp_path,
        str(sets / "seed.jsonl"),
        str(sets / "bbc.jsonl"),
        "--corpus",
        str(SEEDS),
        "--corpus",
        str(bbc),
    )
    seed, news = runs["seed"], runs["bbc"]
    assert seed["quote_mismatches"] == news["quote_mismatches"] == 0 and code == 0
    assert seed["accuracy_by_kind"]["answerable"] >= SEED_ANSWERABLE_FLOOR
    assert seed["accuracy_by_kind"]["unanswerable"] >= SEED_UNANSWERABLE_FLOOR
    assert seed["evidence_rate"] >= SEED_EVIDENCE_FLOOR
    assert news["accuracy"] >= NEWS_ACCURACY_FLOOR
    assert news["evidence_rate"] >= NEWS_EVIDENCE_FLOOR


def test_hotpotqa_supporting_paragraphs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    hotpot = shared_data("hotpotqa-dev-500.jsonl")
    code, runs = _eval(tmp_path, str(hotpot), "--compare", "hybrid,dense", "--answer-with", "none")
    hybrid, dense = runs["hotpotqa-dev-500 [hybrid]"], runs["hotpotqa-dev-500 [dense]"]
    assert hybrid["support_recall@10"] >= HOTPOT_SUPPORT_FLOOR
    assert hybrid["support_recall@10"] >= dense["support_recall@10"]
    assert code == 0


def test_no_trainer_is_given_a_paragraph_of_squad_dev(tmp_path: Path) -> None:
    """Every trainer reads SQuAD through eval.train.common.paragraphs, which refuses a file
    holding any paragraph (or article) of the evaluation set, SQuAD dev."""
    from eval.train import answerer, spans
    from eval.train.common import DevLeak, paragraphs

    train = json.loads(shared_data("squad-v1.1-train.json").read_text())["data"]
    dev = json.loads(shared_data("squad-v1.1-dev.json").read_text())["data"]
    some = [doc | {"paragraphs": doc["paragraphs"][:6]} for doc in train[:12]]
    clean = tmp_path / "clean.json"
    clean.write_text(json.dumps({"data": some}))
    # One dev paragraph slipped in under a train article's title, and a whole dev article.
    last = some[-1] | {"paragraphs": [*some[-1]["paragraphs"], dev[3]["paragraphs"][7]]}
    slipped = [*some[:-1], last]
    for name, docs in (("slipped", slipped), ("article", [*some, dev[0]])):
        leaky = tmp_path / f"{name}.json"
        leaky.write_text(json.dumps({"data": docs}))
        with pytest.raises(DevLeak):
            paragraphs(leaky)
        with pytest.raises(DevLeak):
            spans.examples(leaky, questions=50, near_misses=True)
        with pytest.raises(DevLeak):
            answerer.questions_and_articles(leaky)
    train_examples, _ = spans.examples(clean, questions=50)
    assert train_examples and train_examples[0].answer is not None
    assert answerer.questions_and_articles(clean)[0]


def test_the_span_reader_and_the_answerer_learn_from_different_articles() -> None:
    """SQuAD train passes the check whole, and its Wikipedia articles are split between the two
    trainers, so the answerer sees the reader's scores as they are on text it never read."""
    from eval.train.common import ANSWERER_TITLES, paragraphs

    parts = paragraphs(shared_data("squad-v1.1-train.json"))
    assert len(parts) == 18_896
    titles = {part: {p.title for p in parts if p.part == part} for part in ("reader", "answerer")}
    assert len(titles["answerer"]) == ANSWERER_TITLES
    assert not titles["reader"] & titles["answerer"]
    assert sum(len(p.qas) for p in parts if p.part == "reader") > 70_000


def _small_squad(tmp_path: Path) -> tuple[Path, list[dict]]:  # type: ignore[type-arg]
    """A SQuAD file of the first eight paragraphs of SQuAD train's first 30 articles, and those
    articles."""
    train = json.loads(shared_data("squad-v1.1-train.json").read_text())["data"][:30]
    small = tmp_path / "small.json"
    small.write_text(
        json.dumps({"data": [doc | {"paragraphs": doc["paragraphs"][:8]} for doc in train]})
    )
    return small, train


def test_the_span_reader_learns_near_misses_beside_the_same_questions(tmp_path: Path) -> None:
    """--near-misses adds null answers made from SQuAD train to the same sample of questions:
    a sentence of another paragraph of the question's article that shares its words (and holds
    no annotator's answer), and the answer sentence asked with a specific word swapped."""
    from eval.train import spans

    small, _ = _small_squad(tmp_path)
    plain, plain_valid = spans.examples(small, questions=300)
    near, near_valid = spans.examples(small, questions=300, near_misses=True)

    def answers(rows: list[spans.Example]) -> list[tuple[str, str]]:
        return [(r.question, r.sentence) for r in rows if r.kind == "answer"]

    assert answers(near) == answers(plain) and answers(near_valid) == answers(plain_valid)
    kinds = Counter(r.kind for r in near)
    assert kinds["same_article"] > 0.9 * kinds["answer"]
    assert 0.2 * kinds["answer"] < kinds["swapped"] < 0.7 * kinds["answer"]
    home = {r.question: r.sentence for r in near if r.kind == "answer"}
    for r in near:
        if r.kind != "answer":
            assert r.answer is None
        if r.kind in ("other", "same_article"):
            assert not any(g in r.sentence for g in r.golds)
        if r.kind == "swapped":
            assert r.sentence in home.values() and r.question not in home
        if r.kind == "same_article":
            assert r.sentence != home[r.question]
    # A share of the questions: the same answers, near misses for about that share of them.
    some, _ = spans.examples(small, questions=300, near_misses=0.25)
    assert answers(some) == answers(plain)
    share = Counter(r.kind for r in some)
    assert 0.12 * share["answer"] < share["same_article"] < 0.4 * share["answer"]
    assert share["swapped"] < share["same_article"]


def test_the_span_reader_learns_to_rank_an_answer_above_its_rivals(tmp_path: Path) -> None:
    """--rivals groups each training question with the answer sentence first, the same null
    answers as without, and the other sentences of its paragraph sharing most of its words;
    the listwise loss is lower where the answer sentence's margin leads them."""
    import torch

    from eval.train import spans
    from qa.text import tokenize

    small, _ = _small_squad(tmp_path)
    plain, plain_valid = spans.examples(small, questions=300)
    groups, valid = spans.examples(small, questions=300, rivals=3)
    assert valid == plain_valid
    assert [r for g in groups for r in g.examples if r.kind != "rival"] == plain
    rivals = Counter(len([r for r in g.examples if r.kind == "rival"]) for g in groups)
    assert rivals[3] > 0.5 * len(groups) and max(rivals) == 3
    for g in groups:
        answer, *rest = g.examples
        assert answer.kind == "answer" and answer.answer is not None
        asked = set(tokenize([answer.question])[0])
        shared = [len(asked & set(tokenize([r.sentence])[0])) for r in rest if r.kind == "rival"]
        assert shared == sorted(shared, reverse=True)
        for r in rest:
            assert r.answer is None and not any(g in r.sentence for g in r.golds)
            assert r.sentence != answer.sentence
    rows = list(groups[0].examples)
    ahead = torch.tensor([5.0] + [-1.0] * (len(rows) - 1))
    behind = torch.tensor([-1.0] + [5.0] * (len(rows) - 1))
    assert spans.listwise_loss(ahead, [len(rows)], rows) < spans.listwise_loss(
        behind, [len(rows)], rows
    )


def test_the_span_reader_learns_to_rank_an_answer_above_its_articles_other_sentences(
    tmp_path: Path,
) -> None:
    """--article-rivals adds to each question's group the sentences of its article's other
    paragraphs that share most of its words and hold no annotator's answer, most first; the
    validation lists rank each answer sentence against such sentences."""
    from eval.train import spans
    from qa.text import tokenize

    small, _ = _small_squad(tmp_path)
    plain, plain_valid = spans.examples(small, questions=300)
    groups, valid = spans.examples(small, questions=300, rivals=1, article_rivals=3)
    assert valid == plain_valid
    assert [r for g in groups for r in g.examples if r.kind != "rival"] == plain
    paragraph_of = {
        s: p.text
        for p in spans._reader_paragraphs(small)
        for s in (p.text[a:b] for a, b in spans.sentence_spans(p.text))
    }
    elsewhere = Counter()
    for g in groups:
        answer, *rest = g.examples
        rivals = [r for r in rest if r.kind == "rival"]
        assert len(rivals) <= 4
        home = paragraph_of[answer.sentence]
        away = [r for r in rivals if paragraph_of.get(r.sentence) != home]
        elsewhere[len(away)] += 1
        asked = set(tokenize([answer.question])[0])
        shared = [len(asked & set(tokenize([r.sentence])[0])) for r in away]
        assert shared == sorted(shared, reverse=True)
        for r in rivals:
            assert r.answer is None and not any(gold in r.sentence for gold in r.golds)
    assert elsewhere[3] > 0.5 * len(groups) and max(elsewhere) == 3
    lists = spans.article_rivals_of(valid, small, count=4)
    answered = [r for r in valid if r.kind == "answer"]
    assert 0.5 * len(answered) < len(lists) <= len(answered)
    for answer, *rest in lists:
        assert answer.kind == "answer" and 0 < len(rest) <= 4
        assert all(paragraph_of[r.sentence] != paragraph_of[answer.sentence] for r in rest)
        assert not any(gold in r.sentence for r in rest for gold in r.golds)


def test_the_passage_reader_reads_windows_of_its_paragraphs(tmp_path: Path) -> None:
    """--passages gives each question its answer in a window of consecutive sentences of its
    paragraph (at most WINDOW_CHARS, the answer at its offsets, each sentence's offsets kept)
    and a null-answer window of its article holding no annotator's answer; validation reads
    the widest window."""
    from eval.train import spans
    from qa.text import sentence_spans

    small, train = _small_squad(tmp_path)
    plain, plain_valid = spans.examples(small, questions=300)
    windows, valid = spans.examples(small, questions=300, passages=True)
    asked = {r.question for r in plain + plain_valid if r.kind == "answer"}
    mine = [r.question for r in windows + valid if r.kind == "answer"]
    assert len(set(mine) & asked) > 0.95 * len(asked)
    kinds = Counter(r.kind for r in windows)
    assert kinds["same_article"] + kinds["other"] > 0.9 * kinds["answer"]
    sizes = Counter(len(r.parts) for r in windows)
    assert sizes[1] > 0 and max(sizes) >= 3  # short windows and long ones
    for r in windows + valid:
        assert len(r.sentence) <= spans.WINDOW_CHARS
        assert r.parts[0][0] == 0 and r.parts[-1][1] == len(r.sentence)
        assert all(e <= s for (_, e), (s, _) in zip(r.parts, r.parts[1:], strict=False))
        if r.kind == "answer":
            assert r.answer is not None
            assert r.sentence[r.answer[0] : r.answer[1]] in r.golds
        else:
            assert r.answer is None and not any(g in r.sentence for g in r.golds)
    # Validation windows grow until the next sentence on either side would not fit.
    paragraphs = [p["context"] for doc in train[:30] for p in doc["paragraphs"][:8]]
    for r in valid[:40]:
        text = next(p for p in paragraphs if r.sentence in p)
        at = text.index(r.sentence)
        before = [s for s, e in sentence_spans(text) if e <= at]
        after = [e for s, e in sentence_spans(text) if s >= at + len(r.sentence)]
        if before:
            assert at + len(r.sentence) - before[-1] > spans.WINDOW_CHARS
        if after:
            assert after[0] - at > spans.WINDOW_CHARS


def test_a_previous_reader_trains_on_each_sentence_after_the_one_before_it(
    tmp_path: Path,
) -> None:
    """--passages --reads previous reads each training question's answer sentence after the
    sentence before it, and as null answers the sentence after it, another sentence of its
    paragraph and the closest sentence of another paragraph, each after the one before it, and
    the answer sentence asked of another act: a span may only come from the sentence read
    (reach), and one whose context holds the answer is still a null answer. Validation is the
    passage windows."""
    from eval.train import spans
    from qa.answer.readers import ReaderConfig, build

    small, _ = _small_squad(tmp_path)
    _, valid = spans.examples(small, questions=300, passages=True)
    read, same_valid = spans.examples(small, questions=300, passages=True, previous=True)
    assert same_valid == valid
    kinds = Counter(r.kind for r in read)
    assert kinds["answer"] > 250 and kinds["other"] + kinds["following"] > 0.9 * kinds["answer"]
    assert kinds["same_article"] > 0.5 * kinds["answer"]
    for r in read:
        assert r.reach == r.parts[-1] and len(r.parts) <= 2
        assert r.parts[0][0] == 0 and r.parts[-1][1] == len(r.sentence)
        reached = r.sentence[r.reach[0] : r.reach[1]]
        if r.kind == "answer":
            assert r.answer is not None
            assert r.reach[0] <= r.answer[0] and r.answer[1] <= r.reach[1]
            assert r.sentence[r.answer[0] : r.answer[1]] in r.golds
        elif r.kind == "act_swapped":  # the answer sentence, asked of another act
            assert r.answer is None and any(g in reached for g in r.golds)
        else:
            assert r.answer is None and not any(g in reached for g in r.golds)
    # An act-swapped question is a question asked of the same sentence with one past-tense
    # word replaced.
    asked: dict[tuple[tuple[str, ...], str], list[list[str]]] = {}
    for r in read:
        if r.kind == "answer":
            asked.setdefault((r.golds, r.sentence), []).append(r.question.split())

    def one_act_apart(before: list[str], after: list[str]) -> bool:
        changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
        return len(changed) == 1 and all(w.rstrip("?,.").endswith("ed") for w in changed[0])

    acts = [r for r in read if r.kind == "act_swapped"]
    assert len(acts) > 0.1 * kinds["answer"]
    for r in acts:
        after = r.question.split()
        assert any(
            one_act_apart(before, after)
            for before in asked[r.golds, r.sentence]
            if len(before) == len(after)
        )
    # The null answers include the sentence after each answer sentence, read after it.
    following = [r for r in read if r.kind == "following"]
    assert len(following) > 0.5 * kinds["answer"]
    for r in following:
        (a, b), _ = r.parts
        assert any(g in r.sentence[a:b] for g in r.golds)
    # A span may use only the reached sentence's word pieces.
    config = ReaderConfig.load(spans.SPAN_READER_DIR)
    tokenizer, _, _ = build(config)
    rows = [r for r in read if len(r.parts) == 2][:8]
    _, offsets, allowed, starts, _ = spans.encode(tokenizer, config, rows)
    for k, r in enumerate(rows):
        used = [offsets[k][t] for t in range(1, allowed.shape[1]) if allowed[k, t]]
        assert used and all(r.reach[0] <= a and b <= r.reach[1] for a, b in used)
        if r.answer is not None:
            assert int(starts[k]) > 0
    # --nulls keeps only the named null kinds, from the same draws.
    kept = ("other", "same_article")
    fewer, fewer_valid = spans.examples(
        small, questions=300, passages=True, previous=True, nulls=kept
    )
    assert fewer_valid == valid
    assert fewer == [r for r in read if r.kind == "answer" or r.kind in kept]
    assert {r.kind for r in fewer} == {"answer", *kept}


def test_a_further_reader_run_reads_only_questions_the_earlier_runs_did_not(
    tmp_path: Path,
) -> None:
    """--unseen-by leaves out the questions earlier runs of those --questions trained on, so a warm
    start from their reader learns from new questions; its validation questions are still
    drawn from the same held-out paragraphs."""
    from eval.train import spans

    small, train = _small_squad(tmp_path)
    # SQuAD asks a few questions twice of one paragraph, under two ids: those are left out.
    times_asked = Counter(
        q["question"].strip() for d in train for p in d["paragraphs"][:8] for q in p["qas"]
    )

    def asked(rows: list[spans.Example]) -> set[str]:
        return {r.question for r in rows if r.kind == "answer" and times_asked[r.question] == 1}

    first, first_valid = spans.examples(small, questions=150)
    second, second_valid = spans.examples(small, questions=150, unseen_by=[150])
    again, _ = spans.examples(small, questions=150)
    assert asked(again) == asked(first)  # the same run samples the same questions
    assert len(asked(second)) > 100
    assert not asked(second) & asked(first)
    both, both_valid = spans.examples(small, questions=10_000, unseen_by=[150, 300])
    earlier = asked(first) | asked(spans.examples(small, questions=300)[0])
    assert asked(both) and not asked(both) & earlier
    held = asked(spans.examples(small, questions=10_000)[1])
    assert asked(first_valid) | asked(second_valid) | asked(both_valid) <= held
