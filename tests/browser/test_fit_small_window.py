"""Issue 22, item 6: the run page fits 1024×700 and 1440×900, in English and German.

The first chart starts in the top 40 % of the window; the header, the run controls and the
chart tools neither overlap nor wrap a label; a long run name ends in an ellipsis (the full name
on hover) and keeps its checkbox beside it.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

LONG_NAME = "resnet50-imagenet-adamw-cosine-warmup-5-epochs-label-smoothing-0.1-mixup-0.2-seed-1234"
SIZES = [(1024, 700), (1440, 900)]

# The visible controls of each row that must sit side by side.
ROWS = {
    "header": "#view-run .run-title-row > *",
    "controls": ".run-controls .btn, .run-controls .form-check, .run-controls .dropdown",
    "chart tools": ".chart-toolbar > *",
    "first panel": "#chart-stack .chart-block:first-of-type figcaption .btn",
    "sidebar": ".app-sidebar input, .app-sidebar select, .app-sidebar .btn",
}

LAYOUT = """(rows) => {
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== "hidden";
  };
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return { left: r.left, right: r.right, top: r.top, bottom: r.bottom };
  };
  const name = (el) => el.id || el.getAttribute("aria-label") || el.textContent.trim().slice(0, 30)
    || el.className;
  // How many lines an element's own text takes (its words' boxes at distinct heights).
  const lines = (el) => {
    const tops = new Set();
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const node = walker.currentNode;
      if (!node.textContent.trim() || !visible(node.parentElement)) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      for (const r of range.getClientRects()) if (r.width > 0) tops.add(Math.round(r.bottom / 4));
    }
    return tops.size;
  };
  const overlaps = [];
  const wrapped = [];
  for (const [row, selector] of Object.entries(rows)) {
    const els = [...document.querySelectorAll(selector)].filter(visible);
    // Nested matches (a button inside a matched group) are measured once, as their group.
    const outer = els.filter((el) => !els.some((o) => o !== el && o.contains(el)));
    for (let i = 0; i < outer.length; i++) {
      for (let j = i + 1; j < outer.length; j++) {
        const a = box(outer[i]);
        const b = box(outer[j]);
        const x = Math.min(a.right, b.right) - Math.max(a.left, b.left);
        const y = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        if (x > 1 && y > 1) overlaps.push(`${row}: ${name(outer[i])} / ${name(outer[j])}`);
      }
    }
    for (const el of els) {
      const label = el.matches(".btn, label, .form-check");
      if (label && lines(el) > 1) wrapped.push(`${row}: ${name(el)}`);
      const main = document.getElementById("main").getBoundingClientRect();
      const out = row !== "sidebar" && box(el).right > main.right + 1;
      if (out) overlaps.push(`${row}: ${name(el)} sticks out`);
    }
  }
  return { overlaps, wrapped };
}"""

# Whether a text fits an input's or select's box: measured in the element's own font.
FITS = """([selector, which]) => {
  const el = document.querySelector(selector);
  const style = getComputedStyle(el);
  const text = which === "placeholder" ? el.placeholder : el.selectedOptions[0].text;
  const ctx = document.createElement("canvas").getContext("2d");
  ctx.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
  const room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return { text, width: ctx.measureText(text).width, room };
}"""


def set_language(dashboard, lang: str) -> None:
    page = dashboard.page
    page.evaluate(f"localStorage.setItem('lernkurve.lang', '{lang}')")
    page.reload()
    page.wait_for_selector("html[data-ready][data-connection='online']")


@pytest.mark.parametrize("lang", ["en", "de"])
def test_the_run_page_fits_small_and_large_windows(dashboard, lang):
    api, page = dashboard.api, dashboard.page
    long_run = api.start(name=LONG_NAME, delay_ms=20.0)
    api.start(name="short", delay_ms=20.0)
    api.wait_step(long_run["id"], 30)
    set_language(dashboard, lang)

    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        dashboard.open_run(long_run["id"])
        page.locator("#chart-stack .chart-block").first.wait_for()
        where = f"{lang} {width}×{height}"

        # The first chart (its title and canvas) starts in the top 40 % of the window.
        top = page.evaluate(
            "document.querySelector('#chart-stack .chart-block').getBoundingClientRect().top"
        )
        assert top <= 0.4 * height, f"{where}: the first chart starts at y={top}"
        canvas = page.locator("#chart-stack .chart-block canvas").first.bounding_box()
        assert canvas["y"] <= 0.45 * height, f"{where}: its plot starts at y={canvas['y']}"

        # The controls of a row neither overlap nor wrap their labels.
        layout = page.evaluate(LAYOUT, ROWS)
        assert layout["overlaps"] == [], where
        assert layout["wrapped"] == [], where
        # The run controls and the chart tools take one row each.
        for row in (".run-controls", ".chart-toolbar"):
            boxes = page.evaluate(
                """(row) => [...document.querySelector(row).children]
                    .filter((el) => el.getBoundingClientRect().width > 0)
                    .map((el) => Math.round(el.getBoundingClientRect().top))""",
                row,
            )
            assert max(boxes) - min(boxes) < 12, f"{where}: {row} wraps ({boxes})"

        # A long name ends in an ellipsis, beside its checkbox, the full name on hover.
        item = page.locator(f"#runs-list [data-run-id='{long_run['id']}']")
        box = item.locator(".form-check-input").bounding_box()
        title = item.locator(".run-title")
        title_box = title.bounding_box()
        assert title_box["x"] > box["x"] + box["width"], where
        assert title_box["y"] < box["y"] + box["height"], f"{where}: the name went below its box"
        assert title.evaluate("(el) => el.scrollWidth > el.clientWidth"), where
        assert title.evaluate("(el) => getComputedStyle(el).textOverflow") == "ellipsis"
        assert item.locator(".run-link").get_attribute("title") == LONG_NAME
        header = page.locator("#run-name")
        assert header.get_attribute("title") == LONG_NAME
        assert header.evaluate("(el) => getComputedStyle(el).textOverflow") == "ellipsis"
        header_box = header.bounding_box()
        status = page.locator("#run-status").bounding_box()
        assert abs(status["y"] - header_box["y"]) < header_box["height"], (
            f"{where}: the status badge left the name's row"
        )

        # The sidebar's metric box and "best is" choice show their whole text.
        for selector, which in (("#runs-metric", "placeholder"), ("#runs-mode", "option")):
            fit = page.evaluate(FITS, [selector, which])
            assert fit["width"] <= fit["room"] + 1, f"{where}: {fit['text']!r} is cut"
