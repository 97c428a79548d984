"""convert: a trained .keras run -> fixed-size LiteRT (.tflite) files, each checked by a quality gate."""

from convert.pipeline import ConvertConfig, convert_run
from convert.report import ConvertFailed, ConvertReport
from convert.tflite import PRECISIONS, convert_to_tflite

__all__ = ["PRECISIONS", "ConvertConfig", "ConvertFailed", "ConvertReport", "convert_run", "convert_to_tflite"]
