"""A parsed `{{...}}` template as IR nodes: the text between tokens and the tokens
(`Ref`). frontend/parse_template.py makes them; code generators read them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Ref:
    """One token. `path` is split on dots; `default` is None when there is no colon."""

    path: tuple[str, ...]
    default: str | None
    start: int  # offset of "{{" in the source string
    end: int  # offset just after "}}"

    @property
    def root(self) -> str:
        return self.path[0]

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class Template:
    """A string with tokens. Standalone templates have exactly one Ref and no Text."""

    source: str
    parts: tuple[Text | Ref, ...]
    standalone: bool

    @cached_property
    def refs(self) -> tuple[Ref, ...]:
        return tuple(p for p in self.parts if isinstance(p, Ref))


# Roots whose value is a string: the env snapshot and the run's ids.
TEXT_ROOTS = ("env", "flow_id", "run_id")
