"""edge_runtime: the device side of edge-denoise. Never imports TensorFlow, Keras, train or convert."""

from edge_runtime.errors import EdgeDenoiseError
from edge_runtime.images import read_image_rgb, to_frame_rgb, to_image01
from edge_runtime.noise import add_noise, parse_noise

__all__ = ["Denoiser", "EdgeDenoiseError", "add_noise", "parse_noise", "read_image_rgb", "to_frame_rgb", "to_image01"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # Denoiser loads the engine's modules: only when asked for, so `import edge_runtime.x` stays light.
    if name == "Denoiser":
        from edge_runtime.denoiser import Denoiser

        return Denoiser
    raise AttributeError(f"module 'edge_runtime' has no attribute {name!r}")
