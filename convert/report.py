"""What a conversion wrote: one entry per file tried, saved as convert_report.json in the output folder.

Shared by the TFLite path (convert.pipeline) and the ONNX path (convert.onnx_export), so neither imports the other's
internals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edge_runtime.atomic import write_json_atomic
from edge_runtime.errors import EdgeDenoiseError


@dataclass
class ConvertReport:
    """Every file the run tried: path, precision, size, gate numbers, and why it failed if it did."""

    config: dict
    files: list[dict] = field(default_factory=list)
    report_path: str | None = None
    range_tuning: dict | None = None  # --tune-ranges: "HxW" -> convert.ranges.RangeTuning.as_dict()

    @property
    def failures(self) -> list[dict]:
        return [f for f in self.files if f["status"] != "ok"]

    def as_dict(self) -> dict:
        d = {"config": self.config, "files": self.files}
        if self.range_tuning is not None:
            d["range_tuning"] = self.range_tuning
        return d


class ConvertFailed(EdgeDenoiseError):
    """At least one file failed conversion or the gate; ``report`` holds the details."""

    def __init__(self, message: str, report: ConvertReport):
        super().__init__(message)
        self.report = report


def finish_report(report: ConvertReport, out_dir: Path) -> ConvertReport:
    """Write convert_report.json into ``out_dir``; raise ConvertFailed naming the first failure, if any."""
    out_dir.mkdir(parents=True, exist_ok=True)
    report_path = out_dir / "convert_report.json"
    write_json_atomic(report_path, report.as_dict())
    report.report_path = str(report_path)
    if report.failures:
        first = report.failures[0]
        more = f" (and {len(report.failures) - 1} more)" if len(report.failures) > 1 else ""
        raise ConvertFailed(f"{Path(first['file']).name} failed: {first['error']}{more}; details in {report_path}", report)
    return report
