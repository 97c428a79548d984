"""CLI commands of the convert stage, registered on the shared Typer app (typer and rich only at import)."""

from __future__ import annotations

from edge_denoise.cli import app  # noqa: F401
