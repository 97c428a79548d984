"""Denoise the bundled pistachio photos with the shipped default model, save them, report the latency."""
import sys

from edge_runtime import Denoiser
from edge_runtime.sinks import open_sink
from edge_runtime.sources import open_source

source = open_source(sys.argv[1] if len(sys.argv) > 1 else "edge_runtime/samples")  # or 0, picamera2://0, clip.mp4
output = open_sink(sys.argv[2] if len(sys.argv) > 2 else "runs/example")  # a folder of PNGs, or out.mp4
denoiser = Denoiser(live=source.live)  # the shipped default model, picked as `edge-denoise run` picks it

with source, output:
    for frame_rgb in source:
        output.write(denoiser.denoise(frame_rgb))
print(denoiser.report())
