"""First question and follow-up, this project against the published code, on the same weights.

Both sides load the golden tiny checkpoint (../shared/golden/tiny, the published layout), take
the same synthetic video from memory (default 64 frames of 64×64, 32 sparse / 4 dense frames),
ask one warm-up question on another video, then time a first question and a follow-up, the
answer forced as in the published evaluation, to binary masks of every frame on the CPU.

- ``--side published`` runs the published code (showlab/VideoLISA at 146f2bc, ``--published
  DIR``) the way its ``chat.py`` does: CLIP and SAM preprocessing frame by frame, then
  ``VideoLISAForCausalLM.evaluate``. It has no cache, so its follow-up repeats every step. Run
  it with the transformers release the code was written for (4.41.2; the golden record was
  checked against it) on ``PYTHONPATH``; CPU changes only: ``Tensor.cuda`` is the identity, and
  the golden SAM's sizes replace ``build_sam_vit_h``'s.
- ``--side project`` runs this project's pipeline: encode once, answer, masks; the follow-up
  reuses the encoded video.
- ``--runs N`` alternates N processes of each side (published, project, published, ...) and
  prints the medians and the median of the N pairwise ratios.

Each side prints one JSON line: seconds per stage of both questions, and the first question's
mask pixel count (the two sides must agree: same weights, same pixels).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parents[1]
GOLDEN = PROJECT_ROOT.parent / "shared" / "golden" / "tiny"
QUESTIONS = (
    "Please segment the red square.",  # warm-up, on another video
    "Please segment the red square in this video.",
    "Now please segment the green square.",
)
FORCED = "Sure, [SEG]."


def synthetic(num_frames: int, size: int, seed: int) -> np.ndarray:
    """(T, size, size, 3) uint8: noise, a red square moving right, a green one moving left."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 60, (num_frames, size, size, 3), dtype=np.uint8)
    for t in range(num_frames):
        x = (t * 3) % (size - 12)
        frames[t, 10:22, x : x + 12] = (220, 30, 30)
        left = size - 20 - x // 2
        frames[t, size - 20 : size - 8, left : left + 12] = (30, 200, 40)
    return frames


def project_side(args: argparse.Namespace) -> dict:
    from videolisa.inference.encoded_video import EncodeSettings
    from videolisa.inference.pipeline import VideoLISAPipeline
    from videolisa.modeling.chat_template import Message

    pipeline = VideoLISAPipeline.from_pretrained(GOLDEN, dtype="float32", device="cpu")
    settings = EncodeSettings(args.sparse, args.dense)

    def first(frames, question):
        start = time.perf_counter()
        encoded = pipeline.encode(frames, settings)
        encoded_at = time.perf_counter()
        answer = pipeline.answer(encoded, [], question, forced_answer=FORCED)
        answered_at = time.perf_counter()
        masks = pipeline.track_masks(encoded, answer.track_embeddings)
        stages = dict(encoded.seconds)
        stages["llm"], stages["masks"] = answered_at - encoded_at, time.perf_counter() - answered_at
        stages["total"] = time.perf_counter() - start
        return stages, encoded, answer, masks

    def followup(encoded, history, question):
        start = time.perf_counter()
        answer = pipeline.answer(encoded, history, question, forced_answer=FORCED)
        answered_at = time.perf_counter()
        pipeline.track_masks(encoded, answer.track_embeddings)
        end = time.perf_counter()
        return {"llm": answered_at - start, "masks": end - answered_at, "total": end - start}

    warm = synthetic(args.frames, args.size, seed=1)
    _, encoded, answer, _ = first(warm, QUESTIONS[0])
    history = [Message("user", QUESTIONS[0]), Message("assistant", answer.text)]
    followup(encoded, history, QUESTIONS[2])
    frames = synthetic(args.frames, args.size, seed=0)
    stages, encoded, answer, masks = first(frames, QUESTIONS[1])
    history = [Message("user", QUESTIONS[1]), Message("assistant", answer.text)]
    later = followup(encoded, history, QUESTIONS[2])
    return {"first": stages, "followup": later, "mask_pixels": int(masks[0].sum())}


def published_side(args: argparse.Namespace) -> dict:
    import torch
    import transformers

    sys.path.insert(0, str(Path(args.published).resolve()))
    torch.Tensor.cuda = lambda self, *a, **k: self  # the published code calls .cuda() throughout
    import model.VideoLISA as published
    from model.llava import conversation as conversation_lib
    from model.llava.mm_utils import tokenizer_image_token
    from model.segment_anything.utils.transforms import ResizeLongestSide

    if transformers.__version__.startswith("4."):
        from transformers import CLIPImageProcessor as PilClipProcessor  # the PIL one in 4.x
    else:
        from transformers import CLIPImageProcessorPil as PilClipProcessor
    chat = _functions(
        Path(args.published) / "chat.py",
        ("preprocess", "uniform_sample", "get_sparse_indices", "get_dense_indices"),
        {"np": np, "torch": torch, "F": torch.nn.functional},
    )
    extras = json.loads((GOLDEN / "config.json").read_text())["videolisa_golden_extras"]
    published.build_sam_vit_h = lambda checkpoint=None: _golden_sam(extras["sam_config"])
    tokenizer = transformers.AutoTokenizer.from_pretrained(
        GOLDEN, use_fast=False, padding_side="right"
    )
    tokenizer.pad_token = tokenizer.unk_token
    clip_dir = str(GOLDEN / extras["clip_vision_tower_dir"])
    model = published.VideoLISAForCausalLM.from_pretrained(
        GOLDEN,
        low_cpu_mem_usage=True,
        vision_tower=clip_dir,
        seg_token_idx=tokenizer("[SEG]", add_special_tokens=False).input_ids[-1],
        # 4.41 enables only eager attention for Phi-3 on a CPU (flash-attention 2 on GPUs)
        attn_implementation="eager" if transformers.__version__.startswith("4.") else "sdpa",
        torch_dtype=torch.float32,
    )
    model.get_model().initialize_vision_modules(model.get_model().config)
    model.eval()
    clip_processor = PilClipProcessor.from_pretrained(clip_dir)
    transform = ResizeLongestSide(extras["sam_config"]["img_size"])

    def turn(frame_list, question):  # chat.py's loop body, on frames in memory
        stages, start = {}, time.perf_counter()
        conv = conversation_lib.conv_templates["phi3_instruct"].copy()
        conv.messages = []
        conv.append_message(conv.roles[0], "<image>\n" + question)
        conv.append_message(conv.roles[1], FORCED)
        prompt = conv.get_prompt()
        sparse = chat.get_sparse_indices(len(frame_list), args.sparse)
        dense = chat.get_dense_indices(args.sparse, args.dense)
        image_list_clip, image_list_sam = [], []
        for index in sparse:
            pixels = clip_processor.preprocess(frame_list[index], return_tensors="pt")
            image_list_clip.append(pixels["pixel_values"][0].unsqueeze(0).float())
        original_size_list = [frame_list[0].shape[:2]]
        stages["clip_preprocess"] = time.perf_counter() - start
        for frame in frame_list:
            image = transform.apply_image(frame)
            resize_list = [image.shape[:2]]
            image = torch.from_numpy(image).permute(2, 0, 1).contiguous()
            image_list_sam.append(chat.preprocess(image, img_size=transform.target_length)[None])
        stages["sam_preprocess"] = time.perf_counter() - start - stages["clip_preprocess"]
        input_ids = tokenizer_image_token(prompt, tokenizer, return_tensors="pt").unsqueeze(0)
        evaluated_at = time.perf_counter()
        _, pred_masks = model.evaluate(
            torch.stack(image_list_clip, dim=1),
            torch.stack(image_list_sam, dim=1),
            input_ids,
            resize_list,
            original_size_list,
            dense_indices=[dense],
            num_frames_sparse=args.sparse,
            num_frames_dense=args.dense,
        )
        masks = [mask.detach().cpu().numpy() > 0 for mask in pred_masks]
        stages["evaluate"] = time.perf_counter() - evaluated_at
        stages["total"] = time.perf_counter() - start
        return stages, masks

    turn(list(synthetic(args.frames, args.size, seed=1)), QUESTIONS[0])
    frame_list = list(synthetic(args.frames, args.size, seed=0))
    first, masks = turn(frame_list, QUESTIONS[1])
    followup, _ = turn(frame_list, QUESTIONS[2])
    return {"first": first, "followup": followup, "mask_pixels": int(masks[0].sum())}


def _functions(path: Path, names: tuple[str, ...], namespace: dict) -> types.SimpleNamespace:
    """Functions of a published script, taken from its source (chat.py imports cv2 and its
    video reader at the top, which these functions do not need)."""
    tree = ast.parse(path.read_text())
    body = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in names]
    exec(compile(ast.Module(body=body, type_ignores=[]), str(path), "exec"), namespace)
    return types.SimpleNamespace(**{name: namespace[name] for name in names})


def _golden_sam(c: dict):
    """``build_sam_vit_h``'s construction (the published SAM classes) at the golden sizes."""
    from functools import partial

    import torch
    from model.segment_anything.modeling import (
        ImageEncoderViT,
        MaskDecoder,
        PromptEncoder,
        Sam,
        TwoWayTransformer,
    )

    side = c["img_size"] // c["vit_patch_size"]
    encoder = ImageEncoderViT(
        depth=c["encoder_depth"],
        embed_dim=c["encoder_embed_dim"],
        img_size=c["img_size"],
        mlp_ratio=c["mlp_ratio"],
        norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
        num_heads=c["encoder_num_heads"],
        patch_size=c["vit_patch_size"],
        qkv_bias=True,
        use_rel_pos=True,
        global_attn_indexes=c["encoder_global_attn_indexes"],
        window_size=c["window_size"],
        out_chans=c["prompt_embed_dim"],
    )
    decoder = MaskDecoder(
        num_multimask_outputs=c["num_multimask_outputs"],
        transformer=TwoWayTransformer(
            depth=c["decoder_transformer_depth"],
            embedding_dim=c["prompt_embed_dim"],
            mlp_dim=c["decoder_mlp_dim"],
            num_heads=c["decoder_num_heads"],
        ),
        transformer_dim=c["prompt_embed_dim"],
        iou_head_depth=c["iou_head_depth"],
        iou_head_hidden_dim=c["iou_head_hidden_dim"],
    )
    prompt = PromptEncoder(
        embed_dim=c["prompt_embed_dim"],
        image_embedding_size=(side, side),
        input_image_size=(c["img_size"], c["img_size"]),
        mask_in_chans=c["mask_in_chans"],
    )
    sam = Sam(encoder, prompt, decoder, pixel_mean=c["pixel_mean"], pixel_std=c["pixel_std"])
    return sam.eval()


def summarise(runs: dict[str, list[dict]]) -> dict:
    """Medians per side and question, the ratio of medians and the median pairwise ratio."""
    summary = {}
    for turn in ("first", "followup"):
        published = [run[turn]["total"] for run in runs["published"]]
        project = [run[turn]["total"] for run in runs["project"]]
        pairs = [a / b for a, b in zip(published, project, strict=True)]
        summary[turn] = {
            "published_ms": 1000 * statistics.median(published),
            "project_ms": 1000 * statistics.median(project),
            "speedup": statistics.median(published) / statistics.median(project),
            "pairwise_speedup": statistics.median(pairs),
            "pairwise_range": [min(pairs), max(pairs)],
        }
        for side in ("published", "project"):
            stages = runs[side][0][turn]
            summary[turn][f"{side}_stages_ms"] = {
                name: 1000 * statistics.median(run[turn][name] for run in runs[side])
                for name in stages
            }
    pixels = {side: sorted({run["mask_pixels"] for run in runs[side]}) for side in runs}
    summary["masks_agree"] = pixels["published"] == pixels["project"]
    return summary


def _drive(args: argparse.Namespace) -> None:
    """``--runs N``: alternate N processes of each side and print the summary."""
    common = [
        f"--frames={args.frames}",
        f"--size={args.size}",
        f"--sparse={args.sparse}",
        f"--dense={args.dense}",
        f"--threads={args.threads}",
    ]
    sides = {
        "published": [f"--published={args.published}"],
        "project": [],
    }
    environment = {
        "published": {**os.environ, "PYTHONPATH": args.published_path},
        "project": {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    }
    runs: dict[str, list[dict]] = {"published": [], "project": []}
    for _ in range(args.runs):
        for side, extra in sides.items():
            command = [sys.executable, "-m", "scripts.published_comparison", f"--side={side}"]
            done = subprocess.run(
                [*command, *common, *extra],
                cwd=PROJECT_ROOT,
                env=environment[side],
                capture_output=True,
                text=True,
                check=True,
            )
            runs[side].append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(json.dumps(summarise(runs), indent=2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--side", choices=["published", "project"], default=None)
    parser.add_argument("--runs", type=int, default=20, help="processes of each side")
    parser.add_argument("--published", default="../VideoLISA", help="showlab/VideoLISA checkout")
    parser.add_argument(
        "--published-path",
        default="",
        help="PYTHONPATH of the published side (where transformers 4.41.2 is installed)",
    )
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--sparse", type=int, default=32)
    parser.add_argument("--dense", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2, help="torch threads of each side")
    args = parser.parse_args(argv)
    if args.side is None:
        _drive(args)
        return 0
    import torch

    torch.set_num_threads(args.threads)
    result = published_side(args) if args.side == "published" else project_side(args)
    print(json.dumps({"side": args.side, "threads": args.threads, **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
