"""`lllm ui` in a real browser: Debian's Chromium driven by Playwright, against the real server subprocess.

Set LLLM_UI_SCREENSHOTS=docs/img to (re)write the screenshots the docs show."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from ui_support import UIServer, record_batch, wait_for

SHOTS = os.environ.get("LLLM_UI_SCREENSHOTS")


def _shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / name), full_page=False)


def _open_session(page, server: UIServer, text: str) -> None:
    page.goto(server.url + "#/?q=" + text)
    # the filtered list, not rows of an earlier page still on screen: every row shown names the text
    needle = text.lower()
    wait_for(
        lambda: page.evaluate(
            "n => { const rows = [...document.querySelectorAll('tr[data-session]')];"
            " return rows.length > 0 && rows.every(r => r.innerText.toLowerCase().includes(n)); }",
            needle,
        )
    )
    page.click("tr[data-session] a")
    page.wait_for_selector("#dialogs")


def test_list_filters_and_shows_tasks_as_text(page, server):
    page.goto(server.url)
    page.wait_for_selector("tr[data-session]")
    assert page.locator("tr[data-session]").count() >= 4
    _shot(page, "ui-list.png")
    page.fill("input[name=q]", "kyoto")
    page.click("#apply")
    wait_for(lambda: page.locator("tr[data-session]").count() == 1 and "Kyoto" in page.inner_text("#rows"))
    page.click("text=Clear")
    page.select_option("select[name=state]", "failure")
    page.click("#apply")
    wait_for(lambda: page.locator("tr[data-session]").count() == 1)
    assert page.locator("#rows [data-state=failure]").count() == 1
    page.goto(server.url + "#/?q=pwned")
    page.wait_for_selector("tr[data-session]")
    assert "<b>bold</b>" in page.inner_text("#rows") and page.evaluate("window.pwned") is None


def test_session_view_renders_messages_safely_and_expands_a_tool_call(page, server):
    _open_session(page, server, "pwned")
    assert page.evaluate("window.pwned") is None  # the task's </script><script> stayed text
    assert page.locator("#dialogs b:text('bold')").count() == 0 and "<b>bold</b>" in page.inner_text("#dialogs")
    call = page.locator("#dialogs details.toolcall[data-tool=shout]").first
    assert not call.locator("pre.tool-result").is_visible()
    call.locator("summary").click()
    assert '"text"' in call.locator("pre.tool-args").inner_text() and call.locator("pre.tool-result").is_visible()
    assert page.locator("[data-dialog='drafter/main']").count() == 1 and page.locator(".wf-bar").count() == 3
    assert "drafter" in page.inner_text("table.cost")
    invoke = page.locator("details.invoke").first
    invoke.locator("summary").click()  # the request is rendered by the "toggle" event, which fires a task later
    wait_for(lambda: "request: 2 message(s), tools [shout]" in invoke.inner_text())
    _open_session(page, server, "python")
    assert page.locator("#dialogs pre[data-lang=python] code").first.inner_text().strip() == "print('hi')"
    _shot(page, "ui-session.png")


def test_replay_offline_reports_an_exact_reproduction(page, server):
    _open_session(page, server, "Kyoto")
    page.click("#replay")
    page.wait_for_selector("#replay-ok", timeout=60000)
    assert "Reproduced exactly (3 call(s) from the recording)" in page.inner_text("#replay-ok")


def test_fork_with_an_edited_system_prompt_shows_both_runs_and_the_diff(page, server):
    _open_session(page, server, "Kyoto")
    page.click("button.fork-at[data-agent=editor]")  # "fork here" at the editor's call
    assert page.evaluate("document.activeElement.dataset.agent") == "editor"
    page.fill("textarea[data-agent=editor]", "You edit like a pirate.")
    page.click("#fork-run")
    page.wait_for_selector("#diffs", timeout=60000)
    diff = page.inner_text("[data-what='dialog editor/main']")
    assert "-[system] You edit." in diff and "+[system] You edit like a pirate." in diff
    assert page.locator("[data-what='dialog editor/main'] .add").count() >= 1
    assert page.locator(".cols .card").count() == 2 and "re-run of" in page.inner_text(".cols")


def test_fork_with_an_edited_package_prompt_shows_the_diff(page, server):
    _open_session(page, server, "python")
    assert "prompt demo.prompts:review" in page.inner_text("[data-dialog='editor/main']")  # messages name their prompt
    page.click("#fork")
    page.wait_for_selector("#fork-prompts[data-ready='1']")
    box = page.locator("textarea[data-prompt='demo.prompts:review']")
    assert box.input_value() == "Edit this draft:\n\n{draft}\n"
    assert "placeholders: {draft}" in page.inner_text("#fork-prompts") and "used by editor" in page.inner_text(
        "#fork-prompts"
    )
    _shot(page, "ui-fork-prompt.png")
    box.fill("Cut this draft in half:\n\n{draft}")
    page.click("#fork-run")
    page.wait_for_selector("#diffs", timeout=60000)
    diff = page.inner_text("[data-what='dialog editor/main']")
    assert "-[user] Edit this draft:" in diff and "+[user] Cut this draft in half:" in diff
    assert page.locator(".cols .card").count() == 2 and "edited prompt(s): demo.prompts:review" in page.inner_text(
        ".cols"
    )


def test_a_placeholder_the_tactic_does_not_supply_is_refused_in_the_fork_panel(page, server):
    page.expected_console_errors = ("400 (Bad Request)",)  # the refused fork, logged by the browser
    _open_session(page, server, "python")
    page.click("#fork")
    page.wait_for_selector("#fork-prompts[data-ready='1']")
    page.locator("textarea[data-prompt='demo.prompts:review']").fill("Edit in a {tone} tone: {draft}")
    page.click("#fork-run")
    page.wait_for_selector("#action-result pre.error")
    assert "placeholder(s) ['tone']" in page.inner_text("#action-result")


def test_two_sessions_picked_in_the_list_are_compared(page, server):
    page.goto(server.url + "#/?batch=b1")
    page.wait_for_selector("tr[data-session]")
    boxes = page.locator("input.pick")
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.click("#compare-picked")
    page.wait_for_selector("#diffs")
    assert page.locator("[data-what=task] .del").count() >= 1 and page.locator(".cols .card").count() == 2


def test_a_batch_appears_live_while_the_list_is_open(page, server, project):
    page.goto(server.url)
    page.wait_for_selector("#live[data-ready='1']")
    before = page.locator("tr[data-session]").count()
    worker = threading.Thread(target=record_batch, args=(project, "live1", ["live one", "live two", "explode live"]))
    worker.start()
    worker.join(timeout=120)
    wait_for(lambda: page.locator("tr.new").count() == 3)
    assert page.locator("tr[data-session]").count() == before + 3
    assert "3 new (2 done, 1 failed)" in page.inner_text("#live")
    assert page.locator("tr.new .tag:text('batch=live1')").count() == 3


def test_exported_html_opens_from_disk_without_network(page, server, tmp_path):
    _open_session(page, server, "Kyoto")
    with page.expect_download() as info:
        page.click("#export")
    path = tmp_path / "session.html"
    info.value.save_as(path)
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_selector("#dialogs")
    assert "plan a trip to Kyoto" in page.inner_text("main") and page.locator(".wf-bar").count() == 3
    assert page.locator("#replay").count() == 0  # a static export has no server to replay on
    assert all(u.startswith(("file:", "data:")) for u in requests), requests


def test_with_a_token_the_printed_link_opens_the_page_and_live_events(page, project):
    ui = UIServer(project, token="tok-123")
    try:
        page.goto(ui.url)
        assert "needs its token" in page.inner_text("body")
        page.goto(ui.url + "?token=tok-123")
        page.wait_for_selector("tr[data-session]")
        page.wait_for_selector("#live[data-ready='1']")
    finally:
        ui.close()


@pytest.fixture(autouse=True)
def _no_console_errors(page):
    messages = []
    page.on("console", lambda m: messages.append(m.text) if m.type == "error" else None)
    yield
    allowed = ("401", *getattr(page, "expected_console_errors", ()))
    assert not [m for m in messages if not any(a in m for a in allowed)], messages
