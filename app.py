"""VideoLISA chat in the browser: ``python app.py [--model M] [--port P]`` (README, "Quick start").

A thin Gradio layer over :class:`videolisa.chat.service.ChatService`: attach a video or an image,
ask, watch the answer stream in with its progress, then get the overlay and the masks of every
``<TRK>``. Stop (or Clear, or closing the tab) ends a turn at its next step. Also serves the
``chat`` and ``segment`` API endpoints (README, "API"). Nothing heavy is imported or built at
import time: :func:`main` parses the options first (so ``--help`` is instant), then loads the
model and launches the server.
"""

import argparse
import atexit
import html
import json
import logging
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from videolisa.cli.options import (
    add_frame_arguments,
    add_memory_arguments,
    add_model_arguments,
    add_track_limit_argument,
    encode_settings,
)
from videolisa.defaults import DEFAULT_REFINE_MODEL, MODEL_ENV, PROJECT_ROOT

if TYPE_CHECKING:
    import gradio as gr

    from videolisa.chat.models import ModelChoice
    from videolisa.chat.service import ChatService, Conversation, TurnEvent, TurnSettings
    from videolisa.inference.encoded_video import EncodeSettings
    from videolisa.video import VideoLimits

logger = logging.getLogger("videolisa.app")

EXAMPLES_FILE = PROJECT_ROOT / "prompts" / "examples.json"
EXAMPLES_DIR = PROJECT_ROOT / "assets" / "examples"
STAGES = {
    "decode": "Reading the video",
    "encode": "Encoding the video",
    "answer": "Writing the answer",
    "refine": "Refining over time (SAM 2)",
    "masks": "Segmenting every frame",
    "render": "Packing the masks",
}
CSS = """
#chat .bubble-wrap { max-height: 62vh; }  /* the chat grows with the conversation, then scrolls */
#chat .bot-row video, #chat .bot-row img { min-width: min(360px, 60vw); }
.track-tag { border-radius: 4px; padding: 0 5px; margin: 0 1px; font-weight: 600; color: #000; }
#model-card p { margin: 0; }
@media (max-width: 640px) {  /* phones: the input and an example on the first screen */
  #model-card .intro { display: none; }
  #model-card h2 { margin: 0; }
  #chat .bubble-wrap { max-height: 42vh; }
  #chat .example-image-container { display: none; }  /* every example fits the first screen */
  #chat button.example { padding: 6px 10px; }
  #chat .examples { gap: 6px; }
}
"""
MARKDOWN_SYNTAX = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$])")  # ">" and "<": html.escape
SESSION_SECONDS = 4 * 3600  # a conversation idle this long is dropped with its files
CACHE_CLEANUP = (3600, 4 * 3600)  # Gradio's served copies: checked hourly, kept 4 hours
STOPPED = "Stopped."


# ------------------------------------------------------------------------------- rendering
def plain_text(text: str) -> str:
    """``text`` shown exactly as typed: neither HTML nor Markdown in it takes effect."""
    return html.escape(MARKDOWN_SYNTAX.sub(r"\\\1", text), quote=False)


def typed_text(shown: str) -> str:
    """The text a user typed, back from its :func:`plain_text` form."""
    return html.unescape(re.sub(r"\\(.)", r"\1", shown))


def track_tag(track: int) -> str:
    """An inline HTML tag in the colour of track ``track`` (its overlay colour)."""
    from videolisa.video import track_color

    red, green, blue = track_color(track)
    return (
        f'<span class="track-tag" style="background-color: rgb({red}, {green}, {blue})">'
        f"track {track}</span>"
    )


def answer_html(text: str) -> str:
    """``text`` as HTML-safe chat text, each ``<TRK>`` a tag in its track's colour (tags that
    follow each other are spaced)."""
    from videolisa.modeling.tokenizer import TRACK_CONCEPT

    pieces = html.escape(text).split(html.escape(TRACK_CONCEPT))
    tagged = [pieces[0]]
    for track, piece in enumerate(pieces[1:]):
        if track and not tagged[-1]:
            tagged[-1] = " "
        tagged += [track_tag(track), piece]
    return "".join(tagged)


def tracks_json(num_tracks: int) -> list[dict[str, Any]]:
    """The tracks of an answer for API users: index, overlay colour and mask folder."""
    from videolisa.video import track_color

    return [
        {"track": k, "color": "#{:02x}{:02x}{:02x}".format(*track_color(k)), "masks": f"masks/{k}/"}
        for k in range(num_tracks)
    ]


@dataclass
class TurnView:
    """What one assistant message shows while its turn runs and after it."""

    notices: list[str] = field(default_factory=list)
    text: str = ""
    status: str = ""  # progress while running, the error or "Stopped." after
    files: list[Path] = field(default_factory=list)
    done: bool = False

    def stop(self) -> None:
        """The turn was stopped: keep what it showed, say so, take no more events."""
        if not self.done:
            self.status, self.done = STOPPED, True

    def apply(self, event: "TurnEvent") -> None:
        from videolisa.chat.service import Notice, Progress, TextDelta, TurnDone, TurnFailed

        if self.done:
            return
        if isinstance(event, Notice):
            self.notices.append(event.text)
        elif isinstance(event, TextDelta):
            self.text += event.text
        elif isinstance(event, Progress):
            share = f" {100 * event.done // max(event.total, 1)} %" if event.total > 1 else ""
            self.status = f"{STAGES[event.stage]}…{share} · {event.seconds:.0f} s"
        elif isinstance(event, TurnDone):
            self.text, self.status, self.done = event.answer, "", True
            self.files = [path for path in (event.overlay, event.masks_zip) if path]
        elif isinstance(event, TurnFailed):
            self.text, self.status, self.done = event.text or self.text, event.message, True

    def content(self) -> str | list[Any]:
        lines = [f"<em>{html.escape(notice)}</em>" for notice in self.notices]
        if self.text:
            lines.append(answer_html(self.text))
        if self.status:
            lines.append(f"<em>{html.escape(self.status)}</em>")
        text = "\n\n".join(lines) or "…"
        if not self.files:
            return text
        return [text, *({"path": str(path)} for path in self.files)]


@dataclass
class ChatState:
    """One browser session: the conversation, the messages the chat shows, where each turn
    starts in them, and the question waiting for an answer."""

    conversation: "Conversation"
    messages: list[dict[str, Any]] = field(default_factory=list)
    turn_starts: list[tuple[int, int]] = field(default_factory=list)  # (message, history)
    question: str = ""
    view: "TurnView | None" = None  # the last turn's answer

    def start_turn(self, files: list[str], question: str) -> None:
        """Show the user's message (video first) and remember its video and question."""
        history = len(self.conversation.session.history)
        self.turn_starts.append((len(self.messages), history))
        for file in files:
            self.conversation.attach(file)
            self.messages.append({"role": "user", "content": {"path": file}})
        if question.strip():
            self.messages.append({"role": "user", "content": plain_text(question)})
        self.question = question

    def edit(self, index: int, question: str) -> bool:
        """Ask ``question`` instead of the one of the turn holding message ``index``: that turn
        and the ones after it leave the chat and the history, the turn's video (if it brought
        one) is attached again, and the new question waits for an answer. False if ``index``
        is no turn's."""
        turn = next(
            (t for t in reversed(range(len(self.turn_starts))) if self.turn_starts[t][0] <= index),
            None,
        )
        if turn is None:
            return False
        start, history_length = self.turn_starts[turn]
        files = [m["content"]["path"] for m in self.messages[start:index] if _is_file(m)]
        del self.turn_starts[turn:]
        del self.messages[start:]
        del self.conversation.session.history[history_length:]
        self.start_turn(files, question)
        return True

    def undo(self) -> str:
        """Remove the last turn from the chat and, if it was answered, from the history;
        return its question."""
        if not self.turn_starts:
            return ""
        start, history_length = self.turn_starts.pop()
        question = next(
            (m["content"] for m in self.messages[start:] if isinstance(m["content"], str)), ""
        )
        del self.messages[start:]
        del self.conversation.session.history[history_length:]
        self.question = ""
        return typed_text(question)


def _is_file(message: dict[str, Any]) -> bool:
    return isinstance(message["content"], dict) and "path" in message["content"]


def load_examples(toy: bool) -> list[dict[str, Any]]:
    """The chat's examples from ``prompts/examples.json``: a video and a question each; with the
    toy model, those it answers correctly come first and the others are marked as needing the
    published model. Missing videos are skipped."""
    if not EXAMPLES_FILE.is_file():
        return []
    examples = []
    for entry in json.loads(EXAMPLES_FILE.read_text()):
        video = EXAMPLES_DIR / entry["video"]
        if not video.is_file():
            logger.warning(
                "example video %s is missing; run python -m scripts.make_example_videos", video
            )
            continue
        works = entry.get("toy_model_answers", True) or not toy
        label = entry["prompt"] if works else f"{entry['prompt']} (for the published model)"
        examples.append(
            {"text": entry["prompt"], "files": [str(video)], "display_text": label, "works": works}
        )
    examples.sort(key=lambda example: not example["works"])
    return [{k: v for k, v in example.items() if k != "works"} for example in examples]


# ------------------------------------------------------------------------------------ UI
def build_demo(
    service: "ChatService", defaults: "TurnSettings", card: str, toy: bool = False
) -> "gr.Blocks":
    """The chat page and its API endpoints (``chat``, ``segment``)."""
    import gradio as gr

    from videolisa.chat.service import MAX_NEW_TOKENS, TurnDone, TurnFailed, TurnSettings
    from videolisa.errors import UserInputError

    try:  # Hugging Face ZeroGPU Spaces: run model calls on a GPU; elsewhere a no-op.
        import spaces

        gpu = spaces.GPU
    except ImportError:

        def gpu(function: Callable) -> Callable:
            return function

    model_frames = service.pipeline.default_frames

    def new_state() -> ChatState:
        return ChatState(service.open_conversation())

    def close(state: ChatState | None) -> None:
        if state is not None:
            state.conversation.close()

    def settings_from(
        num_sparse: float,
        num_dense: float,
        max_new_tokens: float,
        temperature: float,
        always_mask: bool,
        refine: bool,
        opacity: float = defaults.opacity,
    ) -> TurnSettings:
        return TurnSettings(
            int(num_sparse) or None,
            int(num_dense) or None,
            int(max_new_tokens),
            float(temperature),
            bool(always_mask),
            float(opacity),
            bool(refine),
        )

    def add_message(message: dict[str, Any], state: ChatState | None):
        """Show the user's message; a blank message without a file changes nothing."""
        state = state or new_state()
        files, question = message.get("files") or [], message.get("text") or ""
        if not files and not question.strip():
            return gr.MultimodalTextbox(value=None), state.messages, state, False
        state.start_turn(files, question)
        box = gr.MultimodalTextbox(value=None, interactive=False, submit_btn=False, stop_btn=True)
        return box, state.messages, state, True

    def add_example(selected: gr.SelectData, state: ChatState | None):
        example = selected.value or {}
        files = [f["path"] if isinstance(f, dict) else f for f in example.get("files") or []]
        return add_message({"text": example.get("text"), "files": files}, state)

    @gpu
    def respond(state: ChatState, go: bool, *settings: Any) -> Iterator[tuple[list, ChatState]]:
        """Stream the answer to the waiting question into a new assistant message."""
        if not go:
            return
        view = state.view = TurnView()
        state.messages.append({"role": "assistant", "content": "…"})
        index = len(state.messages) - 1
        try:
            turn_settings = settings_from(*settings)
        except UserInputError as error:
            view.status = str(error)
            state.messages[index]["content"] = view.content()
            yield state.messages, state
            return
        turn = service.run_turn(state.conversation, state.question, turn_settings)
        try:
            for event in turn:
                view.apply(event)
                state.messages[index] = {"role": "assistant", "content": view.content()}
                yield state.messages, state
        finally:
            turn.close()  # a Stop closes this generator; the turn stops at its next step

    def stopped(state: ChatState | None):
        """After Stop: the answer so far stays, marked as stopped."""
        box = gr.MultimodalTextbox(interactive=True, submit_btn=True, stop_btn=False)
        if state is None:
            return [], box
        view = state.view
        if view is not None and not view.done and state.messages:
            view.stop()
            if state.messages[-1]["role"] == "assistant":
                state.messages[-1] = {"role": "assistant", "content": view.content()}
        return state.messages, box

    def clear(state: ChatState | None):
        close(state)
        return [], None, gr.MultimodalTextbox(value=None, interactive=True, stop_btn=False)

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
        if state is None or not state.turn_starts:
            return [], state, False
        question = state.undo()
        state.start_turn([], question)
        return state.messages, state, True

    def api_chat(
        message: str,
        video: str | None,
        frames_sparse: int,
        frames_dense: int,
        max_new_tokens: int,
        temperature: float,
        always_mask: bool,
        refine: bool,
        state: ChatState | None,
    ) -> Iterator[tuple[str, list, str | None, str | None, list, ChatState]]:
        """API: one chat turn (with a new video, or about the conversation's video); streams
        the answer as plain text, then its tracks, overlay and masks zip."""
        state = state or new_state()
        if video:
            state.conversation.attach(video)
        settings = settings_from(
            frames_sparse, frames_dense, max_new_tokens, temperature, always_mask, refine
        )
        yield from _api_stream(service.run_turn(state.conversation, message, settings), state)

    def api_segment(video: str | None, prompt: str, state: ChatState | None):
        """API: answer ``prompt`` about ``video`` with a mask (the chat's history is not used)."""
        if not video:
            raise gr.Error("Give a video or image file.", print_exception=False)
        state = state or new_state()
        settings = replace(defaults, always_mask=True)
        yield from _api_stream(service.segment(state.conversation, video, prompt, settings), state)

    def _api_stream(events: Iterator["TurnEvent"], state: ChatState):
        notices: list[str] = []
        text = ""
        try:
            for event in events:
                view = TurnView()
                view.apply(event)
                notices += view.notices
                if isinstance(event, TurnFailed):
                    # the service logged it once; no traceback
                    raise gr.Error(event.message, print_exception=False)
                if isinstance(event, TurnDone):
                    overlay = str(event.overlay) if event.overlay else None
                    masks = str(event.masks_zip) if event.masks_zip else None
                    yield (
                        event.answer,
                        tracks_json(event.num_tracks),
                        overlay,
                        masks,
                        notices,
                        state,
                    )
                    return
                text += view.text
                yield text, [], None, None, notices, state
        finally:
            events.close()

    with gr.Blocks(title="VideoLISA chat", delete_cache=CACHE_CLEANUP) as demo:
        gr.Markdown(
            '## VideoLISA chat\n<p class="intro">Attach a video or an image and ask about it; '
            "each object the answer points at is segmented on every frame.</p>\n\n" + card,
            elem_id="model-card",
        )
        state = gr.State(None, time_to_live=SESSION_SECONDS, delete_callback=close)
        go = gr.State(False)
        chatbot = gr.Chatbot(
            label="Chat",
            elem_id="chat",
            height=None,
            min_height=200,
            examples=load_examples(toy) or None,
            group_consecutive_messages=False,
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
        with gr.Accordion("Settings", open=False, elem_id="settings"):
            with gr.Row():
                num_sparse = gr.Slider(
                    1, 64, defaults.num_sparse or model_frames[0], step=1, label="Frames (sparse)"
                )
                num_dense = gr.Slider(
                    1, 16, defaults.num_dense or model_frames[1], step=1, label="Frames (dense)"
                )
            with gr.Row():
                max_new_tokens = gr.Slider(
                    1, MAX_NEW_TOKENS, defaults.max_new_tokens, step=1, label="Max new tokens"
                )
                temperature = gr.Slider(
                    0, 1.5, defaults.temperature, step=0.05, label="Temperature (0 = greedy)"
                )
            with gr.Row():
                always_mask = gr.Checkbox(
                    defaults.always_mask,
                    label='Always answer with a mask ("Sure, <TRK>.", the published evaluation)',
                )
                refine = gr.Checkbox(
                    defaults.refine,
                    label=f"Refine over time (SAM 2: {service.refine.model})",
                )
                opacity = gr.Slider(0, 1, defaults.opacity, step=0.05, label="Overlay opacity")
        settings = [num_sparse, num_dense, max_new_tokens, temperature, always_mask, refine]
        settings.append(opacity)

        with gr.Row(visible=False):  # the inputs and outputs of the API endpoints
            api_message = gr.Textbox(label="message")
            api_video = gr.File(label="video")
            api_sparse = gr.Number(model_frames[0], precision=0, label="frames_sparse")
            api_dense = gr.Number(model_frames[1], precision=0, label="frames_dense")
            api_tokens = gr.Number(defaults.max_new_tokens, precision=0, label="max_new_tokens")
            api_temperature = gr.Number(defaults.temperature, label="temperature")
            api_always_mask = gr.Checkbox(False, label="always_mask")
            api_refine = gr.Checkbox(False, label="refine")
            api_prompt = gr.Textbox(label="prompt")
            api_answer = gr.Textbox(label="answer")
            api_tracks = gr.JSON(label="tracks")
            api_overlay = gr.File(label="overlay")
            api_masks = gr.File(label="masks_zip")
            api_notices = gr.JSON(label="notices")
            api_chat_button = gr.Button("chat")
            api_segment_button = gr.Button("segment")

        private = {"api_visibility": "private"}
        model_slot = {"concurrency_limit": 1, "concurrency_id": "model"}
        turn_outputs = [chatbot, state]

        def restore_box() -> gr.MultimodalTextbox:
            return gr.MultimodalTextbox(interactive=True, submit_btn=True, stop_btn=False)

        submitted = box.submit(
            add_message, [box, state], [box, chatbot, state, go], queue=False, **private
        ).then(
            respond,
            [state, go, *settings],
            turn_outputs,
            show_progress="hidden",
            **model_slot,
            **private,
        )
        example = chatbot.example_select(
            add_example, [state], [box, chatbot, state, go], queue=False, **private
        ).then(
            respond,
            [state, go, *settings],
            turn_outputs,
            show_progress="hidden",
            **model_slot,
            **private,
        )
        retried = chatbot.retry(retry, [state], [chatbot, state, go], queue=False, **private).then(
            respond,
            [state, go, *settings],
            turn_outputs,
            show_progress="hidden",
            **model_slot,
            **private,
        )
        edited = chatbot.edit(edit, [state], [chatbot, state, go], queue=False, **private).then(
            respond,
            [state, go, *settings],
            turn_outputs,
            show_progress="hidden",
            **model_slot,
            **private,
        )
        turns = [submitted, example, retried, edited]
        for finished in turns:
            finished.then(restore_box, None, box, queue=False, **private)
        box.stop(stopped, [state], [chatbot, box], cancels=turns, queue=False, **private)
        chatbot.clear(clear, [state], [chatbot, state, box], cancels=turns, queue=False, **private)
        chatbot.undo(undo, [state], [chatbot, box], queue=False, **private)

        api_chat_button.click(
            api_chat,
            [
                api_message,
                api_video,
                api_sparse,
                api_dense,
                api_tokens,
                api_temperature,
                api_always_mask,
                api_refine,
                state,
            ],
            [api_answer, api_tracks, api_overlay, api_masks, api_notices, state],
            api_name="chat",
            **model_slot,
        )
        api_segment_button.click(
            api_segment,
            [api_video, api_prompt, state],
            [api_answer, api_tracks, api_overlay, api_masks, api_notices, state],
            api_name="segment",
            **model_slot,
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
    add_track_limit_argument(parser)
    parser.add_argument(
        "--refine-model",
        default=DEFAULT_REFINE_MODEL,
        metavar="ID_OR_DIR",
        help="the SAM 2 / EdgeTAM video checkpoint of the 'Refine over time' setting (default "
        f"{DEFAULT_REFINE_MODEL}; loaded at the first refined answer)",
    )
    parser.add_argument("--max-frames", type=int, default=1000, help="refuse longer videos")
    parser.add_argument("--max-side", type=int, default=2048, help="refuse larger frames")
    parser.add_argument("--max-file-size", default="200mb", help="upload limit, e.g. 200mb")
    return parser.parse_args(argv)


def load_service(
    choice: "ModelChoice",
    *,
    vision_tower: str | None,
    dtype: str,
    device: str,
    quantization: str | None,
    limits: "VideoLimits",
    encode: "EncodeSettings",
    max_tracks: int,
    refine_model: str,
    workdir: Path,
) -> "ChatService":
    """The chat service on the chosen model (loaded now), with the app's limits."""
    from videolisa.chat.models import TOY_MODEL_NOTICE
    from videolisa.chat.service import ChatService
    from videolisa.inference.pipeline import VideoLISAPipeline
    from videolisa.inference.propagation import PropagationSettings
    from videolisa.toyworld.likeness import looks_like_toy_world

    pipeline = VideoLISAPipeline.from_pretrained(
        choice.model, vision_tower, dtype, device, quantization
    )
    logger.info("loaded %s", pipeline.description)

    def toy_notice(video) -> str | None:
        return None if looks_like_toy_world(video.frames) else TOY_MODEL_NOTICE

    return ChatService(
        pipeline,
        limits,
        workdir_root=workdir,
        encode=encode,
        max_tracks=max_tracks,
        video_notice=toy_notice if choice.bundled else None,
        refine=PropagationSettings(
            model=refine_model, feature_budget_bytes=encode.sam_memory_budget_bytes
        ),
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from videolisa.chat.models import choose_model, model_card
    from videolisa.chat.service import TurnSettings
    from videolisa.video import VideoLimits

    choice = choose_model(args.model)
    workdir = Path(tempfile.mkdtemp(prefix="videolisa-app-"))
    atexit.register(shutil.rmtree, workdir, True)
    service = load_service(
        choice,
        vision_tower=args.vision_tower,
        dtype=args.dtype,
        device=args.device,
        quantization="4bit" if args.load_4bit else "8bit" if args.load_8bit else None,
        limits=VideoLimits(max_frames=args.max_frames, max_side=args.max_side),
        encode=encode_settings(args),
        max_tracks=args.max_tracks,
        refine_model=args.refine_model,
        workdir=workdir,
    )
    pipeline = service.pipeline
    card = model_card(choice, pipeline.precision, str(pipeline.device))
    defaults = TurnSettings(num_sparse=args.frames_sparse, num_dense=args.frames_dense)
    demo = build_demo(service, defaults, card, toy=choice.bundled)
    demo.queue().launch(
        server_name=args.host,
        server_port=args.port,
        max_file_size=args.max_file_size,
        allowed_paths=[str(EXAMPLES_DIR)],
        css=CSS,
    )


if __name__ == "__main__":
    main()
