"""Wheel build hook: put the pages (templates, static, the used node_modules files) and the
icon inside the package, where ``lernkurve.shared.paths.resource_root()`` finds them once
installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


def _page_assets(root: Path):
    """lernkurve/web/pageassets.py, loaded by path: the package is not importable at build."""
    spec = importlib.util.spec_from_file_location(
        "pageassets", root / "lernkurve/web/pageassets.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.page_assets


class PagesHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        if version == "editable":  # the checkout itself serves templates/ and static/
            return
        root = Path(self.root)
        libraries = _page_assets(root)(root)
        if not any(f.endswith(".js") for f in libraries):
            raise RuntimeError("static/node_modules is missing: run `make setup` first")
        include = build_data["force_include"]
        include[str(root / "templates")] = "lernkurve/templates"
        include[str(root / "assets" / "icon.png")] = "lernkurve/assets/icon.png"
        for path in sorted((root / "static").rglob("*")):
            rel = path.relative_to(root / "static").as_posix()
            if path.is_file() and not rel.startswith("node_modules/") and path.suffix != ".json":
                include[str(path)] = f"lernkurve/static/{rel}"
        for rel in libraries:
            include[str(root / "static" / rel)] = f"lernkurve/static/{rel}"
