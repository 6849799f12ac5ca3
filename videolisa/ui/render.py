"""Chat text as HTML: a user's text exactly as typed, an answer with its tracks as coloured tags,
and the legend of an answer's tracks."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from videolisa.chat.events import TrackSummary
from videolisa.modeling.tokenizer import TRACK_CONCEPT
from videolisa.video import contour_color, track_color

MARKDOWN_SYNTAX = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$])")  # ">" and "<": html.escape
LEADING_JOINS = re.compile(r"^(?:sure|yes|and|or|,|\s)+", re.IGNORECASE)
POINTED = "the object you pointed at"  # a track made by clicks, not by the answer
PRONOUN_ONLY = re.compile(r"^(?:it|they|this|that|these|those|here)(?:\s+(?:is|are))?$", re.I)


def plain_text(text: str) -> str:
    """``text`` shown exactly as typed: neither HTML nor Markdown in it takes effect."""
    return html.escape(MARKDOWN_SYNTAX.sub(r"\\\1", text), quote=False)


def typed_text(shown: str) -> str:
    """The text a user typed, back from its :func:`plain_text` form."""
    return html.unescape(re.sub(r"\\(.)", r"\1", shown))


def hex_color(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def track_tag(track: int) -> str:
    """An inline tag in the colours track ``track`` is drawn with: its fill colour, and its
    contour's contrasting edge (the overlay's colours)."""
    fill = track_color(track)
    edge = contour_color(fill)
    return (
        f'<span class="track-tag" style="background-color: {hex_color(fill)}; '
        f'box-shadow: inset 0 0 0 2px {hex_color(edge)}">track {track}</span>'
    )


def answer_html(text: str) -> str:
    """``text`` as HTML-safe chat text, each ``<TRK>`` a tag in its track's colour (tags that
    follow each other are spaced)."""
    pieces = html.escape(text).split(html.escape(TRACK_CONCEPT))
    tagged = [pieces[0]]
    for track, piece in enumerate(pieces[1:]):
        if track and not tagged[-1]:
            tagged[-1] = " "
        tagged += [track_tag(track), piece]
    return "".join(tagged)


def track_phrases(text: str) -> list[str]:
    """The words of answer ``text`` that each ``<TRK>`` belongs to: what comes before it since
    the previous track or the start of its sentence, without "Sure," or a leading "and"; a
    track with no words of its own ("they are <TRK> and <TRK>") shares the previous one's."""
    pieces = text.split(TRACK_CONCEPT)
    phrases: list[str] = []
    for piece in pieces[:-1]:
        sentence = re.split(r"[.!?]\s+", piece)[-1]
        phrase = LEADING_JOINS.sub("", sentence).strip(" ,;:")
        phrases.append(phrase or (phrases[-1] if phrases else ""))
    return phrases


def track_words(text: str, question: str = "") -> list[str]:
    """What each track of answer ``text`` is, in words: :func:`track_phrases`, where words that
    only point ("it is"), or none, give way to the question (its first 40 characters)."""
    asked = question if len(question) <= 40 else question[:39].rstrip() + "…"
    return [
        f"“{asked}”" if asked and (not phrase or PRONOUN_ONLY.match(phrase)) else phrase
        for phrase in track_phrases(text)
    ]


def legend_html(
    text: str, tracks: Sequence[TrackSummary], num_frames: int, question: str = ""
) -> str:
    """A table under an answer: each track's tag, what it is in words (:func:`track_words`)
    and its size on the frames."""
    phrases = track_words(text, question)
    rows = []
    for summary in tracks:
        words = phrases[summary.track] if summary.track < len(phrases) else POINTED
        size = (
            f"{100 * summary.mean_area:.1f} % of the frame on {summary.frames} of {num_frames} "
            "frames"
            if summary.frames
            else "no mask on any frame"
        )
        if summary.corrected_on:
            frames = ", ".join(map(str, summary.corrected_on))
            plural = "s" if len(summary.corrected_on) > 1 else ""
            size += f"; corrected on frame{plural} {frames}"
        rows.append(
            f"<tr><td>{track_tag(summary.track)}</td><td>{html.escape(words) or '—'}</td>"
            f"<td>{size}</td></tr>"
        )
    return '<table class="legend">' + "".join(rows) + "</table>"


def tracks_json(tracks: Sequence[TrackSummary]) -> list[dict[str, Any]]:
    """The tracks of an answer for API users: index, colours, size and mask folder."""
    return [
        {
            "track": t.track,
            "color": hex_color(track_color(t.track)),
            "frames": t.frames,
            "mean_area": t.mean_area,
            "masks": f"masks/{t.track}/",
        }
        for t in tracks
    ]
