"""The data set every stage shares: where it is (--data, else $EDGE_DENOISE_DATA) and which split (train, val or
test) an image belongs to, from a hash of its path alone.

Training writes the split into its run folder; convert and bench take the test split from there, or, for a folder
without a run, from this same hash, so every stage agrees without sharing state. Adding files never moves old ones.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from edge_runtime.errors import EdgeDenoiseError

DATA_ENV = "EDGE_DENOISE_DATA"  # the clean-image folder when --data is not given
SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)


def split_of(relpath: str, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> str:
    """The split a file belongs to, from a hash of its relative POSIX path alone."""
    digest = hashlib.sha256(relpath.encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < fractions[0]:
        return "train"
    if u < fractions[0] + fractions[1]:
        return "val"
    return "test"


def data_folder(given: str | Path | None) -> str:
    """The clean-image folder: ``given``, else $EDGE_DENOISE_DATA; one line saying how to name one when neither is."""
    folder = given or os.environ.get(DATA_ENV)
    if not folder:
        raise EdgeDenoiseError(f"no data folder: give --data DIR (clean images, flat or one subfolder per class) "
                               f"or set {DATA_ENV}=DIR")
    return str(folder)
