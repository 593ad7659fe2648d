"""Prompt template sets, verbatim from the reference systems, and how each fills in a class name."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

# F-ViT (CLIPSelf/ViLD `multiple_templates`, 63 prompts). `{article}` is "a"/"an"; see `_fill_fvit`.
FVIT_TEMPLATES = (
    "There is {article} {} in the scene.",
    "There is the {} in the scene.",
    "a photo of {article} {} in the scene.",
    "a photo of the {} in the scene.",
    "a photo of one {} in the scene.",
    "itap of {article} {}.",
    "itap of my {}.",
    "itap of the {}.",
    "a photo of {article} {}.",
    "a photo of my {}.",
    "a photo of the {}.",
    "a photo of one {}.",
    "a photo of many {}.",
    "a good photo of {article} {}.",
    "a good photo of the {}.",
    "a bad photo of {article} {}.",
    "a bad photo of the {}.",
    "a photo of a nice {}.",
    "a photo of the nice {}.",
    "a photo of a cool {}.",
    "a photo of the cool {}.",
    "a photo of a weird {}.",
    "a photo of the weird {}.",
    "a photo of a small {}.",
    "a photo of the small {}.",
    "a photo of a large {}.",
    "a photo of the large {}.",
    "a photo of a clean {}.",
    "a photo of the clean {}.",
    "a photo of a dirty {}.",
    "a photo of the dirty {}.",
    "a bright photo of {article} {}.",
    "a bright photo of the {}.",
    "a dark photo of {article} {}.",
    "a dark photo of the {}.",
    "a photo of a hard to see {}.",
    "a photo of the hard to see {}.",
    "a low resolution photo of {article} {}.",
    "a low resolution photo of the {}.",
    "a cropped photo of {article} {}.",
    "a cropped photo of the {}.",
    "a close-up photo of {article} {}.",
    "a close-up photo of the {}.",
    "a jpeg corrupted photo of {article} {}.",
    "a jpeg corrupted photo of the {}.",
    "a blurry photo of {article} {}.",
    "a blurry photo of the {}.",
    "a pixelated photo of {article} {}.",
    "a pixelated photo of the {}.",
    "a black and white photo of the {}.",
    "a black and white photo of {article} {}.",
    "a plastic {}.",
    "the plastic {}.",
    "a toy {}.",
    "the toy {}.",
    "a plushie {}.",
    "the plushie {}.",
    "a cartoon {}.",
    "the cartoon {}.",
    "an embroidered {}.",
    "the embroidered {}.",
    "a painting of the {}.",
    "a painting of a {}.",
)

# FC-CLIP `VILD_PROMPT` (14 prompts; the inconsistent trailing periods are the reference's).
FCCLIP_TEMPLATES = (
    "a photo of a {}.",
    "This is a photo of a {}",
    "There is a {} in the scene",
    "There is the {} in the scene",
    "a photo of a {} in the scene",
    "a photo of a small {}.",
    "a photo of a medium {}.",
    "a photo of a large {}.",
    "This is a photo of a small {}.",
    "This is a photo of a medium {}.",
    "This is a photo of a large {}.",
    "There is a small {} in the scene.",
    "There is a medium {} in the scene.",
    "There is a large {} in the scene.",
)


def _fill_fvit(template: str, name: str) -> str:
    """F-ViT's rules: ``_`` → space, ``/`` → " or ", lower-case, trailing dots stripped; "an" before a raw
    name starting with a/e/i/o/u; prompts starting with "a"/"the" get "This is " in front.
    """
    processed = name.replace("_", " ").replace("/", " or ").lower().rstrip(".")
    article = "an" if name[:1] in "aeiou" and name else "a"
    text = template.format(processed, article=article)
    return "This is " + text if text.startswith("a") or text.startswith("the") else text


def _fill_plain(template: str, name: str) -> str:
    return template.format(name)


@dataclass(frozen=True)
class TemplateSet:
    name: str
    templates: tuple[str, ...]
    fill: Callable[[str, str], str]

    def prompts(self, class_name: str) -> list[str]:
        return [self.fill(t, class_name) for t in self.templates]


TEMPLATE_SETS = {
    "fvit": TemplateSet("fvit", FVIT_TEMPLATES, _fill_fvit),
    "fcclip": TemplateSet("fcclip", FCCLIP_TEMPLATES, _fill_plain),
}


def get_template_set(templates: str | TemplateSet | list[str] | tuple[str, ...]) -> TemplateSet:
    """A named set (``fvit``, ``fcclip``), a ``TemplateSet``, or a list of ``{}`` templates filled verbatim."""
    if isinstance(templates, TemplateSet):
        return templates
    if isinstance(templates, str):
        if templates not in TEMPLATE_SETS:
            raise KeyError(f"unknown template set {templates!r}; known: {', '.join(TEMPLATE_SETS)}")
        return TEMPLATE_SETS[templates]
    templates = tuple(templates)
    if not templates or not all("{}" in t for t in templates):
        raise ValueError("custom templates must be a non-empty list of strings each containing '{}'")
    return TemplateSet("custom", templates, _fill_plain)
