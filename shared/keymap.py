"""State-dict key maps between another code base's checkpoints ("reference") and ours: one table of rows
``(reference pattern, our pattern, note)`` applied in both directions, plus ``Split`` rows for a tensor the other
side stores in parts (a packed q|k|v projection). The table is the documentation: ``KeyMap.table()`` prints it.

Patterns are literal text with placeholders ``{name}``, each matching the regex ``fields[name]``; a placeholder
used twice in a pattern must match the same text. ``{3i+1}`` is an affine index: it matches the number
3·i + 1 and binds ``i`` (a conv / norm / activation ``nn.Sequential`` on one side, numbered modules on the other).
The first row whose pattern matches a key wins.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, Mapping, NamedTuple, Sequence

import torch

Side = Literal["reference", "ours"]
REFERENCE: Side = "reference"
OURS: Side = "ours"
_PLACEHOLDER = re.compile(r"\{(\d*)([a-z_]+)(?:\+(\d+))?\}")


class KeyPattern:
    """A key pattern (see the module docstring); ``match`` binds its placeholders, ``format`` fills them."""

    def __init__(self, text: str, fields: Mapping[str, str]):
        self.text, self.slots, rx, pos = text, [], [], 0
        for k, m in enumerate(_PLACEHOLDER.finditer(text)):
            name = m[2]
            if name not in fields:
                raise ValueError(f"key pattern {text!r}: no field {name!r} (known: {sorted(fields)})")
            rx += [re.escape(text[pos:m.start()]), f"(?P<g{k}>{fields[name]})"]
            self.slots.append((name, int(m[1] or 1), int(m[3] or 0), bool(m[1] or m[3])))
            pos = m.end()
        self.names = {s[0] for s in self.slots}
        self.regex = re.compile("".join(rx) + re.escape(text[pos:]) + "$")

    def match(self, key: str) -> dict[str, str] | None:
        m = self.regex.match(key)
        if not m:
            return None
        values: dict[str, str] = {}
        for k, (name, a, b, affine) in enumerate(self.slots):
            v = m[f"g{k}"]
            if affine:
                n = int(v) - b
                if n < 0 or n % a:
                    return None
                v = str(n // a)
            if values.setdefault(name, v) != v:
                return None
        return values

    def format(self, values: Mapping[str, str]) -> str:
        out = iter(str(a * int(values[n]) + b) if affine else values[n] for n, a, b, affine in self.slots)
        return _PLACEHOLDER.sub(lambda _: next(out), self.text)


@dataclass(frozen=True)
class Split:
    """One reference tensor ⇄ ``len(parts)`` tensors of ours: the reference tensor is cut along ``dim`` into equal
    parts, named by the placeholder ``part`` of the ``ours`` pattern (e.g. ``{x}`` = q, k, v), and joined back in
    that order."""

    reference: str
    ours: str
    part: str
    parts: tuple[str, ...]
    dim: int = 0
    note: str = ""


class Converted(NamedTuple):
    state_dict: dict[str, Any]  # the renamed (split / joined) tensors, in the source's key order
    unknown: list[str]  # source keys no row matches (the caller says what they are)
    values: dict[str, dict[str, str]]  # new key → the placeholder values of the row that made it


class KeyMap:
    """Rows ``(reference, ours[, note])`` and ``Split`` rows over the placeholder regexes ``fields``."""

    def __init__(self, rows: Sequence[tuple[str, ...] | Split], fields: Mapping[str, str]):
        self.rows, self.fields = list(rows), dict(fields)
        self._renames: list[tuple[KeyPattern, KeyPattern]] = []
        self._splits: list[tuple[Split, KeyPattern, KeyPattern]] = []
        for row in self.rows:
            if isinstance(row, Split):
                self._splits.append((row, KeyPattern(row.reference, fields), KeyPattern(row.ours, fields)))
            else:
                self._renames.append((KeyPattern(row[0], fields), KeyPattern(row[1], fields)))

    def under(self, reference_prefix: str, ours_prefix: str) -> list[tuple[str, ...] | Split]:
        """These rows with both patterns below a module (for a larger map that holds this one)."""
        out: list[tuple[str, ...] | Split] = []
        for row in self.rows:
            if isinstance(row, Split):
                out.append(Split(reference_prefix + row.reference, ours_prefix + row.ours, row.part, row.parts,
                                 row.dim, row.note))
            else:
                out.append((reference_prefix + row[0], ours_prefix + row[1], *row[2:]))
        return out

    def rename(self, key: str, to: Side) -> tuple[str, dict[str, str]] | None:
        """(the key on side ``to``, the placeholder values) by the first matching rename row, or None."""
        for ref, ours in self._renames:
            src, dst = (ref, ours) if to == OURS else (ours, ref)
            values = src.match(key)
            if values is not None:
                return dst.format(values), values
        return None

    def convert(self, state_dict: Mapping[str, Any], to: Side, source: str = "state dict",
                collision_hint: str = "") -> Converted:
        """Every key of ``state_dict`` renamed to side ``to`` (``Split`` rows cut or join their tensors; joined
        tensors follow the renamed ones). Two keys mapping to one name raise ``ValueError`` naming both (with
        ``collision_hint``); so do a tensor that does not cut into its parts and a part without its siblings."""
        out: dict[str, Any] = {}
        values: dict[str, dict[str, str]] = {}
        unknown: list[str] = []
        groups: dict[tuple[int, str], dict[str, Any]] = {}  # (split row, joined key) → part → tensor
        origin: dict[str, str] = {}

        def put(new: str, old: str, tensor, bound: dict[str, str]) -> None:
            if new in out:
                raise ValueError(f"{source}: {old} and {origin[new]} both map to {new}{collision_hint}")
            out[new], origin[new], values[new] = tensor, old, bound

        for key, tensor in state_dict.items():
            for n, (split, ref, ours) in enumerate(self._splits):
                bound = (ref if to == OURS else ours).match(key)
                if bound is None:
                    continue
                if to == OURS:
                    k = len(split.parts)
                    if tensor.shape[split.dim] % k:
                        raise ValueError(f"{source}: {key} has {tensor.shape[split.dim]} rows, expected {k} equal "
                                         f"parts ({' | '.join(split.parts)})")
                    for part, piece in zip(split.parts, tensor.chunk(k, dim=split.dim)):
                        put(ours.format({**bound, split.part: part}), key, piece.clone(), bound)
                else:
                    groups.setdefault((n, ref.format(bound)), {})[bound[split.part]] = tensor
                break
            else:
                renamed = self.rename(key, to)
                if renamed is None:
                    unknown.append(key)
                else:
                    put(renamed[0], key, tensor, renamed[1])
        for (n, joined), parts in groups.items():
            split = self._splits[n][0]
            if sorted(parts) != sorted(split.parts):
                raise ValueError(f"{source}: {joined} needs the parts {'/'.join(split.parts)} of ours, found "
                                 f"{'/'.join(sorted(parts)) or 'none'}")
            put(joined, joined, torch.cat([parts[p] for p in split.parts], dim=split.dim), {})
        return Converted(out, unknown, values)

    def table(self) -> list[str]:
        """The rows as aligned text lines: reference key, our key, note."""
        cells = []
        for row in self.rows:
            if isinstance(row, Split):
                cells.append((row.reference, row.ours, (row.note + "; " if row.note else "")
                              + f"split along dim {row.dim} into {{{row.part}}} = {', '.join(row.parts)}"))
            else:
                cells.append((row[0], row[1], row[2] if len(row) > 2 else ""))
        w0, w1 = (max(len(c[i]) for c in cells) for i in (0, 1))
        head = [f"{'reference':<{w0}}  {'ours':<{w1}}  note", "-" * (w0 + w1 + 10)]
        return head + [f"{a:<{w0}}  {b:<{w1}}  {c}".rstrip() for a, b, c in cells]
