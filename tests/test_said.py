"""Who-said-what questions read for their parts, and the checks their answers pass."""

from __future__ import annotations

import pytest

from qa.quotes import Quote
from qa.said import about_them, covers, quoted_by, quoting, read_question, says_who


@pytest.mark.parametrize(
    ("question", "kind", "part"),
    [
        ('Who said "we\'re innocent"?', "quoted", "we're innocent"),
        ("who insisted he had nothing to hide", "who", "he had nothing to hide"),
        ("Who denied that the city threatened to demolish the house?", "who", "that the city"),
        ("What did Sir John Bourn say the problems showed?", "what", "John Bourn"),
        ("what did the Pentagon confirm", "what", "Pentagon"),
        ("What did Tzekos say about the IAAF's decision?", "what", "Tzekos"),
        ("Who is the head of the National Audit Office?", None, None),
        ("What did the report find?", None, None),  # "find" is no verb of saying
        ("What do the articles say about the safe zone?", None, None),  # a survey
        ("How did different sources report the strike?", None, None),
    ],
)
def test_questions_about_who_said_what_are_read(
    question: str, kind: str | None, part: str | None
) -> None:
    said = read_question(question)
    if kind is None:
        assert said is None
        return
    assert said is not None and said.kind == kind
    assert part in {"quoted": said.words, "who": said.rest, "what": said.speaker}[kind]


def test_a_speakers_own_quotes_are_asked_without_the_speaker() -> None:
    said = read_question("What did Alain Levy say about digital music?")
    assert said is not None and said.about == "digital music"
    assert about_them(said) == "What did they say about digital music?"
    pentagon = read_question("What did the Pentagon confirm?")
    assert pentagon is not None and about_them(pentagon) == "What did they confirm?"
    confirmed = read_question("What has the Pentagon confirmed?")
    assert confirmed is not None and about_them(confirmed) == "What did they confirm?"
    # a clause, not a topic: the answer need not hold its words ("took" for "taken")
    clause = read_question("What does the State Department say the coalition took?")
    assert clause is not None and clause.about == "" and clause.rest == "the coalition took"
    assert about_them(clause) == "What did they say the coalition took?"


def test_a_topic_is_covered_only_by_all_its_terms() -> None:
    assert covers(" bribery", ['"Companies cannot bribe their way in," said Wray.'])
    assert not covers("the price of RipGuard", ['"RipGuard DVD is evolving," he said.'])
    assert covers("", ["anything"])


def _quote(sentence: str, speaker: str, said: str, verb: str = "said") -> Quote:
    return Quote(0, len(sentence), sentence, speaker, said, verb, True)


def test_a_sentence_is_someones_when_the_patterns_or_its_words_say_so() -> None:
    levy = _quote('Mr Levy said that "creating music is not an exact science".', "Alain Levy", "x")
    assert quoted_by(levy, levy.sentence, "Levy")
    assert not quoted_by(levy, levy.sentence, "Coldplay")  # named in it, but Levy said it
    plain = "Vincent Cable, for the Liberal Democrats, called it a fiasco, writing in The Times."
    assert quoted_by(None, plain + ' "A fiasco."', "Vincent Cable")
    assert not quoted_by(None, "Wenger has been asked to explain his comments.", "Merkel")


def test_a_denial_needs_a_denying_verb_or_a_negation() -> None:
    asked = read_question("Who denied awareness of the airstrikes?")
    assert asked is not None
    assert says_who(asked, _quote("...", "Mark Toner", 'he was "not aware" of it', "stated"))
    assert says_who(asked, _quote("...", "Tomas Reyes", "the work had been approved", "denied"))
    assert not says_who(asked, _quote("...", "Petra Lund", "the vote was the largest"))
    confirmed = read_question("Who confirmed the strike?")
    assert confirmed is not None
    assert says_who(confirmed, _quote("...", "Petra Lund", "the vote was the largest"))


def test_the_quote_that_quotes_the_words_exactly_ranks_first() -> None:
    toner = _quote("Mark Toner stated that he was “not aware” of the strikes.", "Mark Toner", "x")
    claim = _quote('"We gave them evidence they were not aware of."', "Katerina Thanou", "")
    claim = Quote(0, 1, claim.sentence, claim.speaker, claim.sentence.strip('"'), "said", True)
    reported = Quote(
        0, 1, "He said he was not aware of it.", "Tomas Reyes", "he was not aware", "said", False
    )
    assert quoting("not aware", toner) == 3
    assert quoting("not aware", claim) == 2
    assert quoting("not aware", reported) == 0
