"""How the app shows a turn: text as typed, track tags, notices and progress in the answer,
Stop, undo."""

from __future__ import annotations

from pathlib import Path

import app
from videolisa.chat.service import Conversation, Notice, Progress, TextDelta, TurnDone
from videolisa.modeling.chat_template import Message


def test_user_text_stays_text():
    assert app.plain_text("<b>hi</b> **x**") == "&lt;b&gt;hi&lt;/b&gt; \\*\\*x\\*\\*"


def test_consecutive_track_tags_are_spaced():
    html = app.answer_html("Sure, <TRK><TRK>.")
    assert "track 0</span> <span" in html and html.endswith("track 1</span>.")


def test_a_turn_shows_notices_progress_then_the_answer_and_its_files(tmp_path):
    view = app.TurnView()
    view.apply(Notice("New video: the conversation starts over."))
    view.apply(Progress("encode", 3, 10, 2.4))
    running = view.content()
    assert "<em>New video" in running and "Encoding the video… 30 % · 2 s" in running
    view.apply(TextDelta("Sure, <TRK>."))
    view.apply(Progress("masks", 5, 10, 3.0))
    assert "Segmenting every frame… 50 %" in view.content() and "track 0" in view.content()
    overlay, masks = tmp_path / "overlay.mp4", tmp_path / "masks.zip"
    view.apply(TurnDone("Sure, <TRK>.", 1, overlay, masks))
    text, *files = view.content()
    assert "Segmenting" not in text and files == [{"path": str(overlay)}, {"path": str(masks)}]


def test_a_stopped_turn_keeps_its_text_and_takes_no_more_events():
    view = app.TurnView()
    view.apply(TextDelta("Sure, it is"))
    view.stop()
    view.apply(TextDelta(" more"))
    assert view.content() == "Sure, it is\n\n<em>Stopped.</em>"


def test_undo_removes_the_last_turn_from_the_chat_and_the_history(tmp_path):
    state = app.ChatState(Conversation(tmp_path))
    state.start_turn([str(tmp_path / "a.mp4")], "Where is the <b>cat</b>?")
    state.conversation.session.history += [
        Message("user", "Where is the <b>cat</b>?"),
        Message("assistant", "Sure, <TRK>."),
    ]
    state.messages.append({"role": "assistant", "content": "Sure"})
    state.start_turn([], "And now?")
    state.messages.append({"role": "assistant", "content": "…"})  # not answered yet
    assert state.undo() == "And now?"
    assert len(state.messages) == 3 and len(state.conversation.session.history) == 2
    assert state.undo() == "Where is the <b>cat</b>?"
    assert state.messages == [] and state.conversation.session.history == []
    assert Path(state.conversation.pending).name == "a.mp4"


def test_examples_for_the_toy_model_come_first_and_the_rest_say_what_they_need():
    toy = app.load_examples(toy=True)
    answered = [e for e in toy if "published model" not in e["display_text"]]
    assert answered and toy[: len(answered)] == answered
    rest = toy[len(answered) :]
    assert all(e["display_text"].endswith("(for the published model)") for e in rest)
    published = app.load_examples(toy=False)
    assert all(e["display_text"] == e["text"] for e in published)
    assert all(Path(file).is_file() for e in published for file in e["files"])


def test_typed_text_undoes_plain_text():
    typed = "Where is the <b>cat</b> **now** (x_1)?"
    assert app.typed_text(app.plain_text(typed)) == typed


def test_editing_a_question_asks_it_instead_from_that_turn_on(tmp_path):
    state = app.ChatState(Conversation(tmp_path))
    history = state.conversation.session.history
    state.start_turn([str(tmp_path / "a.mp4")], "Where is the cat?")
    history += [Message("user", "Where is the cat?"), Message("assistant", "Sure, <TRK>.")]
    state.messages.append({"role": "assistant", "content": "Sure"})
    state.start_turn([], "And the dog?")
    history += [Message("user", "And the dog?"), Message("assistant", "Sure, <TRK>.")]
    state.messages.append({"role": "assistant", "content": "Sure"})
    assert state.edit(1, "Where is the bird?")  # message 1: the first question
    assert [m["content"] for m in state.messages] == [
        {"path": str(tmp_path / "a.mp4")},
        "Where is the bird?",
    ]
    assert history == [] and state.question == "Where is the bird?"
    assert Path(state.conversation.pending).name == "a.mp4"
    assert not app.ChatState(Conversation(tmp_path)).edit(0, "x")
