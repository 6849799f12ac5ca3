"""The app's API endpoints for ``gradio_client``: ``/chat`` (a turn of the client's conversation)
and ``/segment`` (one question about a video, always answered with a mask). Settings go by name
and are checked by the server's one :class:`~videolisa.chat.settings.SettingsForm`; what goes
wrong is an ``AppError`` with the user's message, never a traceback."""

from collections.abc import Iterator
from typing import Any

import gradio as gr

from videolisa.chat.events import TurnDone, TurnEvent, TurnFailed
from videolisa.chat.service import ChatService
from videolisa.chat.settings import TurnSettings
from videolisa.errors import UserInputError
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
                overlay = str(done.overlay) if done and done.overlay else None
                masks = str(done.masks_zip) if done and done.masks_zip else None
                tracks = tracks_json(done.tracks) if done else []
                yield view.text, tracks, overlay, masks, view.notices, state
        finally:
            events.close()
