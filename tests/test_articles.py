from __future__ import annotations

from pathlib import Path

import pytest

from qa.errors import ArticleError
from qa.ingest.articles import article_from_record, decode, parse_date, read_path, slugify
from qa.types import Article, Failure

from .conftest import FIXTURES, SEEDS

MB = 1_000_000


def read(path: Path, root: Path | None = None, max_bytes: int = 5 * MB) -> list[Article | Failure]:
    return list(read_path(path, root or path.parent, max_bytes))


def test_txt_title_source_and_credit_lines() -> None:
    [article] = read(SEEDS / "us-says-civilian-deaths-unintended.txt")
    assert isinstance(article, Article)
    assert article.id == "us-says-civilian-deaths-unintended"
    assert article.title == "US says civilian deaths unintended"
    assert article.source == "TRTWorld and agencies"
    assert "Photo by: Reuters" in article.text  # credit lines stay
    assert not article.text.endswith("agencies")
    assert article.text.startswith("US-led coalition claims")


def test_markdown_front_matter() -> None:
    [article] = read(FIXTURES / "chess-final.md")
    assert isinstance(article, Article)
    assert article.title == "Teenager wins the Valmora chess open"
    assert article.source == "Valmora Herald"
    assert article.url == "https://example.org/valmora-chess"
    assert article.date == 1709942400  # 2024-03-09T00:00Z
    assert article.text.startswith("Sixteen-year-old Priya Nandakumar")


def test_html_main_content_only() -> None:
    [article] = read(FIXTURES / "city-budget.html")
    assert isinstance(article, Article)
    assert article.title == "Brenford council approves budget with new tram line"
    assert "310 million pounds" in article.text
    assert "Subscribe to our newsletter" not in article.text  # boilerplate dropped
    assert "Weather" not in article.text


def test_jsonl_feed_uses_its_ids_and_reports_bad_lines(tmp_path: Path) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_text(
        (FIXTURES / "feed.jsonl").read_text()
        + "not json\n"
        + '{"title": "No text"}\n'
        + '{"id": "../../etc/passwd", "title": "Sneaky", "text": "Body."}\n'
    )
    items = read(feed)
    articles = [i for i in items if isinstance(i, Article)]
    failures = [i for i in items if isinstance(i, Failure)]
    assert [a.id for a in articles] == ["volcano-alert-raised", "orchard-harvest", "etc-passwd"]
    assert articles[0].date == 1652659200 and articles[0].source == "Island Radio"
    assert [f.where.rsplit(":", 1)[1] for f in failures] == ["3", "4"]
    assert "not valid JSON" in failures[0].reason
    assert '"text" must be a string' in failures[1].reason


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"   \n\n", "empty file"),
        (b"Only a title\n\n", "empty article"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (bytes(range(1, 32)) * 50, "binary"),
    ],
)
def test_bad_files_fail_with_a_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    [failure] = read(path)
    assert isinstance(failure, Failure)
    assert reason in failure.reason
    assert failure.where == str(path)


def test_oversized_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    path.write_text("Title\n\n" + "word " * 300_000)
    [failure] = read(path, max_bytes=1 * MB)
    assert isinstance(failure, Failure) and "too large" in failure.reason


def test_latin1_is_decoded_not_refused(tmp_path: Path) -> None:
    path = tmp_path / "cafe.txt"
    path.write_bytes(
        "Café owners protest\n\nThe café owners of Montréal marched on Tuesday about "
        "rents and the price of crème brûlée in the city centre.".encode("latin-1")
    )
    [article] = read(path)
    assert isinstance(article, Article)
    assert "Montréal" in article.text and article.title == "Café owners protest"


def test_unsupported_type(tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(b"%PDF-1.4")
    [failure] = read(path)
    assert isinstance(failure, Failure) and "unsupported type .pdf" in failure.reason


def test_ids_are_slugs_of_the_path_below_the_root(tmp_path: Path) -> None:
    (tmp_path / "sport").mkdir()
    (tmp_path / "sport" / "001.txt").write_text("A\n\nBody one.")
    [article] = read(tmp_path / "sport" / "001.txt", root=tmp_path)
    assert isinstance(article, Article) and article.id == "sport-001"
    assert slugify("Ünïcode & Spaces!.txt") == "unicode-spaces-txt"


def test_record_validation_and_dates() -> None:
    with pytest.raises(ArticleError, match='"title"'):
        article_from_record({"text": "x"})
    with pytest.raises(ArticleError, match='unreadable "date"'):
        article_from_record({"title": "t", "text": "x", "date": "not a date"})
    assert parse_date("2015-08-12T10:00:00+02:00") == 1439366400
    assert parse_date(1439366400) == 1439366400
    assert parse_date(None) is None
    assert decode(b"\xef\xbb\xbfTitle\r\nBody") == "Title\nBody"
