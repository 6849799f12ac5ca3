"""What the chat page does on each of its events: a message or an example starts a turn, the
turn streams into one assistant message, Stop, Clear, Undo, Edit and Retry act on the chat's
state, the frame viewer shows, hides and redraws an answer's tracks (no model call), and a click
on it corrects the answer (its SAM decoder and tracker only).

Gradio's own types come in the handlers' signatures (Gradio fills in ``gr.Request`` and the
event data from them); everything else is :mod:`videolisa.ui` and :mod:`videolisa.chat`.
"""

import logging
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import gradio as gr

from videolisa.chat.events import Notice, TurnDone, TurnEvent, TurnFailed
from videolisa.chat.service import ChatService
from videolisa.errors import UserInputError
from videolisa.inference.visual_prompts import Box, Click, FramePrompt
from videolisa.ui.chat_state import ChatState
from videolisa.ui.render import POINTED, track_words, typed_text
from videolisa.ui.turn_view import TurnView

logger = logging.getLogger(__name__)

VIEWER_WIDTH = 480  # frames narrower than this are shown enlarged by a whole factor


def viewer_scale(done: TurnDone) -> int:
    """The whole factor the frame viewer enlarges answer ``done``'s frames by (at most 8)."""
    width = max(1, done.frame_width)
    return max(1, min(8, VIEWER_WIDTH // width))


def track_choices(view: TurnView) -> list[tuple[str, int]]:
    """(label, track) of each track of ``view``'s answer, for the tracks shown and the track
    picker: "track k: what it is in words" (tracks made by pointing have no words of the
    answer)."""
    done = view.done
    words = track_words(done.answer, view.question)
    words += [POINTED] * (done.num_tracks - len(words))
    return [
        (f"track {t}" + (f": {words[t]}" if words[t] else ""), t) for t in range(done.num_tracks)
    ]


ADD, REMOVE = "adds to the track", "removes from the track"
NEW, BOX = "starts a new object", "draws a box (two corners)"
POINTING = (ADD, REMOVE, NEW, BOX)  # what a click on the frame viewer does


class Sessions:
    """The chat states of a server, by Gradio session, so that a closed tab frees its files at
    once (the states themselves are Gradio's, dropped when it drops them)."""

    def __init__(self, service: ChatService) -> None:
        self.service = service
        self._by_session: weakref.WeakValueDictionary[str, ChatState] = (
            weakref.WeakValueDictionary()
        )

    def new(self, request: gr.Request | None = None) -> ChatState:
        state = ChatState(self.service.conversations.open())
        if request is not None and request.session_hash:
            self._by_session[request.session_hash] = state
        return state

    def close(self, state: ChatState | None) -> None:
        if state is not None:
            self.service.conversations.close(state.conversation)

    def closed_tab(self, request: gr.Request) -> None:
        self.close(self._by_session.pop(request.session_hash, None))


class ChatEvents:
    """The handlers of the chat page's events, on one service. ``gpu`` wraps the handler that
    runs the model (ZeroGPU Spaces' ``spaces.GPU``; elsewhere nothing)."""

    def __init__(
        self, service: ChatService, sessions: Sessions, gpu: Callable[[Callable], Callable]
    ) -> None:
        self.service = service
        self.sessions = sessions
        self.respond = gpu(self._respond)

    # ----------------------------------------------------------------------- a turn
    def add_message(
        self, message: dict[str, Any], state: ChatState | None, request: gr.Request
    ) -> tuple:
        """Show the user's message; a blank message without a file changes nothing."""
        return self._start(message, state, request, uploads=True)

    def add_example(
        self, selected: gr.SelectData, state: ChatState | None, request: gr.Request
    ) -> tuple:
        example = selected.value or {}
        files = [f["path"] if isinstance(f, dict) else f for f in example.get("files") or []]
        message = {"text": example.get("text"), "files": files}
        return self._start(message, state, request, uploads=False)

    def _start(
        self, message: dict[str, Any], state: ChatState | None, request: gr.Request, uploads: bool
    ) -> tuple:
        state = state or self.sessions.new(request)
        files, question = message.get("files") or [], message.get("text") or ""
        if not files and not question.strip():
            return gr.MultimodalTextbox(value=None), state.messages, state, False
        state.start_turn(files, question, uploads=uploads)
        box = gr.MultimodalTextbox(value=None, interactive=False, submit_btn=False, stop_btn=True)
        return box, state.messages, state, True

    def _respond(self, state: ChatState | None, go: bool, **values: Any) -> Iterator[tuple]:
        """Stream the answer to the waiting question into a new assistant message."""
        if state is None or not go:
            yield (state.messages if state else []), state
            return
        state.refresh()
        view = state.answer()
        try:
            settings = self.service.form.settings(values)
        except UserInputError as error:
            view.apply(TurnFailed(str(error)))
            state.show(view)
            yield state.messages, state
            return
        view.opacity = settings.display.opacity
        turn = self.service.run_turn(state.conversation, state.question, settings)
        try:
            for event in turn:
                if state.stop_asked.is_set():
                    break  # Stop: the turn ends here, at its next step
                view.apply(event)
                state.show(view)
                yield state.messages, state
        finally:
            turn.close()  # a closed tab closes this generator; the turn stops at its next step
        if state.stop_asked.is_set():
            view.stop()
            state.show(view)
            yield state.messages, state

    @staticmethod
    def restore_box() -> gr.MultimodalTextbox:
        return gr.MultimodalTextbox(interactive=True, submit_btn=True, stop_btn=False)

    def stop(self, state: ChatState | None) -> tuple:
        """Stop: the running turn ends at its next step; the answer so far stays, marked as
        stopped."""
        if state is None:
            return [], self.restore_box()
        state.stop_asked.set()
        view = state.view
        if view is not None and not view.finished:
            view.stop()
            state.show(view)
        return state.messages, self.restore_box()

    def clear(self, state: ChatState | None) -> tuple:
        if state is not None:
            state.stop_asked.set()
        self.sessions.close(state)
        box = gr.MultimodalTextbox(value=None, interactive=True, stop_btn=False)
        return [], None, box, gr.Group(visible=False)

    @staticmethod
    def undo(state: ChatState | None) -> tuple:
        if state is None:
            return [], gr.MultimodalTextbox()
        question = state.undo()
        return state.messages, gr.MultimodalTextbox(value={"text": question, "files": []})

    @staticmethod
    def edit(edited: gr.EditData, state: ChatState | None) -> tuple:
        index = edited.index[0] if isinstance(edited.index, list | tuple) else edited.index
        value = edited.value if isinstance(edited.value, str) else str(edited.value)
        if state is None or not state.edit(index, typed_text(value)):
            return (state.messages if state else []), state, False
        return state.messages, state, True

    @staticmethod
    def retry(state: ChatState | None) -> tuple:
        if state is None or not state.retry():
            return (state.messages if state else []), state, False
        return state.messages, state, True

    # ---------------------------------------------------------------- the frame viewer
    def viewer(self, state: ChatState | None, index: int | None = None) -> tuple:
        """The frame viewer of answer ``index`` (default the last one with masks): (its group,
        the tracks shown, the frame slider, the frame, the frame with the masks, the track
        picker of pointing, the state)."""
        hidden = (gr.Group(visible=False), *(gr.skip(),) * 5, state)
        if state is None:
            return hidden
        answers = {i: v for i, v in state.views.items() if v.done and v.done.num_tracks}
        if index is None:
            index = max(answers, default=None)
        view = answers.get(index)
        if view is None:
            return hidden
        state.selected = index
        done = view.done
        try:
            original, overlay = self._frames(done, done.num_frames // 2, view.shown, view.opacity)
        except (UserInputError, OSError) as error:  # its files are gone (a closed chat)
            logger.info("no frame viewer: %s", error)
            return hidden
        choices = track_choices(view)
        last = max(done.num_frames - 1, 1)
        middle = done.num_frames // 2
        return (
            gr.Group(visible=True),
            gr.CheckboxGroup(choices=choices, value=sorted(view.shown)),
            gr.Slider(0, last, middle, step=1, interactive=done.num_frames > 1),
            original,
            overlay,
            gr.Dropdown(choices=choices, value=0),
            state,
        )

    def select_answer(self, selected: gr.SelectData, state: ChatState | None) -> tuple:
        index = selected.index[0] if isinstance(selected.index, list | tuple) else selected.index
        return self.viewer(state, index)

    def show_tracks(self, shown: list[int], frame: float, state: ChatState | None) -> tuple:
        """Redraw the selected answer's overlay with only the tracks ``shown`` (no model)."""
        view = state.views.get(state.selected) if state else None
        if view is None or view.done is None:
            return gr.skip(), gr.skip(), state
        try:
            redrawn = self.service.redraw(view.done, set(shown), view.opacity)
            _, overlay = self._frames(view.done, int(frame), set(shown), view.opacity)
        except (UserInputError, OSError) as error:  # its files are gone
            logger.info("no redraw: %s", error)
            return gr.skip(), gr.skip(), state
        view.shown, view.overlay = set(shown), str(redrawn)
        state.show(view)
        return state.messages, overlay, state

    # ----------------------------------------------------------------------- pointing
    def point(
        self,
        selected: gr.SelectData,
        frame: float,
        mode: str,
        track: int | None,
        state: ChatState | None,
        **values: Any,
    ) -> tuple:
        """A click on the frame viewer: add to or remove from ``track``, start a new object, or
        one corner of a box (the second click draws it); the answer is corrected over the whole
        video (no LLM, no image encoder). (chat, frame, frame with the masks, tracks shown,
        track picker, state)."""
        skip = (gr.skip(),) * 5 + (state,)
        view = state.views.get(state.selected) if state else None
        if view is None or view.done is None:
            return skip
        scale = viewer_scale(view.done)  # the viewer shows frames enlarged (see _frames)
        x, y = (float(v) // scale for v in selected.index)
        frame = int(frame)
        if mode == BOX:
            if state.corner is None or state.corner[0] != frame:
                state.corner = (frame, x, y)
                gr.Info("One corner of the box: now click the opposite corner.")
                return skip
            _, x0, y0 = state.corner
            state.corner = None
            box = Box(min(x0, x), min(y0, y), max(x0, x), max(y0, y))
            prompt, target = FramePrompt(frame, box=box), track
        else:
            prompt = FramePrompt(frame, (Click(x, y, positive=mode != REMOVE),))
            target = None if mode == NEW else track
        clicks = self.service.clicks
        return self._corrected(
            lambda refine: clicks.click(
                state.conversation, view.done, prompt, target, refine, view.opacity
            ),
            values,
            state,
            view,
            frame,
        )

    def undo_point(self, frame: float, state: ChatState | None, **values: Any) -> tuple:
        """Take back the last click or box of the answer the viewer shows."""
        view = state.views.get(state.selected) if state else None
        if view is None or view.done is None:
            return (gr.skip(),) * 5 + (state,)
        clicks = self.service.clicks
        return self._corrected(
            lambda refine: clicks.undo(state.conversation, view.done, refine, view.opacity),
            values,
            state,
            view,
            int(frame),
        )

    def _corrected(
        self,
        correct: Callable[[Any], Iterable[TurnEvent]],
        values: dict[str, Any],
        state: ChatState,
        view: TurnView,
        frame: int,
    ) -> tuple:
        """Run ``correct`` (a click or an undo, given the refine setting of ``values``) and show
        its result: (chat, frame, frame with the masks, tracks shown, track picker, state); a
        refused correction is a warning and changes nothing."""
        skip = (gr.skip(),) * 5 + (state,)
        try:
            refine = self.service.form.settings(values).refine
        except UserInputError as error:
            gr.Warning(str(error))
            return skip
        notice = ""
        for event in correct(refine):
            if isinstance(event, Notice):
                notice = event.text
            elif isinstance(event, TurnFailed):
                gr.Warning(event.message)
                return skip
            elif isinstance(event, TurnDone):
                view.corrected(event, notice)
        state.show(view)
        try:
            original, overlay = self._frames(view.done, frame, view.shown, view.opacity)
        except (UserInputError, OSError) as error:  # its files are gone (a closed chat)
            logger.info("no frame after a correction: %s", error)
            return (state.messages, *(gr.skip(),) * 4, state)
        choices = track_choices(view)
        return (
            state.messages,
            original,
            overlay,
            gr.CheckboxGroup(choices=choices, value=sorted(view.shown)),
            gr.Dropdown(choices=choices, value=choices[-1][1] if choices else None),
            state,
        )

    def _frames(self, done: TurnDone, frame: int, shown: set[int], opacity: float) -> tuple:
        """The frame and the frame with the masks, enlarged by a whole factor (the browser
        enlarges no image it shows, and maps a click on it to the image's own pixels)."""
        scale = viewer_scale(done)
        pair = self.service.frame_pair(done, frame, shown, opacity)
        return tuple(image.repeat(scale, axis=0).repeat(scale, axis=1) for image in pair)

    def show_frame(self, frame: float, state: ChatState | None) -> tuple:
        view = state.views.get(state.selected) if state else None
        if view is None or view.done is None:
            return gr.skip(), gr.skip()
        try:
            return self._frames(view.done, int(frame), view.shown, view.opacity)
        except (UserInputError, OSError) as error:  # a frame outside the video, files gone
            logger.info("no frame: %s", error)
            return gr.skip(), gr.skip()
