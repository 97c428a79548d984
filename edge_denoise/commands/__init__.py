"""One module per ``edge-denoise`` command; ``edge_denoise.cli`` composes them into the one app.

Each holds a plain function whose options and docstring are its ``--help``: it parses the
options, builds the stage's config, calls one library function and renders the result.
"""
