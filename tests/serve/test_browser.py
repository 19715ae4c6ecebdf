"""End to end in a real browser: Debian's headless Chromium (driven by Playwright's Python package, never a
downloaded browser) loads the page from a live uvicorn server, uploads an image for a prediction, then
searches the index and sees its images."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time

import pytest

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("POLYMODAL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Without the networking flags Chromium keeps trying to reach Google services on a closed network.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


KEY = "browser-test-key-0123456789"


def live(app):
    """uvicorn serving `app` on a free loopback port in a thread; yields its base URL."""
    import uvicorn

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def server(predictor_run, index_folder):
    from polymodal.serve import create_app

    yield from live(create_app([predictor_run, index_folder]))


@pytest.fixture(scope="module")
def keyed_server(index_folder):
    from polymodal.serve import create_app

    yield from live(create_app([index_folder], api_keys=(KEY,)))


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


def test_page_predicts_an_uploaded_image_and_shows_search_hits(server, browser, table, tmp_path):
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server + "/")
    page.wait_for_selector("body[data-ready='1']", timeout=15000)
    assert page.locator("#run option").all_inner_texts() == ["colors (predictor)", "photos (index)"]

    page.set_input_files("#f-photo", str(table.parent / "img" / "0.png"))  # a red image
    page.fill("#f-caption", "a red square")
    page.click("#submit")
    page.wait_for_selector(".prediction .bar-row", timeout=20000)
    heading = page.inner_text(".prediction h3")
    assert heading.startswith("color: ")
    rows = page.locator(".prediction .bar-row").all_inner_texts()
    assert len(rows) == 3 and all("%" in r for r in rows)
    assert page.is_hidden("#error")

    page.select_option("#run", "photos")
    page.fill("#f-text", "a green square")
    page.click("#submit")
    page.wait_for_selector(".hit img", timeout=20000)
    page.wait_for_function("[...document.querySelectorAll('.hit img')].every(i => i.complete && i.naturalWidth > 0)",
                           timeout=10000)
    assert page.locator(".hit").count() == 12

    page.fill("#f-text", "")  # no query: the page shows the server's message
    page.click("#submit")
    page.wait_for_selector("#error:not([hidden])", timeout=10000)
    assert "give exactly one query" in page.inner_text("#error")
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    assert not errors, errors


def test_page_asks_for_the_key_once_and_loads_hits_with_it(keyed_server, browser):
    page = browser.new_page()
    errors: list[str] = []
    asked: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def answer(dialog):
        asked.append(dialog.message)
        dialog.accept("wrong-key-0123456789" if len(asked) == 1 else KEY)

    page.on("dialog", answer)
    page.goto(keyed_server + "/")
    page.wait_for_selector("#error:not([hidden])", timeout=15000)  # the first answer was a wrong key: 403 shown
    assert asked == ["This server needs an API key:"] and "not valid" in page.inner_text("#error")
    page.reload()  # the next request asks again, and this time gets the right key
    page.wait_for_selector("body[data-ready='1']", timeout=15000)
    assert asked[1] == "That API key was refused. API key:"
    page.fill("#f-text", "a green square")
    page.click("#submit")
    page.wait_for_selector(".hit img", timeout=20000)
    # <img> elements cannot send headers: the session cookie the page set carries the key to /media
    page.wait_for_function("[...document.querySelectorAll('.hit img')].every(i => i.complete && i.naturalWidth > 0)",
                           timeout=10000)
    assert len(asked) == 2 and not errors, (asked, errors)
