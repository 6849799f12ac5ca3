"""Questions and answers about a toy-world scene, per kind and subtype.

A question is asked only when its answer is unique and clear-cut in the video alone:

* a description ("the red circle", "the object that moves to the left") must fit one object;
* a direction is clear when, on every frame step, the motion along it is positive and at least
  :data:`DOMINANCE` times the motion across it, and no other object ever moves that way even
  loosely (component at least :data:`LOOSE_DOMINANCE` times the other);
* comparisons need :data:`SIZE_MARGIN` (areas) or :data:`SPEED_MARGIN` (speeds) between the
  winner and the runner-up, and rules the same margins between objects that pass and fail them;
* "enters the scene last" needs an object that comes in from outside the frame at least
  ``max(2, T // 8)`` frames after every other object is first seen.

Size means area: the pixels of the whole shape. Segmentation answers contain the literal
:data:`TRK` once per tracked object. Several objects are listed in canonical order: left to
right by the centroid x of their visible pixels on the first frame where all of them are visible
(groups whose centroids there are closer than :data:`ORDER_GAP` pixels are not asked about).
Every answer is a sentence of :data:`ANSWER_GRAMMAR`.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from videolisa.toyworld.world import COLOURS, SHAPES, Scene

_T = TypeVar("_T")

TRK = "<TRK>"
# Question kinds and their subtypes; a sample's subtype is drawn evenly, then its scene.
SUBTYPES: dict[str, tuple[str, ...]] = {
    "attribute": ("colour and shape", "colour", "shape"),
    "motion": ("direction", "static", "enters last"),
    "comparison": ("speed", "size"),
    "rule": ("dangerous", "racer", "rare", "safe"),
    "several": ("colour", "shape", "static", "moving"),
    "text": ("count", "colour", "shape", "moving", "way"),
    "multi_turn": ("colour", "shape", "moving", "way"),
}
KINDS: tuple[str, ...] = tuple(SUBTYPES)
# A longer conversation about one video, its turns drawn from every kind above (follow-ups right
# after the question they follow). Not one of KINDS: its middle turns track objects, which the
# ReasonVOS layout on disk cannot hold.
CONVERSATION = "conversation"
CONVERSATION_TURNS = 5
SIZE_MARGIN = 1.3
SPEED_MARGIN = 1.5
DOMINANCE = 2.0
LOOSE_DOMINANCE = 0.5
ORDER_GAP = 2.0

PLURALS = {"circle": "circles", "square": "squares", "triangle": "triangles", "star": "stars"}
# direction: (axis of positions, sign), the phrases naming it, how an answer says it.
DIRECTIONS: dict[str, tuple[int, int]] = {
    "left": (0, -1),
    "right": (0, 1),
    "up": (1, -1),
    "down": (1, 1),
}
_DIRECTION_PHRASES = {
    "left": ("that moves to the left", "moving left"),
    "right": ("that moves to the right", "moving right"),
    "up": ("that moves up", "moving up"),
    "down": ("that moves down", "moving down"),
}
_DIRECTION_ANSWERS = {"left": "to the left", "right": "to the right", "up": "up", "down": "down"}

SINGLE_ANSWER = f"Sure, it is {TRK}."
SEGMENT_TEMPLATES = (
    "Segment {np}.",
    "Please segment {np}.",
    "Can you segment {np}?",
    "Where is {np}? Please segment it.",
)
RULE_TEMPLATES = (
    "Rule: {rule}. Segment {np}.",
    "Rule: {rule}. Please segment {np}.",
    "Rule: {rule}. Which object is {predicate}? Please segment it.",
)
_GROUP_TEMPLATES = ("Segment all {many}.", "Please segment every {one}.", "Segment the {many}.")
_STATIC_GROUP = ("Segment all objects that do not move.", "Please segment every static object.")
_MOVING_GROUP = ("Segment all moving objects.", "Please segment every moving object.")
FOLLOW_UPS = ("Segment it.", "Now segment it.", "Please segment that object.")
_ABOUT_TEMPLATES = {
    "colour": ("What colour is {np}?", "Which colour does {np} have?"),
    "shape": ("What shape is {np}?", "Which shape is {np}?"),
    "moving": ("Does {np} move?", "Is {np} moving?"),
    "way": ("Which way does {np} move?", "In which direction does {np} move?"),
}
_COUNT_TEMPLATES = ("How many {noun} are there?", "Count the {noun}.")
_COUNT_ALL = (
    "How many objects are there?",
    "How many objects are in the video?",
    "Count the objects in the video.",
)


def _answer_grammar() -> re.Pattern[str]:
    """Every answer the toy world gives, as one regular expression."""
    colour = "|".join(COLOURS)
    shape = "|".join(SHAPES)
    plural = "|".join(PLURALS[s] for s in SHAPES)
    trk = re.escape(TRK)
    sentences = [
        re.escape(SINGLE_ANSWER),
        rf"Sure, they are {trk}(?:, {trk})* and {trk}\.",
        rf"There is 1 (?:object|(?:{colour}) object|{shape})\.",
        rf"There are [2-9] (?:objects|(?:{colour}) objects|{plural})\.",
        rf"It is (?:{colour})\.",
        rf"It is a (?:{shape})\.",
        r"Yes, it moves\.",
        r"No, it does not move\.",
        rf"It moves (?:{'|'.join(_DIRECTION_ANSWERS.values())})\.",
    ]
    return re.compile("|".join(f"(?:{s})" for s in sentences))


ANSWER_GRAMMAR = _answer_grammar()


def is_well_formed(answer: str) -> bool:
    """Whether ``answer`` (surrounding spaces aside) is one sentence of the toy world's answers."""
    return ANSWER_GRAMMAR.fullmatch(answer.strip()) is not None


@dataclass(frozen=True)
class Turn:
    """One question and its answer; ``track_objects`` has one object id per TRK, in order."""

    question: str
    answer: str
    track_objects: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.answer.count(TRK) != len(self.track_objects):
            raise ValueError(
                f"answer {self.answer!r} has {self.answer.count(TRK)} {TRK} "
                f"but {len(self.track_objects)} track objects"
            )


@dataclass(frozen=True)
class _Option:
    """A turn that may be asked: any of ``phrasings``, with its answer and tracks."""

    phrasings: tuple[str, ...]
    answer: str
    tracks: tuple[int, ...] = ()


@dataclass(frozen=True)
class _Referent:
    """Noun phrases that pick out exactly one object.

    ``mentions`` says what they give away (colour, shape, size, motion, speed), so that a text
    question does not ask for what its description already names.
    """

    obj_id: int
    phrases: tuple[str, ...]
    family: str  # the kind that segments it: attribute, motion or comparison
    subtype: str
    mentions: frozenset[str]


class SceneFacts:
    """What can be read off a scene: areas, speeds, per-frame steps, first frames seen."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        self.objects = scene.objects
        self.ids = list(range(len(scene.objects)))
        self.area = np.array([o.area for o in self.objects], dtype=np.float64)
        self.speed = np.array([o.speed for o in self.objects])
        self.steps = np.diff(scene.positions, axis=1)  # (N, T-1, 2)
        self.seen = scene.masks.any(axis=(2, 3))  # (N, T)
        self.first_seen = self.seen.argmax(axis=1)
        in_frame = scene.footprints.any(axis=(2, 3))
        self.entered = [f > 0 and not in_frame[n, :f].any() for n, f in enumerate(self.first_seen)]

    def having(self, test: Callable[[int], bool]) -> list[int]:
        return [n for n in self.ids if test(n)]

    def moves(self, n: int, direction: str, *, strict: bool) -> bool:
        """Whether object ``n`` moves ``direction`` on every step (strict) or any step (loose)."""
        axis, sign = DIRECTIONS[direction]
        along = self.steps[n, :, axis] * sign
        across = np.abs(self.steps[n, :, 1 - axis])
        if strict:
            return bool(len(along) and (along > 0).all() and (along >= DOMINANCE * across).all())
        return bool(((along > 0) & (along >= LOOSE_DOMINANCE * across)).any())

    def direction(self, n: int) -> str | None:
        """The clear direction of object ``n``, if it has one."""
        return next((d for d in DIRECTIONS if self.moves(n, d, strict=True)), None)

    @functools.cached_property
    def referents(self) -> list[_Referent]:
        """Every unique description of an object in the scene."""
        return [*_attribute_referents(self), *_motion_referents(self), *_comparisons(self)]


def _extreme(values: np.ndarray, ids: Sequence[int], margin: float, *, largest: bool) -> int | None:
    """The id with the largest (smallest) value, if it beats the runner-up by ``margin``."""
    if len(ids) < 2:
        return None
    ranked = sorted(ids, key=lambda n: values[n], reverse=largest)
    best, runner = values[ranked[0]], values[ranked[1]]
    clear = best >= margin * runner if largest else runner >= margin * best
    return ranked[0] if clear else None


def _attribute_referents(facts: SceneFacts) -> Iterable[_Referent]:
    colours = Counter(o.colour for o in facts.objects)
    shapes = Counter(o.shape for o in facts.objects)
    pairs = Counter((o.colour, o.shape) for o in facts.objects)
    for o in facts.objects:
        for unique, phrase, subtype in (
            (pairs[o.colour, o.shape] == 1, f"the {o.colour} {o.shape}", "colour and shape"),
            (colours[o.colour] == 1, f"the {o.colour} object", "colour"),
            (shapes[o.shape] == 1, f"the {o.shape}", "shape"),
        ):
            if unique:
                mentions = frozenset(subtype.split(" and "))
                yield _Referent(o.obj_id, (phrase,), "attribute", subtype, mentions)


def _motion_referents(facts: SceneFacts) -> Iterable[_Referent]:
    motion = frozenset({"motion"})
    for direction, (clause, participle) in _DIRECTION_PHRASES.items():
        strict = facts.having(lambda n, d=direction: facts.moves(n, d, strict=True))
        loose = facts.having(lambda n, d=direction: facts.moves(n, d, strict=False))
        if len(strict) == 1 and loose == strict:
            phrases = (f"the object {clause}", f"the object {participle}")
            yield _Referent(strict[0], phrases, "motion", "direction", motion)
    static = facts.having(lambda n: facts.speed[n] == 0)
    if len(static) == 1:
        phrases = ("the object that does not move", "the object that stays still")
        yield _Referent(static[0], phrases, "motion", "static", motion)
    *earlier, last = np.argsort(facts.first_seen, kind="stable")
    margin = max(2, facts.scene.num_frames // 8)
    if (
        earlier
        and facts.entered[last]
        and facts.first_seen[last] - facts.first_seen[earlier[-1]] >= margin
    ):
        phrases = ("the object that enters the scene last", "the last object to enter the scene")
        yield _Referent(last, phrases, "motion", "enters last", motion)


def _comparisons(facts: SceneFacts) -> Iterable[_Referent]:
    moving = facts.having(lambda n: facts.speed[n] > 0)
    for largest, phrases in (
        (True, ("the fastest object", "the object that moves fastest")),
        (False, ("the slowest of the moving objects",)),
    ):
        winner = _extreme(facts.speed, moving, SPEED_MARGIN, largest=largest)
        if winner is not None:
            yield _Referent(winner, phrases, "comparison", "speed", frozenset({"speed"}))
    groups = [("object", facts.ids, frozenset({"size"}))]
    for shape in SHAPES:
        members = facts.having(lambda n, s=shape: facts.objects[n].shape == s)
        groups.append((shape, members, frozenset({"size", "shape"})))
    for colour in sorted({o.colour for o in facts.objects}):
        members = facts.having(lambda n, c=colour: facts.objects[n].colour == c)
        groups.append((f"{colour} object", members, frozenset({"size", "colour"})))
    for noun, members, mentions in groups:
        for largest, adjective in ((True, "largest"), (False, "smallest")):
            winner = _extreme(facts.area, members, SIZE_MARGIN, largest=largest)
            if winner is not None:
                phrase = (f"the {adjective} {noun}",)
                yield _Referent(winner, phrase, "comparison", "size", mentions)


def _segment(ref: _Referent) -> _Option:
    phrasings = tuple(t.format(np=p) for t in SEGMENT_TEMPLATES for p in ref.phrases)
    return _Option(phrasings, SINGLE_ANSWER, (ref.obj_id,))


def _referent_options(facts: SceneFacts, family: str) -> Iterable[tuple[str, tuple[_Option, ...]]]:
    for ref in facts.referents:
        if ref.family == family:
            yield ref.subtype, (_segment(ref),)


def _rule_options(facts: SceneFacts) -> Iterable[tuple[str, tuple[_Option, ...]]]:
    objects, area, speed = facts.objects, facts.area, facts.speed
    pairs = Counter((o.colour, o.shape) for o in objects)
    found: list[tuple[str, str, str, str, list[int]]] = []  # subtype, rule, np, predicate, ids
    for ref in facts.having(lambda n: pairs[objects[n].colour, objects[n].shape] == 1):
        ref_np = f"the {objects[ref].colour} {objects[ref].shape}"
        others = facts.having(lambda n, r=ref: n != r)
        bigger = [n for n in others if speed[n] > 0 and area[n] >= SIZE_MARGIN * area[ref]]
        not_bigger = [n for n in others if speed[n] == 0 or SIZE_MARGIN * area[n] <= area[ref]]
        if len(bigger) + len(not_bigger) == len(others):
            rule = f"an object is dangerous if it is bigger than {ref_np} and moving"
            found.append(("dangerous", rule, "the dangerous object", "dangerous", bigger))
        faster = [n for n in others if speed[n] > 0 and speed[n] >= SPEED_MARGIN * speed[ref]]
        slower = [n for n in others if SPEED_MARGIN * speed[n] <= speed[ref]]
        if len(faster) + len(slower) == len(others):
            rule = f"an object is a racer if it moves faster than {ref_np}"
            found.append(("racer", rule, "the racer", "a racer", faster))
    colours = Counter(o.colour for o in objects)
    rare = facts.having(lambda n: colours[objects[n].colour] == 1)
    rule = "an object is rare if no other object has its colour"
    found.append(("rare", rule, "the rare object", "rare", rare))
    static = facts.having(lambda n: speed[n] == 0)
    for colour in sorted({objects[n].colour for n in static}):
        safe = [n for n in static if objects[n].colour != colour]
        rule = f"an object is safe if it does not move and it is not {colour}"
        found.append(("safe", rule, "the safe object", "safe", safe))
    for subtype, rule, phrase, predicate, ids in found:
        if len(ids) == 1:
            phrasings = tuple(
                t.format(rule=rule, np=phrase, predicate=predicate) for t in RULE_TEMPLATES
            )
            yield subtype, (_Option(phrasings, SINGLE_ANSWER, (ids[0],)),)


def _left_to_right(facts: SceneFacts, members: Sequence[int]) -> tuple[int, ...] | None:
    """``members`` sorted by visible centroid x on the first frame showing all of them."""
    together = np.flatnonzero(facts.seen[list(members)].all(axis=0))
    if len(together) == 0:
        return None
    t = int(together[0])
    xs = {n: float(np.nonzero(facts.scene.masks[n, t])[1].mean()) for n in members}
    ordered = tuple(sorted(members, key=xs.__getitem__))
    gaps = [xs[b] - xs[a] for a, b in itertools.pairwise(ordered)]
    return ordered if min(gaps) >= ORDER_GAP else None


def _several_options(facts: SceneFacts) -> Iterable[tuple[str, tuple[_Option, ...]]]:
    objects = facts.objects
    groups = [
        ("static", _STATIC_GROUP, facts.having(lambda n: facts.speed[n] == 0)),
        ("moving", _MOVING_GROUP, facts.having(lambda n: facts.speed[n] > 0)),
    ]
    for c in sorted({o.colour for o in objects}):
        phrasings = tuple(
            t.format(one=f"{c} object", many=f"{c} objects") for t in _GROUP_TEMPLATES
        )
        groups.append(("colour", phrasings, facts.having(lambda n, c=c: objects[n].colour == c)))
    for s in sorted({o.shape for o in objects}):
        phrasings = tuple(t.format(one=s, many=PLURALS[s]) for t in _GROUP_TEMPLATES)
        groups.append(("shape", phrasings, facts.having(lambda n, s=s: objects[n].shape == s)))
    for subtype, phrasings, members in groups:
        order = _left_to_right(facts, members) if 2 <= len(members) <= 3 else None
        if order is not None:
            tracks = [TRK] * len(order)
            answer = f"Sure, they are {', '.join(tracks[:-1])} and {tracks[-1]}."
            yield subtype, (_Option(phrasings, answer, order),)


def _there_are(count: int, singular: str, plural: str) -> str:
    return f"There is 1 {singular}." if count == 1 else f"There are {count} {plural}."


def _about_options(facts: SceneFacts) -> Iterable[tuple[str, _Option, int]]:
    """(subtype, text question, object) about one described object."""
    for ref in facts.referents:
        obj, direction = facts.objects[ref.obj_id], facts.direction(ref.obj_id)
        moving = "Yes, it moves." if obj.speed > 0 else "No, it does not move."
        way = f"It moves {_DIRECTION_ANSWERS[direction]}." if direction else None
        for subtype, allowed, answer in (
            ("colour", "colour" not in ref.mentions, f"It is {obj.colour}."),
            ("shape", "shape" not in ref.mentions, f"It is a {obj.shape}."),
            ("moving", not ref.mentions & {"motion", "speed"}, moving),
            ("way", "motion" not in ref.mentions, way),
        ):
            if allowed and answer is not None:
                templates = _ABOUT_TEMPLATES[subtype]
                phrasings = tuple(t.format(np=p) for t in templates for p in ref.phrases)
                yield subtype, _Option(phrasings, answer), ref.obj_id


def _text_options(facts: SceneFacts) -> Iterable[tuple[str, tuple[_Option, ...]]]:
    objects = facts.objects
    yield "count", (_Option(_COUNT_ALL, _there_are(len(objects), "object", "objects")),)
    for colour, count in Counter(o.colour for o in objects).items():
        phrasings = tuple(t.format(noun=f"{colour} objects") for t in _COUNT_TEMPLATES)
        answer = _there_are(count, f"{colour} object", f"{colour} objects")
        yield "count", (_Option(phrasings, answer),)
    for shape, count in Counter(o.shape for o in objects).items():
        phrasings = tuple(t.format(noun=PLURALS[shape]) for t in _COUNT_TEMPLATES)
        yield "count", (_Option(phrasings, _there_are(count, shape, PLURALS[shape])),)
    for subtype, option, _ in _about_options(facts):
        yield subtype, (option,)


def _multi_turn_options(facts: SceneFacts) -> Iterable[tuple[str, tuple[_Option, ...]]]:
    for subtype, option, obj_id in _about_options(facts):
        yield subtype, (option, _Option(FOLLOW_UPS, SINGLE_ANSWER, (obj_id,)))


_MAX_DRAWS = 100  # draws of a question for a long conversation before giving up on a scene
_OPTIONS: dict[str, Callable[[SceneFacts], Iterable[tuple[str, tuple[_Option, ...]]]]] = {
    "attribute": functools.partial(_referent_options, family="attribute"),
    "motion": functools.partial(_referent_options, family="motion"),
    "comparison": functools.partial(_referent_options, family="comparison"),
    "rule": _rule_options,
    "several": _several_options,
    "text": _text_options,
    "multi_turn": _multi_turn_options,
}


def _pick(rng: np.random.Generator, items: Sequence[_T]) -> _T:
    return items[int(rng.integers(len(items)))]


def make_conversation(
    rng: np.random.Generator, kind: str, scene: Scene, subtype: str | None = None
) -> tuple[Turn, ...] | None:
    """A conversation of ``kind`` about ``scene``, or None if the scene allows none.

    One turn for most kinds; two for ``multi_turn`` (a text question about one object, then a
    request to segment it). With ``subtype`` (one of ``SUBTYPES[kind]``) only that subtype is
    asked; otherwise each subtype the scene allows is equally likely.
    """
    by_subtype: dict[str, list[tuple[_Option, ...]]] = {}
    for found, options in _OPTIONS[kind](SceneFacts(scene)):
        if subtype in (None, found):
            by_subtype.setdefault(found, []).append(options)
    if not by_subtype:
        return None
    conversation = _pick(rng, by_subtype[_pick(rng, sorted(by_subtype))])
    return tuple(Turn(_pick(rng, o.phrasings), o.answer, o.tracks) for o in conversation)


def make_long_conversation(
    rng: np.random.Generator, scene: Scene, turns: int = CONVERSATION_TURNS
) -> tuple[Turn, ...] | None:
    """A conversation of exactly ``turns`` turns about ``scene``, or None if the scene allows
    none: each step draws a kind, then one of its questions (a text question and its follow-up
    "Segment it." come together); a question is not asked twice."""
    facts = SceneFacts(scene)
    pools = {kind: [options for _, options in _OPTIONS[kind](facts)] for kind in KINDS}
    kinds = sorted(kind for kind, options in pools.items() if options)
    conversation: list[_Option] = []
    asked: set[tuple[str, ...]] = set()
    for _ in range(_MAX_DRAWS):
        if len(conversation) == turns or not kinds:
            break
        options = _pick(rng, pools[_pick(rng, kinds)])
        if len(conversation) + len(options) > turns or options[0].phrasings in asked:
            continue
        asked.add(options[0].phrasings)
        conversation += options
    if len(conversation) != turns:
        return None
    return tuple(Turn(_pick(rng, o.phrasings), o.answer, o.tracks) for o in conversation)
