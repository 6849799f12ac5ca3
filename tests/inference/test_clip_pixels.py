"""The batched preprocessing gives the library's pixels bit for bit (the golden test checks the
published record; these check sizes the record does not have)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import CLIPImageProcessorPil

from videolisa.errors import ConfigError
from videolisa.inference.clip_pixels import ClipPixels
from videolisa.inference.preprocess import FramePreprocessor

# (height, width): 1-3 px frames, strips, odd sides around the crop, a 720p frame
ODD_SIZES = [
    (1, 1),
    (3, 2),
    (2, 3),
    (1, 40),
    (40, 1),
    (37, 501),
    (335, 337),
    (336, 336),
    (720, 1280),
]


@pytest.fixture(scope="module")
def tower_folder(golden_dir):
    return golden_dir / "clip-vit-tiny-patch14-336"


@pytest.fixture(scope="module")
def library(tower_folder):
    return CLIPImageProcessorPil.from_pretrained(str(tower_folder))


def _frames(height: int, width: int, count: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed + height * 1000 + width)
    return rng.integers(0, 256, (count, height, width, 3), dtype=np.uint8)


def _library_pixels(processor: CLIPImageProcessorPil, frames: np.ndarray) -> torch.Tensor:
    batch = processor(images=list(frames), return_tensors="pt", input_data_format="channels_last")
    return batch["pixel_values"]


def _pixels(clip: ClipPixels, frames: np.ndarray) -> torch.Tensor:
    out = torch.empty((len(frames), 3, *clip.crop_hw))
    for frame, slot in zip(frames, out, strict=True):
        clip.pixels(frame, slot)
    return out


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize(("height", "width"), ODD_SIZES)
def test_clip_pixels_equal_the_library_processor(tower_folder, library, height, width, workers):
    frames = _frames(height, width)
    preprocessor = FramePreprocessor(tower_folder, 128, workers=workers)
    assert preprocessor.clip._divisor == 255  # the fast float32 path, proven exact at init
    pixels = preprocessor.clip_pixels(frames)
    assert pixels.dtype == torch.float32
    assert torch.equal(pixels, _library_pixels(library, frames))


@pytest.mark.parametrize("workers", [1, 2])
def test_pixels_can_be_made_in_inference_mode(tower_folder, library, workers):
    """The pool's threads take the caller's inference mode (it is thread-local)."""
    frames = _frames(40, 56, count=4)
    preprocessor = FramePreprocessor(tower_folder, 128, workers=workers)
    with torch.inference_mode():
        pixels = preprocessor.clip_pixels(frames)
    assert pixels.is_inference() and torch.equal(pixels, _library_pixels(library, frames))


def test_repeated_frames_are_resized_once_and_returned_in_order(tower_folder, library):
    frames = _frames(40, 56, count=4)
    preprocessor = FramePreprocessor(tower_folder, 128, workers=1)
    calls = []
    resized_crop = preprocessor.clip.resized_crop
    preprocessor.clip.resized_crop = lambda frame: calls.append(1) or resized_crop(frame)
    order = [0, 0, 1, 3, 3, 3]
    pixels = preprocessor.clip_pixels(frames, order)
    assert len(calls) == 3
    assert torch.equal(pixels, _library_pixels(library, frames[order]))


def test_table_lookup_is_exact_too(library):
    """When the float32 operations cannot reproduce the library, the (channel, value) table
    it was built from is used; it is exact by construction, checked here on odd sizes."""
    clip = ClipPixels(library)
    clip._divisor = None
    for height, width in ODD_SIZES[:5]:
        frames = _frames(height, width)
        assert torch.equal(_pixels(clip, frames), _library_pixels(library, frames))


def test_a_mean_the_fast_path_cannot_reproduce_falls_back_to_the_table(tower_folder):
    """An odd rescale factor (not 1/255): the fast path is refused at init, pixels stay exact."""
    processor = CLIPImageProcessorPil.from_pretrained(str(tower_folder), rescale_factor=1 / 254.9)
    clip = ClipPixels(processor)
    assert clip._divisor is None
    frames = _frames(50, 70)
    assert torch.equal(_pixels(clip, frames), _library_pixels(processor, frames))


def test_crop_larger_than_the_resize_pads_like_the_library(tower_folder):
    processor = CLIPImageProcessorPil.from_pretrained(
        str(tower_folder), size={"shortest_edge": 300}, crop_size={"height": 320, "width": 310}
    )
    clip = ClipPixels(processor)
    for height, width in [(40, 56), (301, 300), (5, 999)]:
        frames = _frames(height, width)
        assert torch.equal(_pixels(clip, frames), _library_pixels(processor, frames))


def test_a_processor_that_is_not_clip_is_refused(tower_folder):
    processor = CLIPImageProcessorPil.from_pretrained(str(tower_folder), do_center_crop=False)
    with pytest.raises(ConfigError, match="do_center_crop"):
        ClipPixels(processor)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize(("height", "width"), ODD_SIZES)
def test_sam_resize_equals_segment_anything_frame_by_frame(tower_folder, height, width, workers):
    frames = _frames(height, width)
    preprocessor = FramePreprocessor(tower_folder, 128, workers=workers)
    expected = np.stack([preprocessor.sam_resize.apply_image(frame) for frame in frames])
    resized = preprocessor.sam_resized(frames)
    assert resized.shape == (3, 3, *expected.shape[1:3])
    assert torch.equal(resized, torch.from_numpy(expected).permute(0, 3, 1, 2))
    assert preprocessor.resized_hw(height, width) == expected.shape[1:3]


def test_clip_features_skip_the_unused_layers_with_the_same_numbers(golden_pipeline):
    """Layer -2 of the tower's hidden states, computed without running the last layer."""
    model = golden_pipeline.model
    pixels = torch.randn(3, 3, 336, 336)
    layers = [m for m in model.vision_tower.modules() if type(m).__name__ == "CLIPEncoderLayer"]
    runs = []
    hooks = [layer.register_forward_hook(lambda *_: runs.append(1)) for layer in layers]
    try:
        with torch.inference_mode():
            features = model.clip_patch_features(pixels)
            layers_run = len(runs)
            full = model.vision_tower(pixels, output_hidden_states=True).hidden_states
    finally:
        for hook in hooks:
            hook.remove()
    assert torch.equal(features, full[model.config.mm_vision_select_layer][:, 1:])
    assert layers_run == len(layers) - 1  # select layer -2: the last layer is not run
