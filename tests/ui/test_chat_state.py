"""The chat's state holds message indices only; Undo, Edit and Retry roll the conversation back
to the start of a turn, so the model's history and video are exactly as before it, also after a
turn that brought a new video."""

from __future__ import annotations

from pathlib import Path

from videolisa.chat.conversation import Conversation
from videolisa.chat.events import TurnFailed
from videolisa.modeling.chat_template import Message
from videolisa.ui.chat_state import ChatState


def answered(state: ChatState, answer: str, video: str | None = None) -> None:
    """What a finished turn does to the conversation (the service's part, by hand)."""
    conversation = state.conversation
    if conversation.pending is not None:
        conversation.video, conversation.pending = conversation.pending, None
        if conversation.session.set_video(str(conversation.video)):
            pass
    conversation.session.history += [Message("user", state.question), Message("assistant", answer)]
    state.answer()


def snapshot(conversation: Conversation):
    session = conversation.session
    return list(session.history), session.video_key, conversation.video, conversation.pending


def test_undo_removes_the_last_turn_from_the_chat_and_the_conversation(tmp_path):
    state = ChatState(Conversation(tmp_path))
    state.start_turn([str(tmp_path / "a.mp4")], "Where is the <b>cat</b>?")
    answered(state, "Sure, <TRK>.")
    state.start_turn([], "And now?")
    state.answer()  # not answered yet
    assert state.undo() == "And now?"
    assert len(state.messages) == 3 and len(state.conversation.session.history) == 2
    assert state.undo() == "Where is the <b>cat</b>?"
    assert state.messages == [] and state.conversation.session.history == []
    assert state.conversation.pending is None and state.conversation.video is None


def test_undo_and_edit_after_a_turn_with_a_new_video_leave_the_model_as_before(tmp_path):
    state = ChatState(Conversation(tmp_path))
    state.start_turn([str(tmp_path / "shapes.mp4")], "Where is the circle?")
    answered(state, "Sure, <TRK>.")
    before = snapshot(state.conversation)
    state.start_turn([str(tmp_path / "motion.mp4")], "What moves?")
    answered(state, "The star.")  # the new video cleared the history
    assert snapshot(state.conversation) != before
    state.undo()
    assert snapshot(state.conversation) == before
    assert [m["content"] for m in state.messages][:2] == [
        {"path": str(tmp_path / "shapes.mp4")},
        "Where is the circle?",
    ]

    state.start_turn([str(tmp_path / "motion.mp4")], "What moves?")
    answered(state, "The star.")
    second = state.turn_starts[1]
    assert state.edit(second + 1, "What is still?")  # its question, edited
    history, key, video, pending = snapshot(state.conversation)
    assert (history, key, video) == before[:3]  # as before that turn...
    assert pending == (tmp_path / "motion.mp4").resolve()  # ... with its video attached again
    assert state.question == "What is still?" and state.messages[-1]["content"] == "What is still?"


def test_retry_asks_the_last_question_again_with_its_video(tmp_path):
    state = ChatState(Conversation(tmp_path))
    state.start_turn([str(tmp_path / "a.mp4")], "Where is the cat?")
    answered(state, "Sure, <TRK>.")
    assert state.retry()
    assert state.question == "Where is the cat?" and state.conversation.session.history == []
    assert Path(state.conversation.pending).name == "a.mp4"
    assert len(state.messages) == 2  # the question again, waiting for its answer
    assert not ChatState(Conversation(tmp_path)).retry()


def test_editing_an_earlier_question_drops_the_later_turns(tmp_path):
    state = ChatState(Conversation(tmp_path))
    history = state.conversation.session.history
    state.start_turn([str(tmp_path / "a.mp4")], "Where is the cat?")
    answered(state, "Sure, <TRK>.")
    state.start_turn([], "And the dog?")
    answered(state, "Sure, <TRK>.")
    assert state.edit(1, "Where is the bird?")  # message 1: the first question
    assert [m["content"] for m in state.messages] == [
        {"path": str(tmp_path / "a.mp4")},
        "Where is the bird?",
    ]
    assert state.conversation.session.history == [] and history is not None
    assert state.question == "Where is the bird?"
    assert not ChatState(Conversation(tmp_path)).edit(0, "x")


def test_a_refused_video_leaves_the_chat(tmp_path):
    state = ChatState(Conversation(tmp_path))
    state.start_turn([str(tmp_path / "broken.mp4")], "Where is it?")
    view = state.answer()
    view.apply(TurnFailed("Cannot read broken.mp4.", refused_video=True))
    state.show(view)
    assert [m["role"] for m in state.messages] == ["user", "assistant"]
    assert state.messages[0]["content"] == "Where is it?"
    assert state.views == {1: view}
