"""Trackers on tiny randomly initialised models (no download): SAM 2, EdgeTAM and SAM 3's tracker
give masks for every frame at the input's size, keyframes kept, both directions, tracks kept
apart; cached features, bounded memory; the registry finds a checkpoint's kind; and the
pipeline's one ``masks`` with and without a tracker."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.inference.tiny_trackers import TINY_TRACKERS
from videolisa.errors import UserInputError
from videolisa.inference.encoded_video import EncodeSettings
from videolisa.inference.trackers import (
    REGISTRY,
    FeatureStore,
    TrackingSettings,
    entry_for,
    get_entry,
    load_tracker,
)
from videolisa.modeling.videolisa import VideoLISAModel

H, W = 40, 56


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """SAM 2's many small ops run ~30x slower with two threads when another process keeps the
    second core busy (measured: 0.04 s vs 1.1 s a frame); one thread is steady either way."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, str]:
    """A tiny checkpoint folder of every registered tracker."""
    root = tmp_path_factory.mktemp("trackers")
    return {name: str(make(root / f"tiny-{name}")) for name, make in TINY_TRACKERS.items()}


@pytest.fixture(scope="module")
def propagator(checkpoints):
    return load_tracker(REGISTRY["sam2"], checkpoints["sam2"])


def boxes(*corners: tuple[int, int], side: int = 12) -> np.ndarray:
    """(K, H, W) masks, one square per (top, left)."""
    masks = np.zeros((len(corners), H, W), dtype=bool)
    for k, (top, left) in enumerate(corners):
        masks[k, top : top + side, left : left + side] = True
    return masks


def test_every_tracker_is_a_tiny_one_here():
    assert set(REGISTRY) == set(TINY_TRACKERS) == {"sam2", "edgetam", "sam3"}


def propagate(propagator, frames, keyframes, features=None, chunk_frames=3) -> np.ndarray:
    chunks = list(propagator.propagate(frames, keyframes, features, chunk_frames))
    starts = [chunk.frames.start for chunk in chunks]
    assert starts == sorted(starts) and chunks[0].frames.start == 0  # in frame order
    assert all(chunk.masks.shape[1] <= chunk_frames for chunk in chunks)
    return np.concatenate([chunk.masks for chunk in chunks], axis=1)


@pytest.mark.parametrize("name", sorted(TINY_TRACKERS))
def test_masks_for_every_frame_both_ways_with_keyframes_kept(checkpoints, name):
    tracker = load_tracker(REGISTRY[name], checkpoints[name])
    assert tracker.name == name and tracker.checkpoint == checkpoints[name]
    frames = np.random.default_rng(0).integers(0, 256, (9, H, W, 3), dtype=np.uint8)
    keyframes = {4: boxes((5, 5), (20, 30)), 7: boxes((6, 8), (22, 34))}
    masks = propagate(tracker, frames, keyframes)
    assert masks.shape == (2, 9, H, W) and masks.dtype == np.bool_
    for frame, given in keyframes.items():
        assert np.array_equal(masks[:, frame], given)


def test_tracks_of_one_session_stay_apart(propagator):
    frames = np.random.default_rng(1).integers(0, 256, (5, H, W, 3), dtype=np.uint8)
    pair = boxes((5, 5), (20, 30))
    both = propagate(propagator, frames, {2: pair})
    alone = [propagate(propagator, frames, {2: pair[k : k + 1]}) for k in range(2)]
    swapped = propagate(propagator, frames, {2: pair[::-1]})
    for k in range(2):  # each track follows its own keyframe mask, whatever the other does
        assert np.array_equal(both[k], alone[k][0])
        assert np.array_equal(both[k], swapped[1 - k])


def test_cached_features_give_the_same_masks(propagator, monkeypatch):
    frames = np.random.default_rng(2).integers(0, 256, (6, H, W, 3), dtype=np.uint8)
    keyframes = {3: boxes((8, 8))}
    features = FeatureStore(budget_bytes=None)
    fresh = propagate(propagator, frames, keyframes, features)
    assert features.kept_frames == 6
    calls = []
    encode = propagator.model.get_image_features
    monkeypatch.setattr(
        propagator.model, "get_image_features", lambda *a, **k: calls.append(1) or encode(*a, **k)
    )
    again = propagate(propagator, frames, keyframes, features)
    assert np.array_equal(fresh, again) and calls == []  # only propagation was paid for


@pytest.mark.slow
def test_memory_stays_bounded_on_a_1000_frame_video(propagator):
    """Features kept within the budget; the session keeps only the tracked outputs SAM 2's
    memory can reach; frames are preprocessed one at a time (never the whole video)."""
    frames = np.random.default_rng(3).integers(0, 256, (1000, 24, 32, 3), dtype=np.uint8)
    masks = np.zeros((1, 24, 32), dtype=bool)
    masks[0, 4:12, 4:12] = True
    features = FeatureStore(budget_bytes=3_000_000)
    sessions = []
    init = propagator.processor.init_video_session

    def recording_init(*args, **kwargs):
        sessions.append(init(*args, **kwargs))
        return sessions[-1]

    propagator.processor.init_video_session = recording_init
    try:
        sizes = []
        for _chunk in propagator.propagate(frames, {500: masks}, features, chunk_frames=10):
            outputs = sessions[0].output_dict_per_obj[0]["non_cond_frame_outputs"]
            sizes.append(len(outputs))
    finally:
        del propagator.processor.init_video_session
    config = propagator.model.config
    reach = max(config.num_maskmem, config.max_object_pointers_in_encoder)
    assert max(sizes) <= reach + 10 + 1
    assert features.nbytes <= 3_000_000 and 0 < features.kept_frames < 1000


def test_a_missing_checkpoint_is_one_clear_line(tmp_path):
    with pytest.raises(UserInputError) as refused:
        load_tracker(REGISTRY["sam2"], str(tmp_path / "no-such-sam2"))
    message = str(refused.value)
    assert "no-such-sam2" in message and "--refine-model" in message and "\n" not in message


def test_the_gated_sam3_checkpoint_says_how_to_get_it():
    with pytest.raises(UserInputError) as refused:  # offline here, as a refused download
        load_tracker(REGISTRY["sam3"])
    message = str(refused.value)
    assert "facebook/sam3" in message and "accept its licence" in message
    assert "huggingface-cli login" in message and "--refine-model DIR" in message
    assert "\n" not in message


def test_a_folder_says_which_tracker_it_is(checkpoints, tmp_path):
    for name, folder in checkpoints.items():
        assert entry_for(None, folder).name == name  # the name may be left out
        assert entry_for(name, folder).name == name
    assert entry_for(None, None).name == "sam2"
    assert entry_for(None, "facebook/sam3").name == "sam3"  # a registered default
    with pytest.raises(UserInputError, match="is a SAM 3 checkpoint"):
        entry_for("sam2", checkpoints["sam3"])
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(UserInputError, match="Cannot tell which tracker"):
        entry_for(None, str(tmp_path))
    with pytest.raises(UserInputError, match="sam2, edgetam, sam3"):
        get_entry("xmem")


def test_settings_are_checked():
    with pytest.raises(UserInputError, match="dense"):
        TrackingSettings(keyframes=0)
    with pytest.raises(UserInputError, match="--refine sam2"):
        TrackingSettings(mode="propagate", keyframes=3)
    with pytest.raises(UserInputError, match="Unknown tracker"):
        TrackingSettings(tracker="xmem")
    assert TrackingSettings(mode="propagate", tracker="sam3").mode_name == "propagate_sam3"


# ------------------------------------------------------------------ through the pipeline
@pytest.fixture(scope="module")
def frames(golden_dir) -> np.ndarray:
    from safetensors.torch import load_file

    return load_file(str(golden_dir / "golden.safetensors"))["video_rgb_uint8"].numpy()


def test_refine_replaces_all_but_the_keyframes(golden_pipeline, frames, propagator):
    encoded = golden_pipeline.encode(frames, EncodeSettings(4, 2))
    answer = golden_pipeline.answer(encoded, [], "Where is it?", forced_answer="Sure, <TRK>.")
    plain = golden_pipeline.track_masks(encoded, answer.track_embeddings)
    chunks = golden_pipeline.masks(encoded, frames, answer.track_embeddings)  # no tracker
    assert np.array_equal(np.concatenate([c.masks for c in chunks], axis=1), plain)
    settings = TrackingSettings(mode="refine", checkpoint=propagator.checkpoint)
    chunks = golden_pipeline.masks(encoded, frames, answer.track_embeddings, propagator, settings)
    refined = np.concatenate([chunk.masks for chunk in chunks], axis=1)
    assert encoded.tracker_features.get(propagator.checkpoint).kept_frames == len(frames)
    assert encoded.nbytes > encoded.video_tokens.nbytes + encoded.sam.nbytes  # counted
    assert refined.shape == plain.shape
    for frame in set(encoded.sampling.dense_frames):
        assert np.array_equal(refined[:, frame], plain[:, frame])
    best = golden_pipeline.best_frames(encoded, answer.track_embeddings, 2)
    assert len(best) == 2 and best == sorted(best)


def test_propagate_encodes_only_the_keyframes_with_sam(
    golden_pipeline, frames, propagator, monkeypatch
):
    encoded_frames = []
    embed = VideoLISAModel.sam_image_embeddings

    def counting(model, images):
        encoded_frames.append(len(images))
        return embed(model, images)

    monkeypatch.setattr(VideoLISAModel, "sam_image_embeddings", counting)
    encoded = golden_pipeline.encode(frames, EncodeSettings(4, 2, sam_keyframes_only=True))
    keyframes = sorted(set(encoded.sampling.dense_frames))
    assert sum(encoded_frames) == len(keyframes) < len(frames)
    answer = golden_pipeline.answer(encoded, [], "Where is it?", forced_answer="Sure, <TRK>.")
    with pytest.raises(UserInputError, match="keyframes only"):
        list(golden_pipeline.mask_steps(encoded, answer.track_embeddings))
    settings = TrackingSettings(mode="propagate", checkpoint=propagator.checkpoint)
    chunks = golden_pipeline.masks(encoded, frames, answer.track_embeddings, propagator, settings)
    masks = np.concatenate([chunk.masks for chunk in chunks], axis=1)
    assert masks.shape == (1, len(frames), *frames.shape[1:3])
    assert sum(encoded_frames) == len(keyframes)  # nothing more encoded by SAM's ViT
    assert torch.is_tensor(encoded.video_tokens)
