"""The model a run starts from (which of its parameters train: :mod:`.optimizer`).

* ``init: scratch`` builds a small VideoLISA (:mod:`videolisa.modeling.tiny`) whose tokenizer is
  trained on toy-world questions and answers; everything trains, SAM first on point prompts.
* ``init: pretrained`` loads a checkpoint in the published layout and follows the published
  recipe: LoRA on the LLM's attention (peft), ``lm_head``, the token embeddings, the ``<TRK>``
  head and SAM's mask decoder trained fully; CLIP, the projector and SAM's encoder frozen.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from peft import LoraConfig, inject_adapter_in_model
from peft.tuners.lora import LoraLayer

from videolisa.inference.pipeline import VideoLISAPipeline
from videolisa.modeling.tiny import create_tiny_checkpoint
from videolisa.modeling.videolisa import VideoLISAModel
from videolisa.toyworld import KINDS, WorldConfig, train_sample
from videolisa.training.config import TrainConfig

logger = logging.getLogger(__name__)

TOKENIZER_SEED = 2**20  # toy-world stream whose text trains a scratch tokenizer
TOKENIZER_SAMPLES = 20  # per kind
HEAD_BIAS_INIT = 0.5  # with HEAD_WEIGHT_SCALE, every ReLU unit of the <TRK> head starts alive
HEAD_WEIGHT_SCALE = 0.1


def toy_sentences(world: WorldConfig) -> list[str]:
    """Questions and answers of every toy-world kind, to train a scratch tokenizer on."""
    sentences = []
    for kind in KINDS:
        for index in range(TOKENIZER_SAMPLES):
            for turn in train_sample(TOKENIZER_SEED, index, kind, world).turns:
                sentences += [turn.question, turn.answer]
    return sentences


def initial_pipeline(config: TrainConfig) -> VideoLISAPipeline:
    """The model the run starts from, on the CPU in float32 (accelerate moves it)."""
    if config.init == "pretrained":
        pipeline = VideoLISAPipeline.from_pretrained(
            config.init_from, dtype="float32", device="cpu"
        )
        add_lora(pipeline.model, config)
        return pipeline
    folder = Path(config.output_dir) / "init"
    if not (folder / "config.json").is_file():
        sizes = config.model_sizes
        create_tiny_checkpoint(folder, toy_sentences(config.world), sizes, seed=config.seed)
        logger.info("built a %s model from scratch in %s", sizes, folder)
    pipeline = VideoLISAPipeline.from_pretrained(folder, dtype="float32", device="cpu")
    # The first from-scratch attempt lost the <TRK> head's ReLU units early, which made the
    # prompt embedding constant; start them all alive (pre-activations near +0.5).
    with torch.no_grad():
        pipeline.model.text_hidden_fcs[0].weight.mul_(HEAD_WEIGHT_SCALE)
        pipeline.model.text_hidden_fcs[0].bias.fill_(HEAD_BIAS_INIT)
    return pipeline


def add_lora(model: VideoLISAModel, config: TrainConfig) -> None:
    """LoRA adapters injected into the LLM's ``target_modules`` in place (the module tree and
    its other names stay as they are, so the model's own code keeps working)."""
    assert config.lora is not None, "pretrained runs need lora settings"
    lora = LoraConfig(
        r=config.lora.r,
        lora_alpha=config.lora.alpha,
        lora_dropout=config.lora.dropout,
        target_modules=list(config.lora.target_modules),
    )
    inject_adapter_in_model(lora, model.llm)


def merge_lora(model: VideoLISAModel) -> int:
    """Fold every LoRA adapter into its base layer and remove it; returns how many."""
    merged = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, LoraLayer):
                child.merge()
                setattr(parent, name, child.get_base_layer())
                merged += 1
    return merged
