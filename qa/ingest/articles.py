"""Turns files and feeds into Articles: .txt, .md (front matter), .html, .jsonl."""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePath
from typing import Any

from qa.errors import ArticleError
from qa.types import EARLIEST, LATEST, MAX_ID_CHARS, Article, Failure, date_in_range

SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".jsonl")
MAX_TITLE_CHARS = 300
_SENTENCE_END = tuple('.!?:;"”’)')
# C0 and C1 control characters other than tab, line feed and form feed: terminal escapes and
# bells that scraped text carries by accident. NUL is refused instead (it marks binary data).
_CONTROLS = re.compile("[\x01-\x08\x0b\x0d-\x1f\x7f-\x9f]")


def slugify(value: str, max_len: int = MAX_ID_CHARS) -> str:
    """A stable, URL- and id-safe form of a name: lowercase ascii words joined by dashes."""
    ascii_text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:max_len].rstrip("-")


def iter_files(paths: Iterable[Path]) -> Iterator[tuple[Path, Path]]:
    """Yields (file, root) for every supported file under the paths, in a stable order."""
    for path in paths:
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                if file.suffix.lower() in SUFFIXES and not file.name.startswith("."):
                    yield file, path
        else:
            yield path, path.parent


def article_id_for(file: Path, root: Path) -> str:
    """The slug of the file's path below the ingested folder, without its extension."""
    try:
        relative = file.relative_to(root)
    except ValueError:
        relative = Path(file.name)
    return slugify(str(relative.with_suffix("")).replace("/", "-"))


def file_type(name: str) -> str:
    """The lower-case suffix of a supported article file name; ArticleError for any other."""
    suffix = PurePath(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise ArticleError(f"unsupported type {suffix or '(none)'}; use {', '.join(SUFFIXES)}")
    return suffix


def read_path(file: Path, root: Path, max_bytes: int) -> Iterator[Article | Failure]:
    """Parses one file into Articles, or Failures that say what is wrong with it."""
    where = str(file)
    try:
        if not file.exists():
            raise ArticleError("no such file")
        suffix = file_type(file.name)
        size = file.stat().st_size
        if size > max_bytes:
            raise ArticleError(
                f"too large ({size / 1e6:.1f} MB > {max_bytes / 1e6:.1f} MB); "
                "split it or raise QA_MAX_ARTICLE_MB"
            )
        text = decode(file.read_bytes())
    except (ArticleError, OSError) as exc:
        yield Failure(where, str(exc))
        return
    absolute = str(file.resolve())  # what --prune compares against
    if suffix == ".jsonl":
        for item in parse_feed(text, absolute):
            yield (
                Failure(f"{where}:{item.where.rsplit(':', 1)[1]}", item.reason)
                if isinstance(item, Failure)
                else item
            )
        return
    try:
        yield parse_document(text, suffix, article_id_for(file, root), absolute)
    except ArticleError as exc:
        yield Failure(where, str(exc))


def parse_document(text: str, suffix: str, article_id: str, path: str | None = None) -> Article:
    """Parses the decoded text of one .txt, .md or .html article."""
    if not article_id:
        raise ArticleError("the file name gives no usable id; rename it")
    if suffix in (".html", ".htm"):
        return _parse_html(text, article_id, path)
    if suffix in (".md", ".markdown"):
        return _parse_markdown(text, article_id, path)
    return _parse_txt(text, article_id, path)


def parse_feed(text: str, where: str) -> Iterator[Article | Failure]:
    """One article a JSON line: {"id"?, "title", "text", "date"?, "source"?, "url"?}."""
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        line_where = f"{where}:{lineno}"
        try:
            yield article_from_record(json.loads(line), path=line_where)
        except json.JSONDecodeError as exc:
            yield Failure(line_where, f"not valid JSON ({exc.msg})")
        except ArticleError as exc:
            yield Failure(line_where, str(exc))


def article_from_record(record: Any, path: str | None = None) -> Article:
    """Validates a JSON article (a feed line or an API upload)."""
    if not isinstance(record, dict):
        raise ArticleError("an article must be a JSON object")
    title, body = record.get("title"), record.get("text")
    if not isinstance(title, str) or not title.strip():
        raise ArticleError('"title" must be a non-empty string')
    if not isinstance(body, str):
        raise ArticleError('"text" must be a string')
    raw_id = record.get("id")
    if raw_id is not None and not isinstance(raw_id, str | int):
        raise ArticleError('"id" must be a string or a number')
    article_id = slugify(str(raw_id)) if raw_id is not None else slugify(title)
    if not article_id:
        raise ArticleError('"id" (or the title) gives no usable id; use letters or digits')
    for key in ("source", "url"):
        if record.get(key) is not None and not isinstance(record[key], str):
            raise ArticleError(f'"{key}" must be a string')
    return _article(
        article_id,
        title,
        body,
        source=record.get("source"),
        date=parse_date(record.get("date")),
        url=record.get("url"),
        path=path,
    )


def decode(data: bytes) -> str:
    """Bytes to text: UTF-8 when it is, else the detected encoding; binary is refused."""
    if not data.strip():
        raise ArticleError("empty file")
    if b"\x00" in data[:8192]:
        raise ArticleError("binary file (contains NUL bytes), not an article")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is None:
            raise ArticleError("undecodable: neither UTF-8 nor a recognisable encoding") from None
        text = str(best)
    controls = sum(1 for ch in text[:20000] if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > max(3, len(text[:20000]) // 100):
        raise ArticleError("binary file (control characters), not an article")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_date(value: Any) -> int | None:
    """A date from front matter, a feed or a page, as Unix seconds (UTC); None if absent.

    Numbers are Unix seconds; dates outside the years 1-9999 are refused, so no stored date
    can overflow the int64 that Chroma and the lexical index keep it in.
    """
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise ArticleError(f'unreadable "date" {value!r}')
    seconds = value if isinstance(value, int | float) else _seconds(_moment(value))
    if isinstance(seconds, float):
        if seconds != seconds or seconds in (float("inf"), float("-inf")):
            raise ArticleError(f'"date" must be a finite number of Unix seconds, got {value!r}')
        seconds = int(seconds)
    if not date_in_range(seconds):
        raise ArticleError(
            f'"date" {value!r} is out of range: use Unix seconds between {EARLIEST} and '
            f"{LATEST} (years 1 to 9999) or an ISO 8601 date such as 2015-08-12"
        )
    return seconds


def _moment(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        from dateutil import parser

        try:
            return parser.parse(value)
        except (ValueError, OverflowError):
            raise ArticleError(
                f'unreadable "date" {value!r}; use ISO 8601 such as 2015-08-12'
            ) from None
    raise ArticleError(f'unreadable "date" {value!r}')


def _seconds(moment: dt.datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    try:
        return int(moment.timestamp())
    except (OverflowError, ValueError, OSError):
        raise ArticleError(f'"date" {moment.isoformat()} is out of range') from None


def _article(article_id: str, title: str, body: str, **meta: Any) -> Article:
    fields = {"title": title, "text": body, **meta}
    for name, value in fields.items():
        if isinstance(value, str) and "\x00" in value:
            raise ArticleError(f'"{name}" contains NUL characters; is this a binary file?')
    body = _CONTROLS.sub("", body.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if not body:
        raise ArticleError("empty article: no text after the title")
    title = " ".join(_CONTROLS.sub("", title).split())[:MAX_TITLE_CHARS]
    if not title:
        raise ArticleError('"title" must hold words, not only spaces or control characters')
    clean: dict[str, Any] = {
        k: (_CONTROLS.sub("", v).strip() or None) if isinstance(v, str) else v
        for k, v in meta.items()
    }
    return Article(id=article_id, title=title, text=body, **clean)


def _split_title(text: str) -> tuple[str, str]:
    stripped = text.lstrip()
    title, _, rest = stripped.partition("\n")
    return title.strip(), rest


def _parse_txt(text: str, article_id: str, path: str | None) -> Article:
    title, body = _split_title(text)
    body, source = _split_source(body)
    return _article(article_id, title, body, source=source, path=path)


def _split_source(body: str) -> tuple[str, str | None]:
    """Takes a short closing credit such as "TRTWorld and agencies" off the end as the source."""
    stripped = body.rstrip()
    head, _, last = stripped.rpartition("\n")
    last = last.strip()
    looks_like_credit = (
        head.strip()
        and 0 < len(last) <= 60
        and len(last.split()) <= 8
        and not last.endswith(_SENTENCE_END)
        and ":" not in last
    )
    if looks_like_credit:
        return head, last
    return body, None


def _parse_markdown(text: str, article_id: str, path: str | None) -> Article:
    import frontmatter
    import yaml

    try:
        post = frontmatter.loads(text)
    except yaml.YAMLError as exc:
        raise ArticleError(f"malformed YAML front matter: {exc}") from None
    meta, body = post.metadata, post.content
    title = meta.get("title")
    if not isinstance(title, str) or not title.strip():
        first, rest = _split_title(body)
        title, body = first.lstrip("#").strip(), rest
    return _article(
        article_id,
        str(title),
        body,
        source=_opt_str(meta.get("source")),
        date=parse_date(meta.get("date")),
        url=_opt_str(meta.get("url")),
        path=path,
    )


def _parse_html(text: str, article_id: str, path: str | None) -> Article:
    import trafilatura

    doc = trafilatura.bare_extraction(text, with_metadata=True, include_comments=False)
    if doc is None:
        raise ArticleError("no article text found in the HTML page")
    fields = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    body = fields.get("text") or ""
    title = fields.get("title") or article_id
    try:
        date = parse_date(fields.get("date"))
    except ArticleError:
        date = None
    return _article(
        article_id,
        title,
        body,
        source=_opt_str(fields.get("sitename")),
        date=date,
        url=_opt_str(fields.get("url")),
        path=path,
    )


def _opt_str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None
