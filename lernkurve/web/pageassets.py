"""Which files of static/node_modules the pages load (for the wheel and the executable), and
which of our own modules the page preloads.

Standard library only: the wheel's build hook loads this file by path, before the package is
importable.
"""

from __future__ import annotations

import os
import re
from pathlib import Path


def template_refs(text: str) -> set[str]:
    """The paths below static/ that a template loads from node_modules."""
    return set(re.findall(r"""node_modules/[^'"?#\s)]+""", text))


def page_assets(root: Path) -> list[str]:
    """The files below static/node_modules that the templates load, and what their CSS loads."""
    todo = set()
    for template in sorted((root / "templates").glob("*.html")):
        todo |= template_refs(template.read_text())
    found, todo = set(), sorted(todo)
    while todo:
        rel = todo.pop()
        path = root / "static" / rel
        if rel in found or not path.is_file():
            continue
        found.add(rel)
        if path.suffix == ".css":
            for url in re.findall(r"""url\(\s*['"]?([^'")?#]+)""", path.read_text()):
                if not url.startswith(("data:", "http:", "https:", "/")):
                    todo.append(os.path.normpath(os.path.join(os.path.dirname(rel), url)))
    return sorted(found)


def own_modules(root: Path) -> list[str]:
    """Our ES modules below static/ (theme-init.js is a classic script): the page names them
    all up front (modulepreload), so the browser fetches them at once instead of one level of
    imports after another."""
    return sorted(
        f"js/{path.name}"
        for path in (root / "static" / "js").glob("*.js")
        if path.name != "theme-init.js"
    )
