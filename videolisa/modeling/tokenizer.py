"""Tokenisation of chat prompts exactly as the published checkpoint was trained.

The checkpoint was trained with transformers 4's slow SentencePiece Llama tokenizer
(``legacy=False``). transformers 5's tokenizer differs on the very first piece (it drops the ``▁``
kept after ``<s>``; golden fact 1), so prompts are tokenised here with ``sentencepiece`` and the
published rules, reproduced in :meth:`VideoLISATokenizer.encode`.

A prompt is a sequence of *parts*: plain text, :class:`Special` markers (template tokens such as
``<|user|>`` and the track token) and :data:`IMAGE`. Only the template creates ``Special`` parts,
so text a user types is always text: typing ``<|end|>`` or ``[SEG]`` gives ordinary pieces.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2

from videolisa.errors import CheckpointError

SPIECE_UNDERLINE = "▁"
IMAGE_PLACEHOLDER_ID = -200  # where the video tokens go, as in the published input_ids
TRACK_CONCEPT = "<TRK>"  # how the track token is written in this project's text and UI
FORCED_ANSWER = f"Sure, {TRACK_CONCEPT}."  # the published evaluation's answer (videos)


@dataclass(frozen=True)
class Special:
    """A template marker that becomes one token id (``<|user|>``, the track token...)."""

    token: str


@dataclass(frozen=True)
class ImagePlaceholder:
    """Where the video tokens are spliced in."""


IMAGE = ImagePlaceholder()
Part = str | Special | ImagePlaceholder


class VideoLISATokenizer:
    """SentencePiece pieces plus the checkpoint's added tokens (``added_tokens.json``)."""

    def __init__(
        self,
        model_proto: bytes,
        added_tokens: dict[str, int],
        special_tokens: Iterable[str],
        track_token: str,
        unk_token: str = "<unk>",
        bos_token: str = "<s>",
    ) -> None:
        proto = sentencepiece_model_pb2.ModelProto()
        proto.ParseFromString(model_proto)
        # legacy=False: no dummy prefix; the published rules add the leading "▁" themselves.
        proto.normalizer_spec.add_dummy_prefix = False
        self._sp = spm.SentencePieceProcessor(model_proto=proto.SerializeToString())
        self._model_proto = model_proto
        self.added_tokens = dict(added_tokens)
        self._added_by_id = {i: t for t, i in self.added_tokens.items()}
        self.special_tokens = frozenset(special_tokens)  # bos/eos/unk/pad: the ``▁`` rule
        self.unk_token = unk_token
        self._unk_length = len(self._sp.encode(unk_token, out_type=str))
        self.bos_id = self.token_id(bos_token)
        if track_token not in self.added_tokens:
            raise CheckpointError(
                f"The track token '{track_token}' is not in the tokenizer's added tokens.",
                "Use the checkpoint's own tokenizer files.",
            )
        self.track_token = track_token
        self.track_token_id = self.added_tokens[track_token]

    @classmethod
    def from_folder(cls, folder: str | Path, track_token: str | None = None) -> VideoLISATokenizer:
        """Load ``tokenizer.model``, ``tokenizer_config.json``, ``added_tokens.json`` and
        ``special_tokens_map.json`` from a checkpoint folder.

        ``track_token`` defaults to the tokenizer's one non-special added token: the published
        training added ``[SEG]`` with ``add_tokens`` while every Phi-3 token is special.
        """
        folder = Path(folder)
        model_file = folder / "tokenizer.model"
        if not model_file.is_file():
            raise CheckpointError(
                f"No tokenizer.model in {folder}.",
                "Use a checkpoint folder that holds its SentencePiece tokenizer files.",
            )
        config = _read_json(folder / "tokenizer_config.json")
        decoder = config.get("added_tokens_decoder", {})
        added = {entry["content"]: int(i) for i, entry in decoder.items()}
        added.update(_read_json(folder / "added_tokens.json"))
        special_map = _read_json(folder / "special_tokens_map.json")
        names = ("bos_token", "eos_token", "unk_token", "pad_token")
        specials = {_content(special_map.get(n) or config.get(n)) for n in names} - {None}
        specials |= {_content(t) for t in special_map.get("additional_special_tokens", [])}
        if track_token is None:
            plain = [entry["content"] for entry in decoder.values() if not entry.get("special")]
            if len(plain) != 1:
                raise CheckpointError(
                    f"Cannot tell the track token among the added tokens {plain or 'none'}.",
                    "Set 'track_token' in the checkpoint's config.json.",
                )
            track_token = plain[0]
        return cls(
            model_file.read_bytes(),
            added,
            specials,
            track_token,
            unk_token=_content(special_map.get("unk_token") or config.get("unk_token")) or "<unk>",
            bos_token=_content(special_map.get("bos_token") or config.get("bos_token")) or "<s>",
        )

    @property
    def vocab_size(self) -> int:
        return max(self._sp.get_piece_size(), max(self.added_tokens.values(), default=0) + 1)

    def token_id(self, token: str) -> int:
        """The id of an added token or a SentencePiece control piece such as ``<s>``."""
        if token in self.added_tokens:
            return self.added_tokens[token]
        piece_id = self._sp.piece_to_id(token)
        if piece_id == self._sp.unk_id() and token != self.unk_token:
            raise CheckpointError(f"The tokenizer has no token '{token}'.")
        return piece_id

    def encode(self, parts: Sequence[Part]) -> list[int]:
        """Token ids of a prompt: ``<s>``, then each chunk between images as the published
        ``tokenizer_image_token`` produced it, with :data:`IMAGE_PLACEHOLDER_ID` per image."""
        ids = [self.bos_id]
        chunk: list[str | Special] = []
        for part in [*parts, IMAGE]:
            if isinstance(part, ImagePlaceholder):
                ids += self._encode_chunk(chunk)
                ids.append(IMAGE_PLACEHOLDER_ID)
                chunk = []
            elif isinstance(part, str) and chunk and isinstance(chunk[-1], str):
                chunk[-1] += part
            else:
                chunk.append(part)
        return ids[:-1]

    def _encode_chunk(self, chunk: Sequence[str | Special]) -> list[int]:
        # transformers 4 LlamaTokenizer(legacy=False).tokenize: "▁" in text becomes a space,
        # the chunk gets a "▁" prefix (a lone "▁" before bos/eos/unk/pad is dropped), and text
        # runs starting with "▁" or " " keep it through the "<unk>" trick of _encode_text.
        if not chunk:
            return []
        parts = [p.replace(SPIECE_UNDERLINE, " ") if isinstance(p, str) else p for p in chunk]
        first = parts[0]
        if isinstance(first, str):
            parts[0] = SPIECE_UNDERLINE + first
        elif first.token not in self.special_tokens:
            parts.insert(0, SPIECE_UNDERLINE)
        ids: list[int] = []
        for part in parts:
            if isinstance(part, Special):
                ids.append(self.token_id(part.token))
            else:
                ids += self._encode_text(part)
        return ids

    def _encode_text(self, text: str) -> list[int]:
        if not text:
            return []
        # SentencePiece takes UTF-8 only: a lone surrogate (an undecodable byte of a command
        # line argument) becomes U+FFFD, a split surrogate pair the character it encodes.
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        if not text.startswith((SPIECE_UNDERLINE, " ")):
            return self._sp.encode(text)
        return self._sp.encode(self.unk_token + text)[self._unk_length :]

    def decode(self, ids: Sequence[int], track_text: str = TRACK_CONCEPT) -> str:
        """Text of ``ids``; added tokens appear as their strings, the track token as
        ``track_text``; ``<s>`` and the image placeholder are left out."""
        pieces: list[str] = []
        run: list[int] = []
        for token_id in [*ids, None]:
            if token_id is not None and (token_id < 0 or token_id == self.bos_id):
                continue
            if token_id is not None and token_id not in self._added_by_id:
                run.append(token_id)
                continue
            if run:
                pieces.append(self._sp.decode(run))
                run = []
            if token_id == self.track_token_id:
                pieces.append(track_text)
            elif token_id is not None:
                pieces.append(self._added_by_id[token_id])
        return "".join(pieces)

    def save(self, folder: str | Path) -> None:
        """Write the tokenizer files in the published layout."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "tokenizer.model").write_bytes(self._model_proto)
        (folder / "added_tokens.json").write_text(json.dumps(self.added_tokens, indent=2))
        decoder = {
            str(i): {"content": t, "special": t != self.track_token}
            for t, i in sorted(self.added_tokens.items(), key=lambda item: item[1])
        }
        config = {
            "tokenizer_class": "LlamaTokenizer",
            "legacy": False,
            "added_tokens_decoder": decoder,
        }
        (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
        bos = self._sp.id_to_piece(self.bos_id)
        special_map = {"bos_token": bos, "unk_token": self.unk_token}
        (folder / "special_tokens_map.json").write_text(json.dumps(special_map, indent=2))


def _read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path} is not valid JSON ({error}).") from None


def _content(token: str | dict | None) -> str | None:
    return token.get("content") if isinstance(token, dict) else token
