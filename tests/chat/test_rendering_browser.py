"""How answers render in Chromium: markdown tables and highlighted code, LaTeX through KaTeX
as MathML (no inline style, so no CSP violation), links opened safely, and hostile output
(script, event handlers, javascript: and other schemes, external images, math macros) left
harmless."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from chat import services
from tests.chat.test_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

ANSWER = ".message.assistant"


def answered(owner, content: str):
    conversation = services.conversation_create(user=owner, title="Rendering")
    _, answer = services.message_create_turn(
        conversation=conversation, parent=None, content="Show me", model=""
    )
    services.message_finish(message_id=answer.pk, content=content, last_seq=1, status="complete")
    return conversation


def open_answer(page, daphne_url, owner, content: str):
    conversation = answered(owner, content)
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    return page.locator(ANSWER).locator(".content")


def csp_reports(page) -> list[str]:
    """Chromium logs every CSP violation to the console as an error."""
    seen: list[str] = []
    page.on(
        "console",
        lambda message: (
            seen.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return seen


MATH = (
    "Euler: $e^{i\\pi} + 1 = 0$, costs $5 and $10 stay text.\n\n"
    "$$\n\\int_0^1 x^2\\,dx = \\frac{1}{3}\n$$\n\n"
    "And \\(a^2 + b^2 = c^2\\) too."
)


def test_latex_renders_as_mathml_without_a_csp_violation(page, daphne_url, owner):
    violations = csp_reports(page)
    content = open_answer(page, daphne_url, owner, MATH)
    expect(content.locator("math")).to_have_count(3)
    expect(content.locator(".math-display math")).to_have_count(1)
    expect(content.locator("math mfrac")).to_have_count(1)
    expect(content).to_contain_text("costs $5 and $10 stay text.")
    # KaTeX drew it (a fraction, a superscript), not the raw TeX.
    assert "\\frac" not in content.locator(".math-display").inner_text()
    assert content.locator("[style]").count() == 0
    # Something real: the display formula has height, MathML is laid out.
    box = content.locator(".math-display math").bounding_box()
    assert box and box["height"] > 10
    assert violations == []


def test_katex_is_loaded_only_when_an_answer_holds_math(page, daphne_url, owner):
    # KaTeX is most of the page's weight (bench/chat_page.py): an answer without math
    # costs none of it; one with math loads it and is typeset (the test above).
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    content = open_answer(page, daphne_url, owner, "No maths here, only **bold** text.")
    expect(content.locator("strong")).to_have_text("bold")
    page.wait_for_load_state("networkidle")
    assert fetched and not [url for url in fetched if "katex" in url]
    assert page.evaluate("typeof window.katex") == "undefined"
    page.goto(f"{daphne_url}/c/{answered(owner, 'Then $x^2$ appears.').pk}/")
    expect(page.locator(ANSWER).locator(".content math msup")).to_have_count(1)
    assert [url for url in fetched if "katex" in url]


def test_tables_and_highlighted_code_render(page, daphne_url, owner):
    markdown = (
        "| Name | Value |\n| --- | --- |\n| a | 1 |\n| b | 2 |\n\n"
        "```python\ndef f(x):\n    return x + 1\n```\n"
    )
    content = open_answer(page, daphne_url, owner, markdown)
    expect(content.locator("table tr")).to_have_count(3)
    expect(content.locator("th").first).to_have_text("Name")
    expect(content.locator("pre code.hljs .hljs-keyword").first).to_have_text("def")
    expect(content.get_by_role("button", name="Copy code")).to_have_count(1)


def test_links_open_in_a_new_tab_and_only_web_and_mail_schemes_survive(page, daphne_url, owner):
    markdown = (
        "[web](https://example.org/a) [mail](mailto:someone@example.org) "
        "[ftp](ftp://example.org/f) [js](javascript:window.__xss=1) "
        "[data](data:text/html,<script>window.__xss=2</script>) [vb](vbscript:msgbox) "
        "and a bare https://example.net/b link."
    )
    content = open_answer(page, daphne_url, owner, markdown)
    web = content.get_by_role("link", name="web")
    expect(web).to_have_attribute("href", "https://example.org/a")
    expect(web).to_have_attribute("target", "_blank")
    expect(web).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(content.get_by_role("link", name="mail")).to_have_attribute(
        "href", "mailto:someone@example.org"
    )
    expect(content.get_by_role("link", name="https://example.net/b")).to_have_attribute(
        "rel", "noopener noreferrer nofollow"
    )
    hrefs = content.locator("a[href]").evaluate_all("els => els.map(e => e.href)")
    assert all(h.startswith(("https:", "mailto:")) for h in hrefs), hrefs
    assert len(hrefs) == 3


HOSTILE = "\n\n".join(
    [
        '<img src="https://example.invalid/pixel.gif" onerror="window.__xss=1">',
        "![tracker](https://example.invalid/beacon.png)",
        "[![nested](https://example.invalid/nested.png)](https://example.org/)",
        "<script>window.__xss=2</script>",
        "$\\href{javascript:window.__xss=3}{click}$",
        "$\\url{javascript:window.__xss=4}$",
        "$\\htmlStyle{color:red}{x}$ $\\includegraphics{https://example.invalid/m.png}$",
        '$x<img src=x onerror="window.__xss=5">$',
        "```html\n<script>window.__xss=6</script>\n```",
        "<details open><summary>x</summary><iframe src=https://example.invalid/></iframe>",
        '<a href="javascript:window.__xss=7">raw link</a> <svg onload="window.__xss=8"></svg>',
    ]
)


def test_hostile_output_renders_as_text_and_fetches_nothing_outside(page, daphne_url, owner):
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    violations = csp_reports(page)
    content = open_answer(page, daphne_url, owner, HOSTILE)
    expect(content.locator("a.blocked-image")).to_have_count(2)
    expect(content.locator("pre code")).to_contain_text("<script>window.__xss=6</script>")
    assert page.evaluate("window.__xss") is None
    dangerous = "script, iframe, img, svg, [onerror], [onload], [style], a[href^='javascript:']"
    assert content.locator(dangerous).count() == 0
    assert not [url for url in requests if "example.invalid" in url or "example.org" in url]
    # Raw HTML stays visible as text.
    expect(content).to_contain_text('<img src="https://example.invalid/pixel.gif"')
    assert violations == []


def test_a_streamed_answer_with_math_and_markup_is_sanitised_too(page, daphne_url, owner):
    # The emulator quotes the question back: what it says is what was asked.
    sign_in(page, daphne_url, owner.email)
    box = page.get_by_role("textbox", name="Message")
    box.fill('Say $\\href{javascript:window.__xss=1}{x}$ <img src=x onerror="window.__xss=2">')
    box.press("Enter")
    answer = page.locator(ANSWER)
    expect(answer).to_have_attribute("data-status", "complete")
    assert page.evaluate("window.__xss") is None
    assert answer.locator("img, [onerror], a[href^='javascript:']").count() == 0
