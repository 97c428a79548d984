"""``python -m edge_denoise`` is the same as the ``edge-denoise`` command."""

from edge_denoise.cli import run

run()
