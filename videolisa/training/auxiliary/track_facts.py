"""A training-only probe on the ``<TRK>`` states for where their object is and how it relates.

The attribute probe makes a ``<TRK>`` state name its object's colour and shape; when two objects
look alike (several-object answers, "the largest red object" beside another red one) that is not
enough to tell SAM which one, and attempt 7 answered "Segment the blue objects." with two tracks
on the same object. This probe also asks the state for its object's centre (mean over the dense
frames, as a share of the frame's width and height) and for its facts
(:mod:`videolisa.toyworld.facts`), so the k-th ``<TRK>`` of an answer must point somewhere else
than the (k-1)-th.
"""

from __future__ import annotations

import numpy as np
import torch

from videolisa.modeling.videolisa import VideoLISAModel
from videolisa.toyworld.facts import object_facts, scene_of
from videolisa.training.auxiliary.base import Auxiliary, AuxiliaryInputs
from videolisa.training.auxiliary.object_facts import FactHeads


def centres(masks: np.ndarray) -> np.ndarray:
    """(N, F, H, W) bool masks -> (N, 2) mean (x / W, y / H) of each object's visible pixels'
    centre over the frames where it shows (0.5, 0.5 where it never does)."""
    count, _, height, width = masks.shape
    out = np.full((count, 2), 0.5)
    for n in range(count):
        points = [np.nonzero(frame) for frame in masks[n] if frame.any()]
        if points:
            out[n] = np.mean([(xs.mean() / width, ys.mean() / height) for ys, xs in points], axis=0)
    return out


class TrackFactsProbe(Auxiliary):
    """Where each track's object is, and its facts, from the (K, H) ``<TRK>`` states."""

    name = "track_facts"

    def __init__(self, weight: float, model: VideoLISAModel) -> None:
        super().__init__(weight, model)
        self.read = FactHeads(model.config.hidden_size, extra=2)

    def loss(self, inputs: AuxiliaryInputs) -> torch.Tensor | None:
        track_objects = list(inputs.turn.track_objects)
        if not track_objects or inputs.outputs is None or not inputs.sample.objects:
            return None
        sample = inputs.sample
        facts = object_facts(scene_of(sample.objects, sample.masks)).as_dict()
        labels = {name: values[track_objects] for name, values in facts.items()}
        where = centres(sample.masks[track_objects][:, inputs.dense_frames])
        return self.read.loss(inputs.outputs.track_states, labels, torch.from_numpy(where))
