"""A run's Markdown note: a `*` or `_` in an address stays in it, emphasis closes where it opened,
and only http(s) and mailto targets become links."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

NOTE = "\n".join(
    [
        "[x](https://example.com/a*b*c)",
        "",
        "see https://example.com/p*q*r and <https://example.com/*s*> now",
        "",
        "**bold [link](https://e.x/*a)** rest",
        "",
        "[under](https://e.x/a_b_c_) and https://e.x/snake_case_name.",
        "",
        "[bad](javascript:alert(1)) and <javascript:alert(2)>",
        "",
        '[q](https://e.x/"onmouseover="alert(3)) [wiki](https://e.x/wiki/Foo_(bar))',
        "",
        "**see https://e.x/z** then *it [a *b](https://e.x/*c*) d*",
    ]
)

ANCHORS = (
    "(view) => [...view.querySelectorAll('a')].map((a) => [a.getAttribute('href'), a.textContent])"
)


def test_a_note_keeps_addresses_whole_and_closes_emphasis(dashboard):
    api, page = dashboard.api, dashboard.page
    db = dashboard.server.app.extensions["lernkurve"].db
    run_id = db.insert_run(name="noted", task="script", status="completed").id
    assert api.patch(f"/api/runs/{run_id}", json={"notes": NOTE}).status_code == 200
    dashboard.open_run(run_id)
    view = page.locator("#note-view")
    view.locator("a").first.wait_for()

    assert view.evaluate(ANCHORS) == [
        ["https://example.com/a*b*c", "x"],
        ["https://example.com/p*q*r", "https://example.com/p*q*r"],
        ["https://example.com/*s*", "https://example.com/*s*"],
        ["https://e.x/*a", "link"],
        ["https://e.x/a_b_c_", "under"],
        ["https://e.x/snake_case_name", "https://e.x/snake_case_name"],
        ['https://e.x/"onmouseover="alert(3)', "q"],
        ["https://e.x/wiki/Foo_(bar)", "wiki"],
        ["https://e.x/z", "https://e.x/z"],
        ["https://e.x/*c*", "a *b"],
    ]
    paragraphs = view.locator("p")
    # Bold holds the whole link and ends before " rest"; nothing else is emphasised.
    assert (
        paragraphs.nth(2)
        .evaluate("(p) => p.innerHTML")
        .startswith('<strong>bold <a href="https://e.x/*a"')
    )
    assert paragraphs.nth(2).locator("strong").inner_text() == "bold link"
    assert paragraphs.nth(2).evaluate("(p) => p.lastChild.textContent") == " rest"
    assert view.locator("p:nth-of-type(1) em, p:nth-of-type(2) em").count() == 0
    assert view.locator("p:nth-of-type(4) em, p:nth-of-type(4) strong").count() == 0
    # Emphasis never opens inside a link's text and closes outside it.
    last = paragraphs.nth(6)
    assert last.locator("strong").inner_text() == "see https://e.x/z"
    assert last.locator("em").inner_text() == "it a *b d"
    assert last.locator("em a").count() == 1

    # Other targets stay text: no anchor, no script, shown as typed.
    inert = paragraphs.nth(4)
    assert inert.locator("a").count() == 0
    assert inert.inner_text() == "[bad](javascript:alert(1)) and <javascript:alert(2)>"
    assert view.locator("[onmouseover], script, img").count() == 0
    for anchor in view.locator("a").all():
        assert anchor.get_attribute("target") == "_blank"
        assert anchor.get_attribute("rel") == "noopener noreferrer"


RENDER_CASES = [
    # (source, HTML)
    ("*a* **b**", "<p><em>a</em> <strong>b</strong></p>"),
    ("**a *b* c**", "<p><strong>a <em>b</em> c</strong></p>"),
    ("`*x*` *y*", "<p><code>*x*</code> <em>y</em></p>"),
    (
        "[m](mailto:me@e.x) <mailto:you@e.x>",
        '<p><a href="mailto:me@e.x" target="_blank" rel="noopener noreferrer">m</a> '
        '<a href="mailto:you@e.x" target="_blank" rel="noopener noreferrer">mailto:you@e.x</a></p>',
    ),
    ("[x](ftp://e.x/*a*) *b*", "<p>[x](ftp://e.x/*a*) <em>b</em></p>"),
    ("<b>*x*</b>", "<p>&lt;b&gt;<em>x</em>&lt;/b&gt;</p>"),
    (
        "(see https://e.x/a*b_) x/https://no",
        '<p>(see <a href="https://e.x/a*b" target="_blank" rel="noopener noreferrer">'
        "https://e.x/a*b</a>_) x/https://no</p>",
    ),
    ("a\u0000b *c*", "<p>a\ufffdb <em>c</em></p>"),
]


def test_render_markdown_cases(dashboard):
    got = dashboard.page.evaluate(
        """async (sources) => {
            const { renderMarkdown } = await import("/static/js/markdown.js");
            return sources.map((s) => renderMarkdown(s));
        }""",
        [source for source, _ in RENDER_CASES],
    )
    assert got == [html for _, html in RENDER_CASES]
