"""Frame sizes as text, one spelling everywhere: ``128`` (a square) or ``480x640``, height x width.

Height first, as numpy shapes a frame (H, W, 3) and as the converter names its files
(``fastnet_int8_480x640.tflite``); ``--size``, ``--model-size`` and ``--capture-size`` all read this way.
"""

from __future__ import annotations

import re

from edge_runtime.errors import EdgeDenoiseError

_SIZE = re.compile(r"^\s*(\d+)\s*(?:[xX]\s*(\d+))?\s*$")


def parse_size(text: str | int, option: str = "size") -> tuple[int, int]:
    """``128`` -> (128, 128); ``480x640`` -> (480, 640): height 480, width 640.

    ``option`` names what was being read (``--capture-size``) in the one-line error for anything else.
    """
    m = _SIZE.match(str(text))
    if not m or int(m[1]) <= 0 or (m[2] is not None and int(m[2]) <= 0):
        raise EdgeDenoiseError(f"bad {option} '{text}': use SIDE (e.g. 128) or HEIGHTxWIDTH (e.g. 480x640)")
    return int(m[1]), int(m[2] or m[1])


def size_text(hw: tuple[int, int]) -> str:
    """(480, 640) -> ``480x640``."""
    return f"{hw[0]}x{hw[1]}"
