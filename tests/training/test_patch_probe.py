"""The patch probe: which object each CLIP patch shows, and a loss that teaches tokens to say so."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from videolisa.inference.pipeline import VideoLISAPipeline
from videolisa.modeling.tiny import create_tiny_checkpoint
from videolisa.toyworld import COLOURS, SHAPES, ObjectSpec
from videolisa.training.auxiliary import SAM, build_auxiliaries
from videolisa.training.auxiliary.patch_probe import PatchProbe, patch_owners
from videolisa.training.config import TrainConfig
from videolisa.training.optimizer import parameter_groups


def _object(obj_id: int, colour: str, shape: str) -> ObjectSpec:
    return ObjectSpec(obj_id, shape, colour, 10, (20.0, 20.0), (0.0, 0.0), obj_id, False)


def test_owners_follow_clips_centre_crop():
    """A 64 x 96 frame: CLIP sees columns 16..79, as a 4 x 4 grid of 16-px cells."""
    masks = np.zeros((3, 1, 64, 96), bool)
    masks[0, 0, 0:16, 16:32] = True  # exactly cell (0, 0)
    masks[1, 0, 48:64, 0:16] = True  # left of the crop: in no cell
    masks[2, 0, 20:24, 52:56] = True  # 1/16 of cell (1, 2): too little
    owners = patch_owners(masks, 4)
    expected = np.full((1, 16), -1)
    expected[0, 0] = 0
    np.testing.assert_array_equal(owners, expected)


def test_the_larger_share_owns_a_shared_patch():
    masks = np.zeros((2, 2, 32, 32), bool)
    masks[0, :, 0:16, 0:6] = True  # 6/16 of cell (0, 0)
    masks[1, :, 0:16, 6:16] = True  # 10/16 of it
    masks[1, 1] = False  # on the second frame only the first object is there
    owners = patch_owners(masks, 2)
    assert owners[0, 0] == 1 and owners[1, 0] == 0
    assert (owners[:, 1:] == -1).all()
    assert (patch_owners(np.zeros((0, 2, 32, 32), bool), 2) == -1).all()


def test_a_probe_learns_to_read_tokens_that_carry_the_answer():
    """Tokens that embed their patch's colour and shape can be read; the loss falls towards 0.
    A non-square token count is refused."""
    objects = (_object(0, "red", "circle"), _object(1, "blue", "star"))
    masks = np.zeros((2, 2, 32, 32), bool)
    masks[0, :, 0:16, 0:16] = True
    masks[1, 0, 16:32, 16:32] = True
    owners = patch_owners(masks, 2)  # (2, 4)
    torch.manual_seed(0)
    codes = torch.randn(len(objects) + 1, 16)  # one code per object, the last for background
    tokens = codes[torch.from_numpy(owners)]  # (2, 4, 16)
    probe = PatchProbe(1.0, SimpleNamespace(config=SimpleNamespace(hidden_size=16)))
    optimizer = torch.optim.Adam(probe.parameters(), lr=0.05)
    first = float(probe.token_loss(tokens, masks, objects).detach())
    for _ in range(100):
        loss = probe.token_loss(tokens, masks, objects)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss.detach()) < 0.05 * first
    logits = probe.colour(tokens[0, 0])
    assert int(logits.argmax()) == list(COLOURS).index("red")
    assert int(probe.shape(tokens[1, 3]).argmax()) == len(SHAPES)  # background
    with pytest.raises(ValueError, match="square grid"):
        probe.token_loss(torch.zeros(2, 5, 16), masks, objects)


def test_the_encoders_pretrain_with_sam_only_when_the_probe_teaches_them(tmp_path):
    folder = create_tiny_checkpoint(tmp_path / "ck", ["red circle"] * 20)
    model = VideoLISAPipeline.from_pretrained(folder, device="cpu").model
    for weight, trains in ((0.0, False), (1.0, True)):
        config = TrainConfig(output_dir=str(tmp_path), auxiliary_weights={"patch_probe": weight})
        auxiliaries = build_auxiliaries(config.auxiliary_weights, model, (SAM,))
        groups = parameter_groups(model, auxiliaries, config, SAM)
        assert len(groups) == 2 + trains  # body, head and the probe's own
        assert all(p.requires_grad == trains for p in model.vision_tower.parameters())
        assert all(p.requires_grad == trains for p in model.mm_projector.parameters())
        assert not any(p.requires_grad for p in model.llm.parameters())
