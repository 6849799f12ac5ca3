"""The questions and forced answers of the published VideoLISA evaluation scripts.

From showlab/VideoLISA ``evaluation/*/inference_*.py`` (videos) and ``utils/dataset.py``
(images: ``VideoValDataset`` for ReasonSeg, ``RefImgValDataset`` for refCOCO, which ask the
same questions), with the published ``[SEG]`` written as ``<TRK>``:

- ReasonVOS: a sentence (the sample's ``is_sent``) becomes ``"{sentence}. Please output the
  segmentation masks."`` as written (a sentence ending with a period gets a second one, as in the
  published script); a phrase becomes ``"Please segment the {phrase} in this scene."``
  (lower-cased).
- MeViS, Ref-YouTube-VOS, Ref-DAVIS17: ``"Please segment the {expression} in this image."``
  (lower-cased).
- Videos: the answer is forced to ``"Sure, <TRK>."``.
- Images (ReasonSeg, refCOCO): ``" {sentence} Please output segmentation mask."`` for a sentence,
  ``" What is {phrase} in this video? Please output segmentation mask."`` otherwise (the leading
  space follows the published ``"<image>\\n {}"``); the answer is forced to ``"<TRK>."``.
"""

from __future__ import annotations

from videolisa.modeling.tokenizer import FORCED_ANSWER

VIDEO_ANSWER = FORCED_ANSWER
IMAGE_ANSWER = "<TRK>."


def reasonvos_question(text: str, is_sentence: bool) -> str:
    """The ReasonVOS question for an expression text."""
    if is_sentence:
        return f"{text}. Please output the segmentation masks."
    return f"Please segment the {text.lower()} in this scene."


def referring_question(expression: str) -> str:
    """The MeViS / Ref-YouTube-VOS / Ref-DAVIS17 question for a referring expression."""
    return f"Please segment the {expression.lower()} in this image."


def image_question(text: str, is_sentence: bool) -> str:
    """The ReasonSeg / refCOCO question for a sentence or a phrase."""
    text = text.strip()
    if is_sentence:
        return f" {text} Please output segmentation mask."
    return f" What is {text} in this video? Please output segmentation mask."
