"""The published evaluation prompts."""

from __future__ import annotations

from videolisa.evaluation.prompts import image_question, reasonvos_question, referring_question


def test_reasonvos_questions():
    asked = "Which animal is about to jump"
    assert reasonvos_question(asked, True) == f"{asked}. Please output the segmentation masks."
    # As the published script formats it: a sentence ending with a period gets a second one.
    assert reasonvos_question("The cat.", True) == "The cat.. Please output the segmentation masks."
    assert reasonvos_question("Black Cat", False) == "Please segment the black cat in this scene."


def test_referring_and_image_questions():
    assert referring_question("The Dog") == "Please segment the the dog in this image."
    assert image_question("A cup ", True) == " A cup Please output segmentation mask."
    assert image_question("cup", False) == (
        " What is cup in this video? Please output segmentation mask."
    )
