"""VideoLISA chat in the browser: ``python app.py [--model M] [--port P]`` (README, "Quick start").

A thin Gradio layer over :class:`videolisa.chat.service.ChatService`: attach a video or an image,
ask, watch the answer stream in with its progress, then get the overlay, the legend of its tracks
and the masks in the same message; below the chat, a frame viewer shows any frame with and
without the masks and hides or shows each track. Stop (or Clear, or closing the tab) ends a turn
at its next step. Also serves the ``chat`` and ``segment`` API endpoints (README, "API"). Nothing
heavy is imported or built at import time: :func:`main` parses the options first (so ``--help``
is instant), then loads the model and launches the server.
"""

import argparse
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from videolisa.cli.options import (
    add_frame_arguments,
    add_memory_arguments,
    add_model_arguments,
    add_track_limit_argument,
    encode_settings,
    parse_size,
)
from videolisa.defaults import EXAMPLES_DIR, MODEL_ENV

if TYPE_CHECKING:
    import gradio as gr

    from videolisa.chat.events import TurnEvent
    from videolisa.chat.models import ModelChoice
    from videolisa.chat.service import ChatService
    from videolisa.chat.settings import Setting

logger = logging.getLogger("videolisa.app")

CSS = """
#chat .bubble-wrap { max-height: 62vh; }  /* the chat grows with the conversation, then scrolls */
#chat .bot-row video, #chat .bot-row img { min-width: min(360px, 60vw); }
.track-tag {
  border-radius: 4px; padding: 1px 6px; margin: 0 1px; font-weight: 600; color: #000;
  white-space: nowrap;
}
table.legend { margin-top: 4px; font-size: 0.9em; }
#original img, #overlaid img {  /* small frames fill the viewer, pixels kept sharp */
  width: 100%; height: 100%; object-fit: contain; image-rendering: pixelated;
}
table.legend td { padding: 2px 8px 2px 0; border: none; }
#model-card p { margin: 0; }
@media (max-width: 640px) {  /* phones: the input and the examples on the first screen */
  #model-card .intro { display: none; }
  #model-card h2 { margin: 0; }
  #chat label.float { display: none; }  /* the "Chat" label would cover the first line */
  #chat .bubble-wrap { max-height: 42vh; }
  #chat .example-image-container { display: none; }  /* every example fits the first screen */
  #chat button.example { padding: 6px 10px; }
  #chat .examples { gap: 6px; }
}
"""
SESSION_SECONDS = 3600  # a conversation idle this long is dropped with its files
CACHE_CLEANUP = (600, 3600)  # Gradio's uploads and served copies: checked every 10 min, kept 1 h
# The last answer's first line on screen: the chat scrolls so that it starts at the top.
SHOW_LAST_ANSWER = """() => {
    const rows = document.querySelectorAll('#chat .bot-row');
    const last = rows[rows.length - 1];
    if (!last) return;
    const wrap = last.closest('.bubble-wrap');
    const room = 36;  // for the chat's label
    const offset = last.getBoundingClientRect().top - (wrap ? wrap.getBoundingClientRect().top : 0);
    if (wrap) wrap.scrollTop += offset - room;
    const top = last.getBoundingClientRect().top;
    if (top < 0 || top > window.innerHeight - 80) window.scrollBy(0, top - 8);
}"""


# ------------------------------------------------------------------------------------ UI
def build_demo(
    service: "ChatService", card: str, toy: bool = False, session_seconds: int = SESSION_SECONDS
) -> "gr.Blocks":
    """The chat page and its API endpoints (``chat``, ``segment``); a session idle for
    ``session_seconds`` is closed with its files."""
    import gradio as gr

    from videolisa.chat.events import TurnDone, TurnFailed
    from videolisa.errors import UserInputError
    from videolisa.ui.chat_state import ChatState
    from videolisa.ui.examples import load_examples
    from videolisa.ui.render import track_words, tracks_json, typed_text
    from videolisa.ui.turn_view import TurnView

    gpu = _zero_gpu()
    form = service.form
    # by Gradio session, so that a closed tab frees its files at once
    sessions: weakref.WeakValueDictionary[str, ChatState] = weakref.WeakValueDictionary()

    def new_state(request: gr.Request | None = None) -> ChatState:
        state = ChatState(service.open_conversation())
        if request is not None and request.session_hash:
            sessions[request.session_hash] = state
        return state

    def close(state: ChatState | None) -> None:
        if state is not None:
            service.close(state.conversation)

    def closed_tab(request: gr.Request) -> None:
        close(sessions.pop(request.session_hash, None))

    def add_message(
        message: dict[str, Any], state: ChatState | None, request: gr.Request, uploads=True
    ):
        """Show the user's message; a blank message without a file changes nothing."""
        state = state or new_state(request)
        files, question = message.get("files") or [], message.get("text") or ""
        if not files and not question.strip():
            return gr.MultimodalTextbox(value=None), state.messages, state, False
        state.start_turn(files, question, uploads=uploads)
        box = gr.MultimodalTextbox(value=None, interactive=False, submit_btn=False, stop_btn=True)
        return box, state.messages, state, True

    def add_example(selected: gr.SelectData, state: ChatState | None, request: gr.Request):
        example = selected.value or {}
        files = [f["path"] if isinstance(f, dict) else f for f in example.get("files") or []]
        message = {"text": example.get("text"), "files": files}
        return add_message(message, state, request, uploads=False)

    @gpu
    def respond(state: ChatState | None, go: bool, **values: Any) -> Iterator[tuple]:
        """Stream the answer to the waiting question into a new assistant message."""
        if state is None or not go:
            yield (state.messages if state else []), state
            return
        state.refresh()
        view = state.answer()
        try:
            settings = form.settings(values)
        except UserInputError as error:
            view.apply(TurnFailed(str(error)))
            state.show(view)
            yield state.messages, state
            return
        view.opacity = settings.display.opacity
        turn = service.run_turn(state.conversation, state.question, settings)
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

    def stopped(state: ChatState | None):
        """Stop: the running turn ends at its next step; the answer so far stays, marked as
        stopped."""
        box = gr.MultimodalTextbox(interactive=True, submit_btn=True, stop_btn=False)
        if state is None:
            return [], box
        state.stop_asked.set()
        view = state.view
        if view is not None and not view.finished:
            view.stop()
            state.show(view)
        return state.messages, box

    def clear(state: ChatState | None):
        if state is not None:
            state.stop_asked.set()
        close(state)
        box = gr.MultimodalTextbox(value=None, interactive=True, stop_btn=False)
        return [], None, box, gr.Group(visible=False)

    def undo(state: ChatState | None):
        if state is None:
            return [], gr.MultimodalTextbox()
        question = state.undo()
        return state.messages, gr.MultimodalTextbox(value={"text": question, "files": []})

    def edit(edited: gr.EditData, state: ChatState | None):
        index = edited.index[0] if isinstance(edited.index, list | tuple) else edited.index
        value = edited.value if isinstance(edited.value, str) else str(edited.value)
        if state is None or not state.edit(index, typed_text(value)):
            return (state.messages if state else []), state, False
        return state.messages, state, True

    def retry(state: ChatState | None):
        if state is None or not state.retry():
            return (state.messages if state else []), state, False
        return state.messages, state, True

    # ---------------------------------------------------------------- the frame viewer
    def panel(state: ChatState | None, index: int | None = None):
        """The frame viewer of answer ``index`` (default the last one with masks)."""
        hidden = (gr.Group(visible=False), gr.skip(), gr.skip(), gr.skip(), gr.skip(), state)
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
        phrases = track_words(done.answer, view.question)
        choices = [
            (f"track {t}" + (f": {phrases[t]}" if t < len(phrases) and phrases[t] else ""), t)
            for t in range(done.num_tracks)
        ]
        middle = done.num_frames // 2
        original, overlay = service.frame_pair(done, middle, view.shown, view.opacity)
        return (
            gr.Group(visible=True),
            gr.CheckboxGroup(choices=choices, value=sorted(view.shown)),
            gr.Slider(
                0, max(done.num_frames - 1, 1), middle, step=1, interactive=done.num_frames > 1
            ),
            original,
            overlay,
            state,
        )

    def select_answer(selected: gr.SelectData, state: ChatState | None):
        index = selected.index[0] if isinstance(selected.index, list | tuple) else selected.index
        return panel(state, index)

    def show_tracks(shown: list[int], frame: float, state: ChatState | None):
        """Redraw the selected answer's overlay with only the tracks ``shown`` (no model)."""
        view = state.views.get(state.selected) if state else None
        if view is None or view.done is None:
            return gr.skip(), gr.skip(), state
        view.shown = set(shown)
        view.overlay = str(service.redraw(view.done, view.shown, view.opacity))
        state.show(view)
        _, overlay = service.frame_pair(view.done, int(frame), view.shown, view.opacity)
        return state.messages, overlay, state

    def show_frame(frame: float, state: ChatState | None):
        view = state.views.get(state.selected) if state else None
        if view is None or view.done is None:
            return gr.skip(), gr.skip()
        return service.frame_pair(view.done, int(frame), view.shown, view.opacity)

    # --------------------------------------------------------------------------- API
    def api_chat(message: str, video: str | None = None, state=None, **values: Any):
        """API: one chat turn (with a new video, or about the conversation's video); streams
        the answer as plain text, then its tracks, overlay, masks zip and notices."""
        state = state or new_state()
        settings = _checked(values)
        if video:
            state.conversation.attach(video, upload=True)
        yield from _api_stream(service.run_turn(state.conversation, message, settings), state)

    def api_segment(video: str | None, prompt: str, state=None, **values: Any):
        """API: answer ``prompt`` about ``video`` with a mask (the chat's history is not used)."""
        if not video:
            raise gr.Error("Give a video or image file.", print_exception=False)
        state = state or new_state()
        settings = _checked({**values, "always_mask": True})
        owned = state.conversation.adopt(video)
        yield from _api_stream(service.segment(state.conversation, owned, prompt, settings), state)

    def _checked(values: dict[str, Any]):
        try:
            return form.settings(values)
        except UserInputError as error:
            raise gr.Error(str(error), print_exception=False) from None

    def _api_stream(events: Iterator["TurnEvent"], state: ChatState):
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

    # -------------------------------------------------------------------- components
    examples = load_examples(toy)
    with gr.Blocks(title="VideoLISA chat", delete_cache=CACHE_CLEANUP) as demo:
        gr.Markdown(
            '## VideoLISA chat\n<p class="intro">Attach a video or an image and ask about it; '
            "each object the answer points at is segmented on every frame.</p>\n\n" + card,
            elem_id="model-card",
        )
        state = gr.State(None, time_to_live=session_seconds, delete_callback=close)
        go = gr.State(False)
        chatbot = gr.Chatbot(
            label="Chat",
            elem_id="chat",
            height=None,
            min_height=200,
            examples=examples or None,
            autoscroll=False,  # SHOW_LAST_ANSWER scrolls to the answer's beginning instead
            editable="user",
            placeholder="Attach a video and ask, or try an example:",
        )
        box = gr.MultimodalTextbox(
            file_types=["video", "image"],
            file_count="single",
            sources=["upload"],
            label="Your message: a question, and a video or an image",
            placeholder="Attach a video or an image and ask about it…",
            show_label=False,
            submit_btn=True,
            stop_btn=False,
            elem_id="message",
        )
        with gr.Group(visible=False, elem_id="frames") as frames:
            shown = gr.CheckboxGroup(label="Tracks shown", elem_id="shown")
            frame = gr.Slider(0, 1, 0, step=1, label="Frame", elem_id="frame")
            with gr.Row():
                original = gr.Image(
                    label="Frame", interactive=False, height=320, elem_id="original"
                )
                overlaid = gr.Image(
                    label="With the masks", interactive=False, height=320, elem_id="overlaid"
                )
        with gr.Accordion("Settings", open=False, elem_id="settings"):
            controls = {name: _control(gr, setting) for name, setting in form.fields.items()}

        with gr.Row(visible=False):  # the inputs and outputs of the API endpoints
            api_message = gr.Textbox(label="message")
            api_video = gr.File(label="video")
            api_prompt = gr.Textbox(label="prompt")
            # untyped, so that every bad value reaches the form's checks and its message
            api_settings = {  # defaults as JSON text
                name: gr.JSON(json.dumps(value), label=name)
                for name, value in form.defaults.items()
            }
            api_outputs = [
                gr.Textbox(label="answer"),
                gr.JSON(label="tracks"),
                gr.File(label="overlay"),
                gr.File(label="masks_zip"),
                gr.JSON(label="notices"),
                state,
            ]
            api_chat_button = gr.Button("chat")
            api_segment_button = gr.Button("segment")

        # ----------------------------------------------------------------------- wiring
        private = {"api_visibility": "private", "queue": False}
        model_slot = {"concurrency_limit": 1, "concurrency_id": "model"}
        turn_inputs = [box, chatbot, state, go]
        starts = [
            box.submit(add_message, [box, state], turn_inputs, **private),
            chatbot.example_select(add_example, [state], turn_inputs, **private),
            chatbot.retry(retry, [state], [chatbot, state, go], **private),
            chatbot.edit(edit, [state], [chatbot, state, go], **private),
        ]
        viewer = [frames, shown, frame, original, overlaid, state]
        for start in starts:
            turn = start.then(None, js=SHOW_LAST_ANSWER).then(
                respond,
                [state, go],
                [chatbot, state],
                inputs_kwargs=controls,
                show_progress="hidden",
                api_visibility="private",
                **model_slot,
            )
            turn.then(_restore_box, None, box, **private).then(
                panel, [state], viewer, **private
            ).then(None, js=SHOW_LAST_ANSWER)
        box.stop(stopped, [state], [chatbot, box], **private)
        chatbot.clear(clear, [state], [chatbot, state, box, frames], **private)
        chatbot.undo(undo, [state], [chatbot, box], **private).then(
            panel, [state], viewer, **private
        )
        chatbot.select(select_answer, [state], viewer, **private)
        shown.input(show_tracks, [shown, frame, state], [chatbot, overlaid, state], **private)
        frame.release(show_frame, [frame, state], [original, overlaid], **private)
        demo.unload(closed_tab)

        api_chat_button.click(
            api_chat,
            [api_message, api_video, state],
            api_outputs,
            inputs_kwargs=api_settings,
            api_name="chat",
            **model_slot,
        )
        api_segment_button.click(
            api_segment,
            [api_video, api_prompt, state],
            api_outputs,
            inputs_kwargs={k: v for k, v in api_settings.items() if k != "always_mask"},
            api_name="segment",
            **model_slot,
        )
    return demo


def _control(gr, setting: "Setting"):
    """The app's control of one setting of :class:`~videolisa.chat.settings.SettingsForm`."""
    if setting.kind == "bool":
        return gr.Checkbox(setting.default, label=setting.label)
    if setting.kind == "choice":
        return gr.Dropdown(list(setting.choices), value=setting.default, label=setting.label)
    return gr.Slider(
        setting.low, setting.high, setting.default, step=setting.step, label=setting.label
    )


def _restore_box():
    import gradio as gr

    return gr.MultimodalTextbox(interactive=True, submit_btn=True, stop_btn=False)


def _close_idle_conversations(service: "ChatService", seconds: int) -> None:
    """Close conversations idle for ``seconds``, checked every few seconds in the background
    (Gradio keeps a session whose connection closed for an hour, whatever its time to live)."""

    def sweep() -> None:
        while True:
            time.sleep(min(seconds, 10))
            service.close_idle(seconds)

    threading.Thread(target=sweep, name="close-idle-conversations", daemon=True).start()


def _zero_gpu() -> Callable[[Callable], Callable]:
    """Hugging Face ZeroGPU Spaces run model calls on a GPU through ``spaces.GPU``; elsewhere
    a no-op."""
    try:
        import spaces

        return spaces.GPU
    except ImportError:
        return lambda function: function


# ---------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="VideoLISA chat in the browser. Model: --model, else $"
        f"{MODEL_ENV}, else the bundled toy-world model, else untrained demo weights."
    )
    add_model_arguments(parser)
    parser.set_defaults(model=None)
    parser.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default 7860 or free)")
    add_frame_arguments(parser)
    add_memory_arguments(parser, default="512MB", what="everything the server keeps of videos")
    add_track_limit_argument(parser)
    parser.add_argument(
        "--refine-model",
        action="append",
        default=[],
        metavar="ID_OR_DIR",
        help="a tracker checkpoint for the 'Refine over time' setting (a hub id or a folder; "
        "its config.json says which tracker it is); repeat for several trackers; trackers not "
        "given use their default checkpoint, loaded at the first refined answer",
    )
    parser.add_argument("--max-frames", type=int, default=1000, help="refuse longer videos")
    parser.add_argument("--max-side", type=int, default=2048, help="refuse larger frames")
    parser.add_argument("--max-file-size", default="200mb", help="upload limit, e.g. 200mb")
    parser.add_argument(
        "--session-ttl",
        type=int,
        default=SESSION_SECONDS,
        metavar="SECONDS",
        help=f"close a conversation idle this long, with its files (default {SESSION_SECONDS}; "
        "a closed browser tab's at once)",
    )
    parser.add_argument(
        "--max-disk",
        default="2GB",
        help="result files (overlays, masks) of all conversations together; beyond it the "
        "oldest are removed (default 2GB)",
    )
    parser.add_argument(
        "--max-disk-per-chat",
        default="256MB",
        help="result files of one conversation; beyond it its oldest are removed (default 256MB)",
    )
    return parser.parse_args(argv)


def load_service(choice: "ModelChoice", args: argparse.Namespace, workdir: Path) -> "ChatService":
    """The chat service on the chosen model (loaded now), with the app's limits; its files go
    under ``workdir``."""
    from videolisa.chat.models import TOY_MAX_QUESTION_CHARS, TOY_MODEL_NOTICE
    from videolisa.chat.service import ChatService
    from videolisa.chat.session import DEFAULT_MAX_QUESTION_CHARS
    from videolisa.inference.pipeline import VideoLISAPipeline
    from videolisa.inference.trackers import entry_for
    from videolisa.toyworld.likeness import looks_like_toy_world
    from videolisa.video import VideoLimits

    quantization = "4bit" if args.load_4bit else "8bit" if args.load_8bit else None
    pipeline = VideoLISAPipeline.from_pretrained(
        choice.model, args.vision_tower, args.dtype, args.device, quantization
    )
    logger.info("loaded %s", pipeline.description)

    def toy_notice(video) -> str | None:
        return None if looks_like_toy_world(video.frames) else TOY_MODEL_NOTICE

    text = args.max_memory
    return ChatService(
        pipeline,
        VideoLimits(max_frames=args.max_frames, max_side=args.max_side),
        workdir_root=workdir,
        encode=encode_settings(args),
        max_memory_bytes=None if text.lower() == "none" else parse_size(text, "--max-memory"),
        max_tracks=args.max_tracks,
        video_notice=toy_notice if choice.bundled else None,
        tracker_checkpoints={entry_for(None, c).name: c for c in args.refine_model},
        max_question_chars=TOY_MAX_QUESTION_CHARS if choice.bundled else DEFAULT_MAX_QUESTION_CHARS,
        max_disk_bytes=parse_size(args.max_disk, "--max-disk"),
        max_conversation_disk_bytes=parse_size(args.max_disk_per_chat, "--max-disk-per-chat"),
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from videolisa.chat.models import choose_model, model_card
    from videolisa.ui.app_folder import AppFolder

    folder = AppFolder()
    folder.remove_at_exit()
    os.environ["GRADIO_TEMP_DIR"] = str(folder.gradio)  # before Gradio is imported
    choice = choose_model(args.model)
    service = load_service(choice, args, folder.chats)
    service.warm_up()
    _close_idle_conversations(service, args.session_ttl)
    pipeline = service.pipeline
    card = model_card(choice, pipeline.precision, str(pipeline.device))
    demo = build_demo(service, card, toy=choice.bundled, session_seconds=args.session_ttl)
    demo.queue().launch(
        server_name=args.host,
        server_port=args.port,
        max_file_size=args.max_file_size,
        allowed_paths=[str(EXAMPLES_DIR)],
        css=CSS,
    )


if __name__ == "__main__":
    main()
