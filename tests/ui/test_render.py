"""How the app shows a turn: text as typed, track tags in the overlay's colours, notices and
progress in the answer, then text, overlay, legend and masks as one message."""

from __future__ import annotations

from videolisa.chat.events import Notice, Progress, TextDelta, TrackSummary, TurnDone, TurnFailed
from videolisa.ui.examples import NEEDS_PUBLISHED, load_examples
from videolisa.ui.render import answer_html, legend_html, plain_text, track_phrases, typed_text
from videolisa.ui.turn_view import TurnView
from videolisa.video import track_color


def test_user_text_stays_text():
    assert plain_text("<b>hi</b> **x**") == "&lt;b&gt;hi&lt;/b&gt; \\*\\*x\\*\\*"


def test_typed_text_undoes_plain_text():
    typed = "Where is the <b>cat</b> **now** (x_1)?"
    assert typed_text(plain_text(typed)) == typed


def test_consecutive_track_tags_are_spaced_and_in_the_overlay_colours():
    html = answer_html("Sure, <TRK><TRK>.")
    assert "track 0</span> <span" in html and html.endswith("track 1</span>.")
    red = "#{:02x}{:02x}{:02x}".format(*track_color(0))
    assert f"background-color: {red}" in html and "box-shadow: inset 0 0 0 2px" in html


def test_each_track_gets_the_words_of_the_answer_it_belongs_to():
    assert track_phrases("Sure, the red circle is <TRK> and the star is <TRK>.") == [
        "the red circle is",
        "the star is",
    ]
    assert track_phrases("Sure, they are <TRK> and <TRK>.") == ["they are", "they are"]
    assert track_phrases("No track here.") == []


def test_the_legend_gives_colour_words_and_size():
    tracks = (TrackSummary(0, 40, 0.123), TrackSummary(1, 0, 0.0))
    html = legend_html("Sure, the cat is <TRK>, the dog <TRK>.", tracks, 40)
    assert "track 0</span>" in html and "the cat is" in html
    assert "12.3 % of the frame on 40 of 40 frames" in html and "no mask on any frame" in html


def test_a_turn_shows_notices_progress_then_one_message_with_everything(tmp_path):
    view = TurnView()
    view.apply(Notice("New video: the conversation starts over."))
    view.apply(Progress("encode", 3, 10, 2.4))
    running = view.content()
    assert "<em>New video" in running and "Encoding the video… 30 % · 2 s" in running
    view.apply(TextDelta("Sure, <TRK>."))
    view.apply(Progress("masks", 5, 10, 3.0))
    assert "Segmenting every frame… 50 %" in view.content() and "track 0" in view.content()
    overlay, masks = tmp_path / "overlay.mp4", tmp_path / "masks.zip"
    done = TurnDone(
        "Sure, <TRK>.", 1, 10, overlay=overlay, masks_zip=masks, tracks=(TrackSummary(0, 10, 0.5),)
    )
    view.apply(done)
    text, video, legend, archive = view.content()
    assert "Segmenting" not in text and "track 0" in text
    assert video == {"path": str(overlay)} and archive == {"path": str(masks)}
    assert "50.0 % of the frame on 10 of 10 frames" in legend
    assert view.shown == {0}


def test_a_stopped_turn_keeps_its_text_and_takes_no_more_events():
    view = TurnView()
    view.apply(TextDelta("Sure, it is"))
    view.stop()
    view.apply(TextDelta(" more"))
    assert view.content() == "Sure, it is\n\n<em>Stopped.</em>"


def test_a_failed_turn_keeps_its_text_and_says_why():
    view = TurnView()
    view.apply(TextDelta("Sure,"))
    view.apply(TurnFailed("Ran out of memory.", "Sure,"))
    assert view.content() == "Sure,\n\n<em>Ran out of memory.</em>" and view.finished


def test_examples_for_the_toy_model_come_first_and_the_rest_say_what_they_need():
    toy = load_examples(toy=True)
    answered = [e for e in toy if NEEDS_PUBLISHED not in e["display_text"]]
    assert answered and toy[: len(answered)] == answered
    rest = toy[len(answered) :]
    assert all(e["display_text"].endswith(NEEDS_PUBLISHED) for e in rest)
    published = load_examples(toy=False)
    assert all(e["display_text"] == e["text"] for e in published)
