"""The `edge-denoise` app's shape: one module per command, composed by cli.py, with no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

from typer.testing import CliRunner

PACKAGE = Path(__file__).resolve().parents[1] / "edge_denoise"


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (inside functions too), as absolute dotted names."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                parts = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-node.level]
                base = ".".join(parts + ((node.module,) if node.module else ()))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def test_no_module_of_edge_denoise_imports_the_cli():
    importers = [str(p.relative_to(PACKAGE.parent)) for p in PACKAGE.rglob("*.py")
                 if p.name not in ("cli.py", "__main__.py") and "edge_denoise.cli" in imported_modules(p)]
    assert importers == [], f"these import edge_denoise.cli back (an import cycle): {importers}"


def test_commands_import_no_other_command():
    for path in (PACKAGE / "commands").glob("*.py"):
        own = f"edge_denoise.commands.{path.stem}"
        others = {m for m in imported_modules(path) if m.startswith("edge_denoise.commands.") and not m.startswith(own)}
        assert not others, f"{path.name} imports {sorted(others)}"


def test_help_lists_every_command_module():
    from edge_denoise.cli import app

    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    listed = {line.split()[1] for line in result.output.splitlines() if line.startswith("│ ") and len(line.split()) > 2}
    modules = {p.stem for p in (PACKAGE / "commands").glob("*.py") if p.stem != "__init__"}
    assert modules <= listed, f"commands missing from --help: {sorted(modules - listed)}"
    assert {"train", "tune", "eval", "convert", "models", "run", "denoise", "calibrate", "doctor", "bench"} <= listed
