"""Typed configs: dataclass schemas loaded from YAML with ``key=value`` overrides, validated with errors naming the key.

Options with a fixed set of values are typed ``Literal[...]``: a value outside the set is an error naming the key,
the value and the allowed values when the config is read (before any model or dataset is built).

Input paths (fields declared with ``input_path(...)``: annotation files, image folders, class-name files,
novel-class lists, weights files) follow one rule, ``resolve_input_path``: a relative path names a file below the
working directory when it is there, else a file shipped with the code below ``CODE_ROOT`` (the folder holding
``shared/`` and the adapters: the shipped configs write ``<adapter>/configs/classnames/…``), so the
shipped configs work from any directory; a path found in neither place stays as given, relative to the working
directory, which "not found" errors name. ``load_config`` applies the rule to every such field, defaults included;
output paths (``train.out_dir``, caches) are relative to the working directory."""
from __future__ import annotations

import dataclasses
import re
import types
import typing
from pathlib import Path
from typing import Any, Sequence, TypeVar

import yaml

from shared.errors import UserError
from shared.io import atomic_write_text

T = TypeVar("T")
# YAML 1.1 (PyYAML) reads "1e-4" (no dot) as a string; a schema that wants a number takes it as one
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


class ConfigError(UserError, ValueError):
    """A config file or override does not fit the schema."""


CODE_ROOT = Path(__file__).resolve().parents[2]  # holds shared/, backbone/ and the adapters (their configs/)
INPUT_PATH = "input_path"  # dataclass field metadata key


def input_path(default: Any = dataclasses.MISSING, **kwargs) -> Any:
    """A dataclass field holding an input file or folder (``field(metadata={"input_path": True})``): resolved by
    ``resolve_input_path`` when the config is loaded."""
    return dataclasses.field(default=default, metadata={INPUT_PATH: True}, **kwargs)


def resolve_input_path(value: str | Path) -> str:
    """The one rule for input paths of configs: absolute paths as given; a relative path below the working
    directory when it exists there, else below ``CODE_ROOT`` when a file shipped with the code is there (absolute
    then), else as given (read from the working directory; "not found" errors say so: ``shared.io.relative_note``)."""
    p = Path(value)
    if p.is_absolute() or p.exists() or not p.parts:
        return str(value)
    shipped = CODE_ROOT / p
    return str(shipped) if shipped.exists() else str(value)


def resolve_input_paths(config: Any) -> Any:
    """Apply ``resolve_input_path`` to every ``input_path`` field of a config dataclass and its sections (in
    place); returns ``config``."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            resolve_input_paths(value)
        elif f.metadata.get(INPUT_PATH) and isinstance(value, str) and value:
            setattr(config, f.name, resolve_input_path(value))
    return config


def _convert(value: Any, tp: Any, key: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(value, a, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{key}: cannot be {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{key}={value!r} is not one of {list(args)}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping for {tp.__name__}, got {type(value).__name__}")
        return _build(tp, value, key)
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if origin is tuple and args:
            if len(args) != len(value):
                raise ConfigError(f"{key}: expected {len(args)} values, got {len(value)}")
            return tuple(_convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        items = [_convert(v, args[0], f"{key}[{i}]") if args else v for i, v in enumerate(value)]
        return tuple(items) if (origin or tp) is tuple else items
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if isinstance(value, str) and tp in (int, float) and _NUMBER.match(value.strip()):
        number = float(value)
        value = int(number) if tp is int and number.is_integer() else number
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    return value


def _has_literal(tp: Any) -> bool:
    return typing.get_origin(tp) is typing.Literal or any(_has_literal(a) for a in typing.get_args(tp))


def check_choices(config: Any) -> None:
    """Raise ``ConfigError`` naming the key, the value and the allowed values when a ``Literal``-typed field (or a
    list of them) of the dataclass instance ``config`` holds another value. ``load_config`` checks this while
    reading; a schema calls it in ``__post_init__`` to check configs built in code too."""
    for name, tp in typing.get_type_hints(type(config)).items():
        if _has_literal(tp):
            _convert(getattr(config, name), tp, name)


def _build(schema: type[T], values: dict, prefix: str = "") -> T:
    hints = typing.get_type_hints(schema)
    fields = {f.name: f for f in dataclasses.fields(schema)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(f"unknown key {where}{unknown[0]} (known in {prefix or 'the top level'}: {sorted(fields)})")
    kwargs = {}
    for name, value in values.items():
        kwargs[name] = _convert(value, hints[name], f"{prefix}.{name}" if prefix else name)
    try:
        return schema(**kwargs)
    except ConfigError as e:  # a schema's own range checks (``__post_init__``) name the field; add the section
        raise ConfigError(f"{prefix}.{e}" if prefix else str(e)) from None


def _set_path(tree: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {dotted}: {p} is not a section")
    node[parts[-1]] = value


def load_config(schema: type[T], path: str | Path | None = None, overrides: Sequence[str] = ()) -> T:
    """Schema defaults ← YAML file ← ``key.sub=value`` overrides (values parsed as YAML); the file's path and the
    config's input paths resolved (``resolve_input_path``)."""
    tree: dict = {}
    source = "defaults"
    if path is not None:
        path = Path(resolve_input_path(path))  # a shipped config (<adapter>/configs/…) from any directory
        source = str(path)
        if not path.is_file():
            from shared.io import relative_note

            raise ConfigError(f"config file not found: {path}{relative_note(path)}")
        try:
            tree = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {e}") from None
        if not isinstance(tree, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
    for item in overrides:
        if "=" not in item or item.startswith("="):
            raise ConfigError(f"override {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            value = raw
        _set_path(tree, key.strip(), value)
    try:
        return resolve_input_paths(_build(schema, tree))
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None


def config_to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def save_config(cfg: Any, path: str | Path, header: str | None = None) -> None:
    """``cfg`` as YAML that ``load_config`` reads back; ``header`` becomes a leading comment."""
    def plain(x):
        if isinstance(x, tuple):
            return [plain(v) for v in x]
        if isinstance(x, list):
            return [plain(v) for v in x]
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        return x

    text = yaml.safe_dump(plain(config_to_dict(cfg)), sort_keys=False)
    atomic_write_text(path, (f"# {header}\n" if header else "") + text)


def flatten_config(tree: Any, prefix: str = "") -> dict[str, Any]:
    """A config (dataclass or plain dict) as {dotted key: leaf value}; lists/tuples are leaves (as lists)."""
    if dataclasses.is_dataclass(tree) and not isinstance(tree, type):
        tree = config_to_dict(tree)
    out: dict[str, Any] = {}
    for k, v in tree.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten_config(v, key + "."))
        else:
            out[key] = list(v) if isinstance(v, tuple) else v
    return out


def config_changes(old: Any, new: Any) -> dict[str, tuple[Any, Any]]:
    """{dotted key: (old, new)} for every leaf that differs (a key absent on one side shows as ``<absent>``)."""
    a, b = flatten_config(old), flatten_config(new)
    missing = "<absent>"
    return {k: (a.get(k, missing), b.get(k, missing)) for k in sorted(set(a) | set(b))
            if a.get(k, missing) != b.get(k, missing)}
