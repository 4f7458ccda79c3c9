"""What a `pip install` (not the editable one the tests run on) ships: every package-data pattern names real files,
so a moved folder of templates is not silently left out of the wheel."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_every_package_data_pattern_matches_files_in_the_source_tree():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["shopstorm"]
    package = ROOT / "src" / "shopstorm"
    for pattern in patterns:
        assert list(package.glob(pattern)), f"package-data {pattern!r} matches nothing under src/shopstorm"
    templates = {path.name for pattern in patterns for path in package.glob(pattern) if path.suffix == ".html"}
    on_disk = {path.name for path in package.rglob("*.html")}
    assert templates == on_disk, f"templates not shipped: {sorted(on_disk - templates)}"
