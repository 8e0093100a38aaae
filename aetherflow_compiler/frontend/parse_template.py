"""The strict template contract: `{{PATH}}` and `{{PATH:DEFAULT}}`, nothing else.

`parse_template` accepts exactly what the reference engine's resolver accepts and refuses
the rest with the contract's message. The parse decides at compile time whether a string
is a *standalone* token (it renders to the typed value) or text with tokens (it renders
to a string), so the artifact never re-parses templates.
"""

from __future__ import annotations

import re
from functools import lru_cache

from aetherflow_compiler.ir.template import Ref, Template, Text

UNSUPPORTED = "Unsupported templating syntax. Use {{VAR}} or {{VAR:DEFAULT}}"

# The engine's own standalone-token pattern, including its quirks: `$` also matches
# before a trailing newline, and the default keeps its spaces.
_STANDALONE_RE = re.compile(
    r"^\{\{\s*"
    r"([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)"
    r"(?:\:([^}]*))?"
    r"\s*\}\}$"
)
_FORBIDDEN = ("${", "{%", "%}", "{#", "#}", "{}")


class TemplateSyntaxError(ValueError):
    """The contract's error; `offset` points at the offending characters, `detail` says why."""

    def __init__(self, offset: int, detail: str) -> None:
        super().__init__(UNSUPPORTED)
        self.offset = offset
        self.detail = detail


def forbidden_syntax(value: str) -> tuple[int, str] | None:
    """Offset and text of the first pattern that the contract forbids anywhere in a value."""
    found = [(value.find(p), p) for p in _FORBIDDEN if p in value]
    return min(found) if found else None


def _is_identifier(token: str) -> bool:
    # str.isalpha/isalnum, not ASCII: the engine accepts Unicode letters in inline tokens.
    if not token or not (token[0].isalpha() or token[0] == "_"):
        return False
    return all(ch.isalnum() or ch == "_" for ch in token[1:])


def parse_template(value: str) -> Template | None:
    """Parse `value`; None when it holds no template at all (it is then used as is).

    Raises TemplateSyntaxError for anything outside the contract.
    """
    if (
        "{" not in value
        and "}" not in value
        and "$" not in value
        and "%" not in value
        and "#" not in value
    ):
        return None  # nothing forbidden and no token (every _FORBIDDEN pattern has one of these)
    return _parse(value)


@lru_cache(
    maxsize=4096
)  # templates are immutable; checks and the IR builder parse the same strings
def _parse(value: str) -> Template | None:
    bad = forbidden_syntax(value)
    if bad is not None:
        offset, pattern = bad
        raise TemplateSyntaxError(offset, f"'{pattern}' is not allowed in a templated value")
    if "{{" not in value and "}}" not in value:
        return None

    m = _STANDALONE_RE.match(value)
    if m:
        path = tuple(m.group(1).split("."))
        return Template(value, (Ref(path, m.group(2), 0, m.end()),), standalone=True)

    parts: list[Text | Ref] = []
    i = 0
    n = len(value)
    while i < n:
        start = value.find("{{", i)
        if start == -1:
            parts.append(Text(value[i:]))
            break
        early_close = value.find("}}", i, start)
        if early_close != -1:
            raise TemplateSyntaxError(early_close, "'}}' before '{{'")
        if start > i:
            parts.append(Text(value[i:start]))
        end = value.find("}}", start + 2)
        if end == -1:
            raise TemplateSyntaxError(start, "'{{' is never closed")
        token = value[start + 2 : end].strip()
        if not token:
            raise TemplateSyntaxError(start, "empty token")
        if "{" in token or "}" in token:
            raise TemplateSyntaxError(start, "nested braces")
        if ":" in token:
            raw_path, default = token.split(":", 1)
            raw_path = raw_path.strip()
        else:
            raw_path, default = token, None
        if not all(_is_identifier(p) for p in raw_path.split(".")):
            detail = (
                "filters are not supported" if "|" in raw_path else f"'{raw_path}' is not a PATH"
            )
            raise TemplateSyntaxError(start, detail)
        parts.append(Ref(tuple(raw_path.split(".")), default, start, end + 2))
        i = end + 2
    return Template(value, tuple(parts), standalone=False)
