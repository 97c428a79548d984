"""A corpus of broken and awkward inputs, generated on the fly (no binaries in the repository)."""
