"""The chat UI in Debian's Chromium, driven by Playwright, against the real app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rag.config import PROJECT_ROOT

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OUTPUT = PROJECT_ROOT / "test-output"  # git-ignored; screenshots land here
READY_TIMEOUT_MS = 180_000
ANSWER_TIMEOUT_MS = 90_000
COVID = "全年开展了多少轮全员核酸检测？"
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (run `make browser`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, ui_server: str) -> Iterator[Any]:
    """A fresh page on the app, once the status line says the index is loaded."""
    context = browser.new_context(viewport={"width": 1280, "height": 1500})
    page = context.new_page()
    page.dialogs = []  # every alert/confirm/prompt that fires, for the XSS test
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.goto(ui_server)
    page.locator("#status").get_by_text("Ready:").wait_for(timeout=READY_TIMEOUT_MS)
    yield page
    context.close()


def ask(page: Any, question: str) -> Any:
    """Type and send ``question``; return the new bot message once it is complete."""
    bots = page.locator('#chatbot [data-testid="bot"]')
    before = bots.count()
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    bot = bots.nth(before)
    # The last update of a turn adds the citations (or, with none, the final text).
    bot.locator(".rag-answer-text").wait_for(timeout=ANSWER_TIMEOUT_MS)
    page.wait_for_function(
        """(n) => {
            const m = document.querySelectorAll('#chatbot [data-testid="bot"]')[n];
            const t = m && m.querySelector('.rag-answer-text');
            return t && t.innerText.trim() !== '…';
        }""",
        arg=before,
        timeout=ANSWER_TIMEOUT_MS,
    )
    page.wait_for_timeout(500)  # let the streamed clauses finish and the sources render
    return bot


def test_answer_shows_the_cited_passage(page: Any) -> None:
    from playwright.sync_api import expect

    bot = ask(page, COVID)
    expect(bot.locator(".rag-cite mark").first).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    assert "73" in bot.locator(".rag-answer-text").inner_text()
    mark = bot.locator(".rag-cite mark").first
    assert "全年开展73轮全员核酸检测" in mark.inner_text()
    meta = bot.locator(".rag-cite-meta").first.inner_text()
    assert ".txt" in meta and "line" in meta
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "ui_answer.png"), full_page=True)


def test_html_in_a_question_is_shown_as_text(page: Any) -> None:
    from playwright.sync_api import expect

    ask(page, XSS)
    user = page.locator('#chatbot [data-testid="user"]').last
    expect(user).to_have_text(XSS)
    expect(page.locator("#chatbot").get_by_text(XSS, exact=True)).to_be_visible()
    page.wait_for_timeout(1000)  # give a broken image's onerror every chance to fire
    assert page.locator('img[src="x"]').count() == 0
    assert page.locator("#chatbot img[onerror]").count() == 0
    assert page.dialogs == []
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "ui_xss.png"), full_page=True)


def test_follow_up_example_and_clear(page: Any) -> None:
    from playwright.sync_api import expect

    ask(page, COVID)
    follow_up = ask(page, "那疫苗接种呢？")
    text = follow_up.locator(".rag-answer-text").inner_text()
    assert "11万" in text or "93.9%" in text

    page.locator("#clear").click()
    expect(page.locator('#chatbot [data-testid="bot"]')).to_have_count(0)

    page.get_by_text("How many rounds of COVID testing were carried out?").click()
    expect(page.locator("#question textarea")).to_have_value(
        "How many rounds of COVID testing were carried out?"
    )
    english = ask(page, page.locator("#question textarea").input_value())
    shown = english.locator(".rag-answer-text").inner_text()
    # It opens in English, with the figures of the quote converted; the quote follows.
    assert shown.startswith("73 rounds") and "7.14 million person-times" in shown, shown
    assert "全年开展73轮全员核酸检测" in shown
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "ui_english.png"), full_page=True)


def test_a_hostile_upload_name_is_shown_as_text(page: Any) -> None:
    """A Markdown link, emphasis and an autolink in a file name stay text in the message.

    The file is a damaged Word file, so it is refused (by the parse worker, inside the
    server) and never reaches the documents folder.
    """
    from playwright.sync_api import expect

    name = "[clickme](javascript:alert(7)) _em_ **bold** www.example.com.docx"
    page.locator("#documents").get_by_text("Documents · 文档管理").click()  # the panel opens
    page.locator("#upload input[type=file]").set_input_files(
        files=[{"name": name, "mimeType": "application/octet-stream", "buffer": b"not a zip"}]
    )
    message = page.locator("#upload-message")
    expect(message).to_contain_text("cannot be indexed", timeout=ANSWER_TIMEOUT_MS)
    # Gradio drops some characters of an upload's name (':' and '*'); the rest is shown as typed.
    for piece in ("[clickme](javascript", "alert(7))", " _em_ ", "www.example.com.docx"):
        expect(message).to_contain_text(piece)
    assert message.locator("a, em, strong, code").count() == 0
    assert page.dialogs == []
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "ui_upload_name.png"), full_page=True)
