"""edge-denoise: the one command-line entry point that dispatches to train, convert and edge_runtime."""
