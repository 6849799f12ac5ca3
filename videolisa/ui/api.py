"""The app's API endpoints for ``gradio_client``: ``/chat`` (a turn of the client's conversation),
``/segment`` (one question about a video, always answered with a mask) and ``/click`` (point at
an object on a frame of the last answer). Settings go by name and are checked by the server's
one :class:`~videolisa.chat.settings.SettingsForm`; what goes wrong is an ``AppError`` with the
user's message, never a traceback."""

from collections.abc import Iterator
from typing import Any

import gradio as gr

from videolisa.chat.events import TurnDone, TurnEvent, TurnFailed
from videolisa.chat.service import ChatService
from videolisa.chat.settings import TurnSettings
from videolisa.errors import ConfigError, UserInputError
from videolisa.inference.visual_prompts import Box, Click, FramePrompt
from videolisa.ui.chat_events import Sessions
from videolisa.ui.chat_state import ChatState
from videolisa.ui.render import tracks_json
from videolisa.ui.turn_view import TurnView

OUTPUTS = ("answer", "tracks", "overlay", "masks_zip", "notices")  # then the session's state


class ApiEndpoints:
    """The endpoints' handlers on one service."""

    def __init__(self, service: ChatService, sessions: Sessions) -> None:
        self.service = service
        self.sessions = sessions

    def chat(self, message: str, video: str | None = None, state=None, **values: Any):
        """API: one chat turn (with a new video, or about the conversation's video); streams
        the answer as plain text, then its tracks, overlay, masks zip and notices."""
        state = state or self.sessions.new()
        settings = self._checked(values)
        if video:
            state.conversation.attach(video, upload=True)
        turn = self.service.run_turn(state.conversation, message, settings)
        yield from self._stream(turn, state)

    def segment(self, video: str | None, prompt: str, state=None, **values: Any):
        """API: answer ``prompt`` about ``video`` with a mask (the chat's history is not used)."""
        if not video:
            raise gr.Error("Give a video or image file.", print_exception=False)
        state = state or self.sessions.new()
        settings = self._checked({**values, "always_mask": True})
        owned = state.conversation.adopt(video)
        turn = self.service.segment(state.conversation, owned, prompt, settings)
        yield from self._stream(turn, state)

    def click(
        self,
        frame: Any,
        points: Any = None,
        box: Any = None,
        track: Any = None,
        state=None,
        **values: Any,
    ):
        """API: on frame ``frame`` of the conversation's last answer (or of its video, without
        one), click at ``points`` ([[x, y, 1 to add or 0 to remove], ...]) and/or draw ``box``
        ([x0, y0, x1, y1], the video's pixels) for track ``track`` (None: a new object)."""
        state = state or self.sessions.new()
        settings = self._checked(values)
        try:
            prompt = click_prompt(frame, points, box)
            track = None if track is None else _whole("track", track)
        except UserInputError as error:
            raise gr.Error(str(error), print_exception=False) from None
        refine, opacity = settings.refine, settings.display.opacity
        turn = self.service.clicks.click(
            state.conversation, state.last_done, prompt, track, refine, opacity
        )
        yield from self._stream(turn, state)

    def _checked(self, values: dict[str, Any]) -> TurnSettings:
        try:
            return self.service.form.settings(values)
        except UserInputError as error:
            raise gr.Error(str(error), print_exception=False) from None

    @staticmethod
    def _stream(events: Iterator[TurnEvent], state: ChatState):
        view = TurnView()
        try:
            for event in events:
                view.apply(event)
                if isinstance(event, TurnFailed):  # the service logged it once
                    raise gr.Error(event.message, print_exception=False)
                done = event if isinstance(event, TurnDone) else None
                if done is not None and done.num_tracks:
                    state.last_done = done
                overlay = str(done.overlay) if done and done.overlay else None
                masks = str(done.masks_zip) if done and done.masks_zip else None
                tracks = tracks_json(done.tracks) if done else []
                yield view.text, tracks, overlay, masks, view.notices, state
        finally:
            events.close()


def click_prompt(frame: Any, points: Any, box: Any) -> FramePrompt:
    """The frame prompt of the API's values.

    Raises:
        ConfigError: a value of the wrong shape (the message names it and its form).
    """
    clicks = []
    for point in points or []:
        if not (isinstance(point, list | tuple) and len(point) == 3):
            raise ConfigError(
                f"A point must be [x, y, label]; got {point!r}.",
                "Give points as [[x, y, 1], ...]: label 1 adds, 0 removes.",
            )
        x, y, label = (_number("a point's x", point[0]), _number("a point's y", point[1]), point[2])
        if label not in (0, 1):
            raise ConfigError(f"A point's label must be 1 (add) or 0 (remove); got {label!r}.")
        clicks.append(Click(x, y, bool(label)))
    drawn = None
    if box is not None:
        if not (isinstance(box, list | tuple) and len(box) == 4):
            raise ConfigError(f"The box must be [x0, y0, x1, y1]; got {box!r}.")
        drawn = Box(*(_number("a box corner", v) for v in box))
    return FramePrompt(_whole("frame", frame), tuple(clicks), drawn)


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name.capitalize()} must be a number; got {value!r}.")
    return float(value)


def _whole(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"The {name} must be a whole number; got {value!r}.")
    return value
