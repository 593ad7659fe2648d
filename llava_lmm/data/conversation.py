"""LLaVA-1.5 conversation templates ``plain`` and ``v1`` (= ``vicuna_v1``), rendered exactly as the reference."""
from __future__ import annotations

from dataclasses import dataclass, field

VICUNA_SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
                 "The assistant gives helpful, detailed, and polite answers to the user's questions.")
LLAVA_SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. "
                "The assistant gives helpful, detailed, and polite answers to the human's questions.")


@dataclass
class Conversation:
    """``style`` is ``"plain"`` (sep after every message, no roles) or ``"two"`` (Vicuna: sep / sep2)."""

    name: str
    system: str
    roles: tuple[str, str]
    style: str
    sep: str
    sep2: str | None = None
    messages: list[list] = field(default_factory=list)

    def copy(self) -> "Conversation":
        return Conversation(self.name, self.system, self.roles, self.style, self.sep, self.sep2,
                            [list(m) for m in self.messages])

    def append_message(self, role: str, text: str | None) -> None:
        self.messages.append([role, text])

    def get_prompt(self) -> str:
        if self.style == "plain":
            out = self.system
            for _, text in self.messages:
                if text:
                    out += text + self.sep
            return out
        seps = (self.sep, self.sep2)
        out = self.system + seps[0]
        for i, (role, text) in enumerate(self.messages):
            if text:
                out += role + ": " + text + seps[i % 2]
            else:
                out += role + ":"
        return out


TEMPLATES: dict[str, Conversation] = {
    "plain": Conversation("plain", "", ("", ""), "plain", "\n"),
    "v1": Conversation("v1", VICUNA_SYSTEM, ("USER", "ASSISTANT"), "two", " ", "</s>"),
    "llava_v1": Conversation("llava_v1", LLAVA_SYSTEM, ("USER", "ASSISTANT"), "two", " ", "</s>"),
}
TEMPLATES["vicuna_v1"] = TEMPLATES["v1"]


def get_template(name: str) -> Conversation:
    if name not in TEMPLATES:
        raise ValueError(f"unknown conversation template {name!r}; known: {sorted(TEMPLATES)}")
    return TEMPLATES[name].copy()


def inference_prompt(question: str, template: str = "v1", with_image: bool = True) -> str:
    """``{system} USER: <image>\\n{question} ASSISTANT:`` (the eval/chat prompt)."""
    conv = get_template(template)
    text = ("<image>\n" + question) if with_image and "<image>" not in question else question
    conv.append_message(conv.roles[0], text)
    conv.append_message(conv.roles[1], None)
    return conv.get_prompt()
