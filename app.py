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
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

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

    from videolisa.chat.models import ModelChoice
    from videolisa.chat.service import ChatService
    from videolisa.chat.settings import Setting

logger = logging.getLogger("videolisa.app")

CSS = """
#chat .bubble-wrap { max-height: 62vh; }  /* the chat grows with the conversation, then scrolls */
#chat .bot-row video, #chat .bot-row img { min-width: min(360px, 60vw); max-height: 50vh; }
#chat .user-row video, #chat .user-row img { max-height: 30vh; }  /* a large upload stays small */
.track-tag {
  border-radius: 4px; padding: 1px 6px; margin: 0 1px; font-weight: 600; color: #000;
  white-space: nowrap;
}
table.legend { margin-top: 4px; font-size: 0.9em; }
#original img, #overlaid img { image-rendering: pixelated; }
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

    from videolisa.ui.api import OUTPUTS, ApiEndpoints
    from videolisa.ui.chat_events import POINTING, ChatEvents, Sessions
    from videolisa.ui.examples import load_examples

    form = service.form
    sessions = Sessions(service)
    events = ChatEvents(service, sessions, _zero_gpu())
    api = ApiEndpoints(service, sessions)

    # -------------------------------------------------------------------- components
    examples = load_examples(toy)
    with gr.Blocks(title="VideoLISA chat", delete_cache=CACHE_CLEANUP) as demo:
        gr.Markdown(
            '## VideoLISA chat\n<p class="intro">Attach a video or an image and ask about it; '
            "each object the answer points at is segmented on every frame.</p>\n\n" + card,
            elem_id="model-card",
        )
        state = gr.State(None, time_to_live=session_seconds, delete_callback=sessions.close)
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
            with gr.Row():  # side by side on a desktop, stacked on a phone (min_width)
                pointing = gr.Radio(
                    list(POINTING),
                    value=POINTING[0],
                    label="A click on the frame with the masks",
                    elem_id="pointing",
                    min_width=320,
                )
                with gr.Column(min_width=200):
                    picked = gr.Dropdown([], label="Track", elem_id="picked")
                    undo_click = gr.Button("Undo the last click", elem_id="undo-click", size="sm")
            with gr.Row():
                original, overlaid = (
                    gr.Image(label=label, interactive=False, height=280, min_width=320, elem_id=id_)
                    for label, id_ in (("Frame", "original"), ("With the masks", "overlaid"))
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
            kinds = (gr.Textbox, gr.JSON, gr.File, gr.File, gr.JSON)
            api_outputs = [kind(label=label) for kind, label in zip(kinds, OUTPUTS, strict=True)]
            api_outputs.append(state)
            api_chat_button = gr.Button("chat")
            api_segment_button = gr.Button("segment")
            pointed_at = [gr.JSON(label=name) for name in ("frame", "points", "box", "track")]
            api_click_button = gr.Button("click")

        # ----------------------------------------------------------------------- wiring
        private = {"api_visibility": "private", "queue": False}
        model_slot = {"concurrency_limit": 1, "concurrency_id": "model"}
        turn_inputs = [box, chatbot, state, go]
        starts = [
            box.submit(events.add_message, [box, state], turn_inputs, **private),
            chatbot.example_select(events.add_example, [state], turn_inputs, **private),
            chatbot.retry(events.retry, [state], [chatbot, state, go], **private),
            chatbot.edit(events.edit, [state], [chatbot, state, go], **private),
        ]
        viewer = [frames, shown, frame, original, overlaid, picked, state]
        for start in starts:
            turn = start.then(None, js=SHOW_LAST_ANSWER).then(
                events.respond,
                [state, go],
                [chatbot, state],
                inputs_kwargs=controls,
                show_progress="hidden",
                api_visibility="private",
                **model_slot,
            )
            turn.then(events.restore_box, None, box, **private).then(
                events.viewer, [state], viewer, **private
            ).then(None, js=SHOW_LAST_ANSWER)
        box.stop(events.stop, [state], [chatbot, box], **private)
        chatbot.clear(events.clear, [state], [chatbot, state, box, frames], **private)
        chatbot.undo(events.undo, [state], [chatbot, box], **private).then(
            events.viewer, [state], viewer, **private
        )
        chatbot.select(events.select_answer, [state], viewer, **private)
        shown.input(
            events.show_tracks, [shown, frame, state], [chatbot, overlaid, state], **private
        )
        frame.release(events.show_frame, [frame, state], [original, overlaid], **private)
        corrected = [chatbot, original, overlaid, shown, picked, state]
        pointed = {"inputs_kwargs": controls, "api_visibility": "private", **model_slot}
        overlaid.select(events.point, [frame, pointing, picked, state], corrected, **pointed)
        undo_click.click(events.undo_point, [frame, state], corrected, **pointed)
        demo.unload(sessions.closed_tab)

        api_chat_button.click(
            api.chat,
            [api_message, api_video, state],
            api_outputs,
            inputs_kwargs=api_settings,
            api_name="chat",
            **model_slot,
        )
        api_segment_button.click(
            api.segment,
            [api_video, api_prompt, state],
            api_outputs,
            inputs_kwargs={k: v for k, v in api_settings.items() if k != "always_mask"},
            api_name="segment",
            **model_slot,
        )
        api_click_button.click(
            api.click,
            [*pointed_at, state],
            api_outputs,
            inputs_kwargs={k: api_settings[k] for k in ("refine", "opacity")},
            api_name="click",
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


def _close_idle_conversations(service: "ChatService", seconds: int) -> None:
    """Close conversations idle for ``seconds``, checked every few seconds in the background
    (Gradio keeps a session whose connection closed for an hour, whatever its time to live)."""

    def sweep() -> None:
        while True:
            time.sleep(min(seconds, 10))
            service.conversations.close_idle(seconds)

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
