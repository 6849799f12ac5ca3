"""VideoLISA chat in the browser: ``python app.py [--model M] [--port P]``.

A thin Gradio layer over :class:`videolisa.chat.service.ChatService`: attach a video or an image,
ask, watch the answer stream in, then get the overlay video and the masks of every ``<TRK>``.
Also serves the ``segment`` API endpoint (see README, "Chat app"). Nothing is built at import
time; :func:`main` loads the model and launches the server.
"""

from __future__ import annotations

import argparse
import atexit
import html
import json
import logging
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import gradio as gr

from videolisa.chat.models import MODEL_ENV, choose_model
from videolisa.chat.service import (
    ChatService,
    Conversation,
    Notice,
    Progress,
    TextDelta,
    TurnDone,
    TurnFailed,
    TurnSettings,
)
from videolisa.cli.options import (
    add_frame_arguments,
    add_memory_arguments,
    add_model_arguments,
    encode_options,
    load_pipeline,
)
from videolisa.defaults import PROJECT_ROOT
from videolisa.errors import UserInputError
from videolisa.modeling.tokenizer import TRACK_CONCEPT
from videolisa.video import VideoLimits, track_color

try:  # Hugging Face ZeroGPU Spaces: run model calls on a GPU; elsewhere a no-op.
    import spaces

    gpu = spaces.GPU
except ImportError:

    def gpu(function: Callable) -> Callable:
        return function


logger = logging.getLogger("videolisa.app")

EXAMPLES_FILE = PROJECT_ROOT / "prompts" / "examples.json"
EXAMPLES_DIR = PROJECT_ROOT / "assets" / "examples"
NEW_VIDEO = "<em>New video: the conversation starts over.</em>"
STAGES = {
    "decode": "Reading the video",
    "encode": "Encoding the video",
    "masks": "Decoding masks",
    "render": "Rendering the overlay",
}
# Overlay videos in answers get a useful size even when the input is small (toy world: 128 px).
CSS = """
#chat .bot-row video { min-width: min(360px, 60vw); }
#untrained-banner { background: #fff4d6; border: 1px solid #e0a800; border-radius: 8px;
                    padding: 4px 12px; color: #5c4400; }
"""
MARKDOWN_SYNTAX = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$])")  # ">" and "<": html.escape
SESSION_SECONDS = 4 * 3600  # a conversation idle this long is dropped with its files
CACHE_CLEANUP = (3600, 4 * 3600)  # Gradio's served copies: checked hourly, kept 4 hours
UNTRAINED_BANNER = (
    "⚠️ **Untrained demo weights.** No model was given and the bundled toy-world model is not "
    "installed, so this runs a tiny randomly initialised VideoLISA: its answers and masks are "
    f"noise. Start with `--model ZechenBai/VideoLISA-3.8B` (or set `{MODEL_ENV}`)."
)


# ------------------------------------------------------------------------------- rendering
def plain_text(text: str) -> str:
    """``text`` shown exactly as typed: neither HTML nor Markdown in it takes effect."""
    return html.escape(MARKDOWN_SYNTAX.sub(r"\\\1", text), quote=False)


def track_tag(track: int) -> str:
    """An inline HTML tag in the colour of track ``track`` (its overlay colour)."""
    red, green, blue = track_color(track)
    return (
        f'<span style="background-color: rgb({red}, {green}, {blue}); color: #000; '
        f'border-radius: 4px; padding: 0 5px; font-weight: 600">track {track}</span>'
    )


def answer_html(text: str) -> str:
    """``text`` as HTML-safe chat text, each ``<TRK>`` a tag in its track's colour."""
    pieces = html.escape(text).split(html.escape(TRACK_CONCEPT))
    tagged = [pieces[0]]
    for track, piece in enumerate(pieces[1:]):
        tagged += [track_tag(track), piece]
    return "".join(tagged)


def assistant_text(notices: list[str], text: str) -> str:
    """Notices in italics above the answer."""
    lines = [f"<em>{html.escape(notice)}</em>" for notice in notices]
    return "\n\n".join([*lines, answer_html(text) if text else "…"])


def done_content(notices: list[str], done: TurnDone) -> list[Any]:
    """The finished answer: text, then the overlay video and the masks zip (a download)."""
    content: list[Any] = [assistant_text(notices, done.answer)]
    content += [{"path": str(path)} for path in (done.overlay, done.masks_zip) if path]
    return content


def load_examples() -> list[list[dict[str, Any]]]:
    """``prompts/examples.json`` as MultimodalTextbox values; missing videos are skipped."""
    if not EXAMPLES_FILE.is_file():
        return []
    examples = []
    for entry in json.loads(EXAMPLES_FILE.read_text()):
        video = EXAMPLES_DIR / entry["video"]
        if video.is_file():
            examples.append([{"text": entry["prompt"], "files": [str(video)]}])
        else:
            logger.warning(
                "example video %s is missing; run python -m scripts.make_example_videos", video
            )
    return examples


# ------------------------------------------------------------------------------------ UI
def build_demo(service: ChatService, defaults: TurnSettings, untrained: bool) -> gr.Blocks:
    """The chat page and its API endpoints (``add_message``, ``respond``, ``segment``)."""

    def close(conversation: Conversation | None) -> None:
        if conversation is not None:
            conversation.close()

    def add_message(
        message: dict[str, Any], messages: list[dict], conversation: Conversation | None
    ) -> tuple[Any, list[dict], list[dict], Conversation, str]:
        """Show the user's message (video first) and remember its video and question."""
        conversation = conversation or service.open_conversation()
        had_history = bool(conversation.session.history)
        for file in message.get("files") or []:
            if conversation.attach(file) and had_history:
                messages.append({"role": "assistant", "content": NEW_VIDEO})
            messages.append({"role": "user", "content": {"path": file}})
        question = message.get("text") or ""
        if question.strip():
            messages.append({"role": "user", "content": plain_text(question)})
        box = gr.MultimodalTextbox(value=None, interactive=False)
        return box, messages, messages, conversation, question

    @gpu
    def respond(
        messages: list[dict],
        conversation: Conversation | None,
        question: str,
        num_sparse: int,
        num_dense: int,
        max_new_tokens: int,
        temperature: float,
        always_mask: bool,
        opacity: float,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio's way to ask for one)
    ) -> Iterator[tuple[list[dict], list[dict], Conversation]]:
        """Stream the answer to the pending question into a new assistant message."""
        conversation = conversation or service.open_conversation()

        def show(content: Any) -> tuple[list[dict], list[dict], Conversation]:
            messages[-1] = {"role": "assistant", "content": content}
            return messages, messages, conversation

        messages.append({"role": "assistant", "content": "…"})
        if not question.strip() and conversation.video is not None:
            yield show("Got the video. Ask a question about it.")
            return
        yield show("…")
        try:
            settings = TurnSettings(
                int(num_sparse),
                int(num_dense),
                int(max_new_tokens),
                float(temperature),
                bool(always_mask),
                float(opacity),
            )
        except UserInputError as error:
            yield show(html.escape(str(error)))
            return
        notices: list[str] = []
        text = ""
        for event in service.run_turn(conversation, question, settings):
            if isinstance(event, Notice):
                notices.append(event.text)
            elif isinstance(event, TextDelta):
                text += event.text
            elif isinstance(event, Progress):
                progress(event.done / max(event.total, 1), desc=STAGES[event.stage])
                continue
            if isinstance(event, TurnDone):
                yield show(done_content(notices, event))
            elif isinstance(event, TurnFailed):
                yield show(html.escape(event.message))
            else:
                yield show(assistant_text(notices, text))

    @gpu
    def segment(
        video: str | None, prompt: str, conversation: Conversation | None
    ) -> tuple[str, str | None, str | None, Conversation]:
        """API: answer ``prompt`` about ``video`` with a mask (the chat's history is not used)."""
        if not video:
            raise gr.Error("Give a video or image file.")
        conversation = conversation or service.open_conversation()
        outcome = service.segment(conversation, video, prompt, replace(defaults, always_mask=True))
        if isinstance(outcome, TurnFailed):
            raise gr.Error(outcome.message)
        overlay = str(outcome.overlay) if outcome.overlay else None
        masks = str(outcome.masks_zip) if outcome.masks_zip else None
        return outcome.answer, overlay, masks, conversation

    def clear(conversation: Conversation | None) -> tuple[list, list, None, None, str]:
        close(conversation)
        return [], [], None, None, ""

    with gr.Blocks(title="VideoLISA chat", delete_cache=CACHE_CLEANUP) as demo:
        gr.Markdown(
            "# VideoLISA chat\nAttach a video or an image, ask about it; every `<TRK>` in the "
            "answer becomes a mask on every frame.\n\n"
            f"Model: **{html.escape(service.pipeline.description)}**",
            elem_id="model-header",
        )
        if untrained:
            gr.Markdown(UNTRAINED_BANNER, elem_id="untrained-banner")
        conversation = gr.State(None, time_to_live=SESSION_SECONDS, delete_callback=close)
        question = gr.State("")
        messages = gr.State([])  # what the chat shows; kept here so API calls need not send it
        chatbot = gr.Chatbot(label="Chat", height=640, elem_id="chat")
        box = gr.MultimodalTextbox(
            file_types=["video", "image"],
            file_count="single",
            sources=["upload"],
            placeholder="Attach a video or an image and ask about it…",
            show_label=False,
            elem_id="message",
        )
        clear_button = gr.Button("Clear", variant="secondary", elem_id="clear")
        with gr.Accordion("Settings", open=False, elem_id="settings"):
            with gr.Row():
                num_sparse = gr.Slider(1, 64, defaults.num_sparse, step=1, label="Frames (sparse)")
                num_dense = gr.Slider(1, 16, defaults.num_dense, step=1, label="Frames (dense)")
            with gr.Row():
                max_new_tokens = gr.Slider(
                    1, 512, defaults.max_new_tokens, step=1, label="Max new tokens"
                )
                temperature = gr.Slider(
                    0, 1.5, defaults.temperature, step=0.05, label="Temperature (0 = greedy)"
                )
            with gr.Row():
                always_mask = gr.Checkbox(
                    defaults.always_mask,
                    label='Always answer with a mask ("Sure, <TRK>.", the published evaluation)',
                )
                opacity = gr.Slider(0, 1, defaults.opacity, step=0.05, label="Overlay opacity")
        examples = load_examples()
        if examples:
            gr.Examples(examples, inputs=[box], label="Examples (click, then press Enter)")

        with gr.Row(visible=False):  # the inputs and outputs of the `segment` API endpoint
            api_video = gr.File(label="video or image")
            api_prompt = gr.Textbox(label="prompt")
            api_answer = gr.Textbox(label="answer")
            api_overlay = gr.Video(label="overlay")
            api_masks = gr.File(label="masks zip")
            api_run = gr.Button()

        settings = [num_sparse, num_dense, max_new_tokens, temperature, always_mask, opacity]
        box.submit(
            add_message,
            [box, messages, conversation],
            [box, chatbot, messages, conversation, question],
            api_name="add_message",
            concurrency_limit=None,
        ).then(
            respond,
            [messages, conversation, question, *settings],
            [chatbot, messages, conversation],
            api_name="respond",
            concurrency_limit=1,
            concurrency_id="model",
        ).then(lambda: gr.MultimodalTextbox(interactive=True), None, box, api_visibility="private")
        api_run.click(
            segment,
            [api_video, api_prompt, conversation],
            [api_answer, api_overlay, api_masks, conversation],
            api_name="segment",
            concurrency_limit=1,
            concurrency_id="model",
        )
        for event in (clear_button.click, chatbot.clear):
            event(
                clear,
                [conversation],
                [chatbot, messages, box, conversation, question],
                api_visibility="private",
            )
    return demo


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
    add_memory_arguments(parser, default="512MB")
    parser.add_argument("--max-frames", type=int, default=1000, help="refuse longer videos")
    parser.add_argument("--max-side", type=int, default=2048, help="refuse larger frames")
    parser.add_argument("--max-file-size", default="200mb", help="upload limit, e.g. 200mb")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    choice = choose_model(args.model)
    args.model = choice.model
    pipeline = load_pipeline(args)
    logger.info("loaded %s", pipeline.description)
    workdir = Path(tempfile.mkdtemp(prefix="videolisa-app-"))
    atexit.register(shutil.rmtree, workdir, True)
    service = ChatService(
        pipeline,
        VideoLimits(max_frames=args.max_frames, max_side=args.max_side),
        workdir_root=workdir,
        **encode_options(args),
    )
    model_sparse, model_dense = pipeline.default_frames
    defaults = TurnSettings(
        num_sparse=args.frames_sparse or model_sparse, num_dense=args.frames_dense or model_dense
    )
    demo = build_demo(service, defaults, choice.untrained)
    demo.queue().launch(
        server_name=args.host,
        server_port=args.port,
        max_file_size=args.max_file_size,
        allowed_paths=[str(EXAMPLES_DIR)],
        css=CSS,
    )


if __name__ == "__main__":
    main()
