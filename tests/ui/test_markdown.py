"""Message text is rendered as markdown's common subset, built from text nodes: no HTML, no script links."""

from __future__ import annotations

SAMPLE = (
    "# Plan\n"
    "Some *careful* **bold** text with `code`.\n"
    "\n"
    "- first\n"
    "- second [docs](https://example.org/docs)\n"
    "\n"
    "1. one\n"
    "2. two [bad](javascript:alert(1))\n"
    "<img src=x onerror=window.pwned=1>\n"
    "```python\nprint(1)\n```\n"
    "## Done"
)


def _render(page, server, text: str):
    page.goto(server.url)
    page.wait_for_selector("tr[data-session]")
    page.evaluate(
        "t => { const d = document.createElement('div'); d.id = 'md'; d.append(...renderText(t).flat());"
        " document.body.append(d); }",
        text,
    )
    return page.locator("#md")


def test_headings_lists_emphasis_links_and_code(page, server):
    md = _render(page, server, SAMPLE)
    assert md.locator("h3").inner_text() == "Plan" and md.locator("h4").inner_text() == "Done"
    assert md.locator("ul > li").all_inner_texts() == ["first", "second docs"]
    assert md.locator("ol > li").count() == 2
    assert md.locator("i").inner_text() == "careful" and md.locator("b").inner_text() == "bold"
    assert md.locator("pre[data-lang=python] code").inner_text().strip() == "print(1)"
    link = md.locator("a")
    assert link.count() == 1 and link.get_attribute("href") == "https://example.org/docs"
    assert link.get_attribute("rel") == "noopener noreferrer"


def test_nothing_in_the_text_becomes_html_or_a_script_link(page, server):
    md = _render(page, server, SAMPLE)
    assert "[bad](javascript:alert(1))" in md.inner_text()  # shown as text, not a link
    assert md.locator("img").count() == 0 and "<img src=x" in md.inner_text()
    assert page.evaluate("window.pwned") is None
