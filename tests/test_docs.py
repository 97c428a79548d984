"""The docs hold together: links resolve, every kept result is cited, every benchmark says how to run it."""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "experiments" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RESULTS = ROOT / "benchmarks" / "results"


def docs_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in DOCS if p.is_file())


def test_readme_is_a_reference_of_at_most_250_lines():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 250


def test_every_relative_link_in_the_docs_resolves():
    broken = []
    for doc in DOCS:
        for link in re.findall(r"\]\(([^)#\s]+)", doc.read_text(encoding="utf-8")):
            if not link.startswith(("http://", "https://")) and not (doc.parent / link).exists():
                broken.append(f"{doc.relative_to(ROOT)} -> {link}")
    assert not broken


def test_every_kept_result_is_cited_and_every_cited_result_exists():
    """benchmarks/results/ keeps what a document quotes, no more (by name, or by a glob such as `int8_layers_*.json`)."""
    text = docs_text()
    globs = [g.split("/")[-1] for g in re.findall(r"`([^`\s]*\*[^`\s]*)`", text)]
    uncited = [p.name for p in sorted(RESULTS.iterdir())
               if p.name not in text and not any(fnmatch.fnmatch(p.name, g) or fnmatch.fnmatch(p.name, g + "*") for g in globs)]
    assert not uncited
    named = {m.rstrip(".,)") for m in re.findall(r"benchmarks/results/[A-Za-z0-9_./-]+", text)}
    assert not [m for m in named if not m.endswith("_") and not (ROOT / m).exists()]


def test_every_benchmark_shows_its_command_in_its_docstring():
    for script in sorted((ROOT / "benchmarks").glob("*.py")):
        doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
        assert f"benchmarks/{script.name}" in doc, script.name
