"""The chat page in Debian's chromium (Playwright), against a real `qa serve`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from qa.service import Service
from qa.settings import Settings

from .conftest import FIXTURES, SEEDS, chromium_path
from .servers import qa_server

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, embedder) -> Iterator[str]:  # type: ignore[no-untyped-def]
    data = tmp_path_factory.mktemp("browser") / "data"
    with Service(Settings(data_dir=data, _env_file=None), embedder=embedder) as service:  # type: ignore[call-arg]
        service.ingest([SEEDS, FIXTURES])
    with qa_server({"QA_DATA_DIR": str(data)}) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, server: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.foreign = []  # requests that left the page's own origin
    page.on(
        "request",
        lambda r: None if r.url.startswith((server, "data:")) else page.foreign.append(r.url),
    )
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.accept()))
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(server)
    yield page
    assert page.foreign == [], f"the page reached outside its origin: {page.foreign}"
    assert page.errors == [], f"script errors: {page.errors}"
    context.close()


def _ask(page, question: str):  # type: ignore[no-untyped-def]
    before = page.locator(".answer").count()
    page.fill("#question", question)
    page.press("#question", "Enter")
    answer = page.locator(".answer").nth(before)
    answer.locator("footer").wait_for(timeout=30_000)  # footer appears once the answer is whole
    return answer


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_seed_question_cited_passage_and_follow_up(page) -> None:  # type: ignore[no-untyped-def]
    answer = _ask(page, "Who denied awareness of the airstrikes?")
    assert "Mark Toner" in answer.inner_text()
    answer.locator('[data-citation="1"]').first.click()
    mark = page.locator("#source-text mark")
    mark.wait_for()
    assert "not aware" in mark.inner_text()
    assert page.locator("#source-title").inner_text() == "US says civilian deaths unintended"
    assert "TRTWorld and agencies" in page.locator("#source-meta").inner_text()
    page.wait_for_function(  # scrolled into view (smoothly, so give it a moment)
        "() => { const m = document.querySelector('#source-text mark'); "
        "const r = m.getBoundingClientRect(), p = m.parentElement.getBoundingClientRect(); "
        "return r.top >= p.top && r.bottom <= p.bottom && r.bottom <= innerHeight; }",
        timeout=5000,
    )
    follow = _ask(page, "What did he say about pinpoint accuracy?")
    assert "spare civilian lives" in follow.inner_text()
    assert "Understood as: What did Mark Toner say about pinpoint accuracy?" in follow.inner_text()
    _shot(page, "chat-desktop")

    unanswerable = _ask(page, "Who won the 2015 Champions League final?")
    assert "abstained" in (unanswerable.get_attribute("class") or "")
    assert "Not in the articles." in unanswerable.inner_text()

    page.reload()  # the conversation survives a reload
    assert page.locator(".answer").count() == 3
    page.click("#new-chat")
    assert page.locator(".answer").count() == 0


def test_shift_enter_adds_a_line_instead_of_sending(page) -> None:  # type: ignore[no-untyped-def]
    page.fill("#question", "first line")
    page.press("#question", "Shift+Enter")
    page.type("#question", "second line")
    assert page.input_value("#question") == "first line\nsecond line"
    assert page.locator(".user-msg").count() == 0


def test_upload_then_ask_then_delete(page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    story = tmp_path / "beekeepers.txt"
    story.write_text(
        "Beekeepers count losses\n\nBeekeepers in the Arlen valley lost 37 percent of "
        "their hives over the winter, the regional apiary society said on Monday.\n"
    )
    page.click("#toggle-articles")
    page.set_input_files("#file-input", str(story))
    page.locator(".uploads .ok").wait_for(timeout=60_000)
    assert "indexed 1 article" in page.locator(".uploads li").first.inner_text()
    assert page.locator(".article-list .title", has_text="Beekeepers count losses").count() == 1
    _shot(page, "articles-panel")
    answer = _ask(page, "What share of hives did beekeepers in the Arlen valley lose?")
    assert "37 percent" in answer.inner_text()
    page.fill("#article-filter", "beekeepers")
    page.locator(".article-list button", has_text="Delete").first.click()
    page.locator(".article-list .title", has_text="Beekeepers").wait_for(state="detached")
    assert page.dialogs and "Delete" in page.dialogs[-1]


def test_a_long_feed_is_followed_as_a_job(page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    feed = tmp_path / "wire.jsonl"
    feed.write_text(
        "".join(
            json.dumps({"id": f"wire-{i}", "title": f"Wire item {i}", "text": f"Ferry {i} sailed."})
            + "\n"
            for i in range(60)  # over QA_UPLOAD_JOB_ARTICLES (50): answered with 202 and a job
        )
    )
    page.click("#toggle-articles")
    page.set_input_files("#file-input", str(feed))
    page.locator(".uploads .ok").wait_for(timeout=120_000)
    assert "indexed 60 article(s)" in page.locator(".uploads li").first.inner_text()
    page.fill("#article-filter", "wire item")
    assert page.locator(".article-list .title", has_text="Wire item").count() == 60


def test_script_and_html_in_articles_stay_inert(page, server: str) -> None:  # type: ignore[no-untyped-def]
    payload = {
        "id": "hostile",
        "title": '<img src=x onerror="window.__pwned=1">Hostile <b>title</b>',
        "text": "The harbour authority of Quenby fined <script>window.__pwned=2</script> the "
        'operator <img src=x onerror="window.__pwned=3"> 9,500 euros for the oil spill.',
        "url": "javascript:window.__pwned=4",
    }
    assert httpx.post(f"{server}/v1/articles", json=payload, timeout=60).status_code == 201
    answer = _ask(page, "How much was the operator fined by the Quenby harbour authority?")
    assert "<script>" in answer.inner_text()  # shown as text
    answer.locator('[data-citation="1"]').first.click()
    page.locator("#source-text mark").wait_for()
    assert page.locator("#source-title").inner_text().startswith("<img src=x")
    assert page.locator("#source img, .answer img, #source script, .answer script").count() == 0
    assert page.locator("#source-meta a").count() == 0  # a javascript: url is not linked
    assert page.evaluate("window.__pwned") is None
    httpx.delete(f"{server}/v1/articles/hostile", timeout=60)


def test_csp_blocks_inline_script(page, server: str) -> None:  # type: ignore[no-untyped-def]
    csp = httpx.get(server).headers["content-security-policy"]
    assert "script-src 'self'" in csp
    violated = page.evaluate("""() => new Promise(resolve => {
        document.addEventListener('securitypolicyviolation', () => resolve(true), {once: true});
        const s = document.createElement('script'); s.textContent = 'window.__inline = 1';
        document.body.append(s); setTimeout(() => resolve(false), 500); })""")
    assert violated and page.evaluate("window.__inline") is None


def test_phone_width_and_dark_mode(browser, server: str) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, color_scheme="dark", is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.goto(server)
    answer = _ask(page, "Which air base did the F-16 jets fly from?")
    answer.locator('[data-citation="1"]').first.click()
    page.locator("#source-text mark").wait_for()
    below = page.evaluate(  # one snapshot: the page may still be scrolling to the passage
        "() => document.querySelector('.chat').getBoundingClientRect().bottom <= "
        "document.querySelector('#source').getBoundingClientRect().top + 1"
    )
    assert below  # the article sits below the chat on a phone
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing overflows sideways
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(17, 20, 24)"  # the dark palette
    _shot(page, "chat-phone-dark")
    context.close()


def test_keyboard_only_use(page) -> None:  # type: ignore[no-untyped-def]
    page.keyboard.type("Which province is Incirlik Air Base in?")
    page.keyboard.press("Enter")
    page.locator(".answer footer").wait_for(timeout=30_000)
    chip = page.locator('.answer [data-citation="1"]').first
    chip.focus()
    page.keyboard.press("Enter")
    page.locator("#source-text mark").wait_for()
    labels = page.evaluate("""() => [...document.querySelectorAll('button, textarea, input')]
        .filter(e => e.type !== 'file' && e.offsetParent !== null)
        .filter(e => !(e.getAttribute('aria-label') || e.labels?.length || e.textContent.trim()))
        .map(e => e.outerHTML)""")
    assert labels == []  # every visible control has a name
    assert json.dumps(page.dialogs) == "[]"


def test_citations_show_their_date_and_the_day_a_weekday_means(page) -> None:  # type: ignore[no-untyped-def]
    answer = _ask(page, "When did Priya Nandakumar win the Valmora chess open?")
    source = answer.locator(".sources li").first
    assert source.locator("time.date").get_attribute("datetime") == "2024-03-09"
    day = source.locator("abbr.day").first
    assert day.inner_text() == "Saturday" and day.get_attribute("title") == "9 March 2024"
    # The words around the day word keep their spaces.
    assert "on Saturday, beating" in source.locator(".quote").inner_text()
