"""LLaVA conversations about a scene: captions (pretraining) and short-answer Q&A (instruction tuning)."""
from __future__ import annotations

from collections import Counter

import numpy as np

from .scene import COLOURS, GROUND, SHAPES, THINGS

SHORT_ANSWER = "Answer the question using a single word or phrase."
CAPTION_PROMPTS = (
    "Describe the image concisely.",
    "Give a brief description of the picture.",
    "Write a short caption for this image.",
    "What is shown in the image? Answer briefly.",
)
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six")
TEXT_ONLY = (
    ("What colours can the shapes in this world have?", "red, green, blue or yellow"),
    ("Which shapes exist in this world?", "circles, squares and triangles"),
    ("What lies under the sky in these pictures?", "grass, water or sand"),
)


def _plural(thing: str, n: int) -> str:
    return thing if n == 1 else thing + "s"


def caption(objects: list[tuple[str, list[float]]], stuff: list[str]) -> str:
    """objects: (thing, bbox) pairs; e.g. "a red circle and two blue squares on sky and grass"."""
    counts = Counter(t for t, _ in objects)
    parts = [("a" if n == 1 else NUMBER_WORDS[min(n, 6)]) + " " + _plural(t, n)
             for t, n in sorted(counts.items(), key=lambda kv: THINGS.index(kv[0]))]
    return f"{_enumerate(parts)} on {_enumerate(stuff)}"


def _enumerate(words: list[str]) -> str:
    """["a", "b", "c"] → "a, b and c"."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def questions(rng: np.random.Generator, objects: list[tuple[str, list[float]]], width: int) -> list[tuple[str, str]]:
    """Unambiguous (question, answer) pairs whose answers follow from the annotations."""
    counts = Counter(t for t, _ in objects)
    by_shape = Counter(t.split()[1] for t, _ in objects)
    by_colour = Counter(t.split()[0] for t, _ in objects)
    qa = []
    thing = THINGS[int(rng.integers(len(THINGS)))]
    qa.append((f"How many {thing}s are there?", str(counts.get(thing, 0))))
    present = sorted(counts, key=THINGS.index)
    asked = thing if rng.random() < 0.5 else present[int(rng.integers(len(present)))]
    qa.append((f"Is there a {asked} in the image?", "Yes" if asked in counts else "No"))
    unique_shapes = [s for s in SHAPES if by_shape[s] == 1]
    if unique_shapes:
        s = unique_shapes[int(rng.integers(len(unique_shapes)))]
        qa.append((f"What colour is the {s}?", next(t for t, _ in objects if t.endswith(s)).split()[0]))
    unique_colours = [c for c in COLOURS if by_colour[c] == 1]
    if unique_colours:
        c = unique_colours[int(rng.integers(len(unique_colours)))]
        qa.append((f"What shape is the {c} object?", next(t for t, _ in objects if t.startswith(c)).split()[1]))
    # left/right only for a unique object whose visible box lies wholly in one half of the image
    sided = [(t, "left" if b[0] + b[2] <= width / 2 else "right") for t, b in objects
             if counts[t] == 1 and (b[0] + b[2] <= width / 2 or b[0] >= width / 2)]
    if sided:
        t, side = sided[int(rng.integers(len(sided)))]
        qa.append((f"Is the {t} on the left or the right?", side))
    order = rng.permutation(len(qa))
    return [(f"{qa[i][0]}\n{SHORT_ANSWER}", qa[i][1]) for i in order]


def scene_question(stuff: list[str]) -> tuple[str, str] | None:
    """("Which of grass, water and sand is not in the image?", the missing one), answerable from the picture as a
    whole; None unless exactly one ground class is missing from ``stuff`` (the visible stuff classes)."""
    missing = [g for g in GROUND if g not in stuff]
    if len(missing) != 1:
        return None
    return f"Which of {_enumerate(list(GROUND))} is not in the image?\n{SHORT_ANSWER}", missing[0]


# substrings that tell the question templates above apart (per-kind accuracy in the LLaVA demo)
QUESTION_KINDS = {"count": "How many ", "presence": "Is there a ", "colour": "What colour is the ",
                  "shape": "What shape is the ", "side": " on the left or the right?", "ground": " is not in the image?"}


def question_kind(question: str) -> str | None:
    """The ``QUESTION_KINDS`` key of a question of this world (None for any other text)."""
    return next((k for k, s in QUESTION_KINDS.items() if s in question), None)


def pretrain_record(rng, record_id: str, image: str, objects, stuff) -> dict:
    """LCS-558K style record: a brief-caption instruction with ``<image>`` before or after it, and the caption."""
    prompt = CAPTION_PROMPTS[int(rng.integers(len(CAPTION_PROMPTS)))]
    human = f"{prompt}\n<image>" if rng.random() < 0.5 else f"<image>\n{prompt}"
    return {"id": record_id, "image": image, "conversations": [
        {"from": "human", "value": human}, {"from": "gpt", "value": caption(objects, stuff)}]}


def instruct_record(rng, record_id: str, image: str, objects, width: int, stuff: list[str], max_turns: int = 3) -> dict:
    """mix665k style record: up to ``max_turns`` short-answer Q&A rounds, ``<image>`` in the first question; the
    scene question is one of them, at a random turn.

    Why the scene question is always asked: every object question needs the question's words bound to what the
    image shows (which shape, which colour), and the demo's random-init LM does not learn that binding in its
    budget, so with object questions alone it answers from priors and ignores the image. The scene question maps
    the whole picture to its answer; asked of every image it is learned (asked of half of them it was not), and the
    image ablation then measures that the image tokens reach the LM (the LLaVA README has the measured values).
    """
    qa = questions(rng, objects, width)
    scene = scene_question(stuff)
    if scene is not None:
        qa = qa[:max_turns - 1]
        qa.insert(int(rng.integers(len(qa) + 1)), scene)
    conv = []
    for k, (q, a) in enumerate(qa[:max_turns]):
        conv += [{"from": "human", "value": f"<image>\n{q}" if k == 0 else q}, {"from": "gpt", "value": a}]
    return {"id": record_id, "image": image, "conversations": conv}


def text_only_records() -> list[dict]:
    """ShareGPT-like records without an image."""
    return [{"id": f"text-{i}", "conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": a}]}
            for i, (q, a) in enumerate(TEXT_ONLY)]
