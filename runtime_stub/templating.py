"""Rendering templates that the compiler already parsed.

A standalone token is a `Ref` and renders to the typed value it points at; text with
tokens is a `Text` and renders to a string. Plain strings were decided at compile time to
hold no template and are used as they are. Nothing here parses template syntax.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import TYPE_CHECKING
from .errors import MissingKeyError, TemplateSyntaxError

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, List, Optional, Tuple

UNSUPPORTED_TEMPLATE = "Unsupported templating syntax. Use {{VAR}} or {{VAR:DEFAULT}}"
_FORBIDDEN_IN_RESULT = ("${", "{%", "%}", "{#", "#}", "{}")


class Ref:
    """`{{path}}` or `{{path:default}}`: `path` is dotted, `default` None when absent."""

    __slots__ = ("path", "parts", "default")

    def __init__(self, path: str, default: Optional[str] = None) -> None:
        self.path = path
        self.parts = tuple(path.split("."))
        self.default = default

    def source(self) -> str:
        if self.default is None:
            return "{{" + self.path + "}}"
        return "{{" + self.path + ":" + self.default + "}}"

    def __repr__(self) -> str:
        return "Ref(%r, default=%r)" % (self.path, self.default)


class Text:
    """Text with tokens, rendered to a string (`str(value)` per token)."""

    __slots__ = ("pieces",)

    def __init__(self, *pieces: Any) -> None:
        self.pieces = pieces  # str and Ref, in order

    def source(self) -> str:
        return "".join(p.source() if isinstance(p, Ref) else p for p in self.pieces)

    def __repr__(self) -> str:
        return "Text(%s)" % ", ".join(repr(p) for p in self.pieces)


def lookup(context: Dict[str, Any], ref: Ref) -> Tuple[bool, Any]:
    cur: Any = context
    for part in ref.parts:
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        else:
            return False, None
    return True, cur


def resolve_ref(context: Dict[str, Any], ref: Ref) -> Any:
    """The typed value of a standalone token; "" counts as missing."""
    found, value = lookup(context, ref)
    if not found or (isinstance(value, str) and value == ""):
        if ref.default is not None:
            return ref.default
        raise MissingKeyError(ref.path)
    return value


def render_text(context: Dict[str, Any], text: Text) -> str:
    out: List[str] = []
    for piece in text.pieces:
        if isinstance(piece, Ref):
            found, value = lookup(context, piece)
            if not found or (isinstance(value, str) and value == ""):
                if piece.default is None:
                    raise MissingKeyError(piece.path)
                out.append(piece.default)
            else:
                out.append(str(value))
        else:
            out.append(piece)
    rendered = "".join(out)
    for pattern in _FORBIDDEN_IN_RESULT:
        if pattern in rendered:
            raise TemplateSyntaxError(
                "%s\nthe rendered value of %r contains %r"
                % (UNSUPPORTED_TEMPLATE, text.source(), pattern)
            )
    return rendered


def render(value: Any, context: Dict[str, Any]) -> Any:
    """Render every Ref and Text inside nested dicts, lists and tuples."""
    if isinstance(value, Ref):
        return resolve_ref(context, value)
    if isinstance(value, Text):
        return render_text(context, value)
    if isinstance(value, dict):
        return {k: render(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context) for v in value]
    if isinstance(value, tuple):
        return tuple(render(v, context) for v in value)
    return value


def show(value: Any) -> Any:
    """The value with templates shown as their source text (for `plan`)."""
    if isinstance(value, (Ref, Text)):
        return value.source()
    if isinstance(value, dict):
        return {k: show(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [show(v) for v in value]
    return value


def env_refs(value: Any) -> List[Ref]:
    """Every `env.*` token inside a value."""
    found: List[Ref] = []
    if isinstance(value, Ref):
        if value.parts[0] == "env":
            found.append(value)
    elif isinstance(value, Text):
        for piece in value.pieces:
            found.extend(env_refs(piece))
    elif isinstance(value, dict):
        for v in value.values():
            found.extend(env_refs(v))
    elif isinstance(value, (list, tuple)):
        for v in value:
            found.extend(env_refs(v))
    return found
