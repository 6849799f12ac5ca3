"""Which parameters train in which stage, at which learning rate, and the schedule.

Every optimizer group of a run is built by :func:`parameter_groups`: the model's own (body and
head, by stage and init mode) and the auxiliary losses' (their own parameters at the head's
rate, and any model parameters an auxiliary needs trained).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from videolisa.modeling.videolisa import VideoLISAModel
from videolisa.training.auxiliary import SAM, Auxiliary, Stage
from videolisa.training.config import TrainConfig


def parameter_groups(
    model: VideoLISAModel,
    auxiliaries: Mapping[str, Auxiliary],
    config: TrainConfig,
    stage: Stage,
) -> list[dict]:
    """AdamW groups for ``stage``, with ``requires_grad`` set on the model to match.

    * SAM stage: SAM's image encoder (body) and its prompt encoder and mask decoder (head);
    * joint, init scratch: the LLM, the projector, the CLIP tower and, unless
      ``freeze_sam_encoder``, SAM's encoder (body); the mask decoder, the prompt encoder and the
      ``<TRK>`` head (head);
    * joint, init pretrained (the published recipe): the LoRA adapters, ``lm_head`` and the token
      embeddings (body); the mask decoder, the prompt encoder and the ``<TRK>`` head (head);
    * in every stage, the model parameters an auxiliary running there asks for (body) and the
      auxiliaries' own parameters (their own group at the head's rate).
    """
    head_lr = config.head_lr or config.lr
    model.requires_grad_(False)
    body: list[nn.Parameter] = []
    head: list[nn.Parameter] = [
        *model.sam.mask_decoder.parameters(),
        *model.sam.prompt_encoder.parameters(),
    ]
    if stage == SAM:
        body += model.sam.image_encoder.parameters()
    elif config.init == "scratch":
        head += model.text_hidden_fcs.parameters()
        body += [*model.llm.parameters(), *model.mm_projector.parameters()]
        body += model.vision_tower.parameters()
        if not config.freeze_sam_encoder:
            body += model.sam.image_encoder.parameters()
    else:
        head += model.text_hidden_fcs.parameters()
        body += [p for n, p in model.llm.named_parameters() if "lora_" in n]
        body += [*model.llm.lm_head.parameters(), *model.llm.get_input_embeddings().parameters()]
    running = [a for a in auxiliaries.values() if a.weight_in(stage) > 0]
    for auxiliary in running:
        chosen = {id(p) for p in body + head}
        body += [p for p in auxiliary.model_parameters(model, stage) if id(p) not in chosen]
    groups = [{"params": body, "lr": config.lr}, {"params": head, "lr": head_lr}]
    for group in groups:
        for parameter in group["params"]:
            parameter.requires_grad_(True)
    for auxiliary in running:
        groups.append({"params": list(auxiliary.parameters()), "lr": head_lr})
    return [g for g in groups if g["params"]]


def build_optimizer(
    model: VideoLISAModel,
    auxiliaries: Mapping[str, Auxiliary],
    config: TrainConfig,
    stage: Stage,
) -> torch.optim.AdamW:
    """AdamW over :func:`parameter_groups` with the config's betas and weight decay."""
    groups = parameter_groups(model, auxiliaries, config, stage)
    return torch.optim.AdamW(groups, betas=config.betas, weight_decay=config.weight_decay)


def lr_factor(config: TrainConfig, step: int) -> float:
    """The multiplier of every base learning rate at ``step`` (0-based): a linear warm-up, a
    constant middle, a linear decay to 0 over the last ``decay_steps`` (warm-up, stable, decay).
    A pure function of the step, so a resumed run follows the same schedule."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    remaining = config.steps - step
    if remaining <= config.decay_steps:
        return remaining / config.decay_steps
    return 1.0


def set_learning_rates(optimizer: torch.optim.Optimizer, factor: float) -> None:
    """Scale every group's base learning rate (kept in ``initial_lr``) by ``factor``."""
    for group in optimizer.param_groups:
        group.setdefault("initial_lr", group["lr"])
        group["lr"] = group["initial_lr"] * factor
