"""YAML text -> values and their positions, through PyYAML's node tree (the loader's rules
are described in loader.py, which is the interface)."""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from aetherflow_compiler.diagnostics import Diagnostic

ALIAS_BUDGET = 10_000
# Mappings and lists may nest this deep (a flow needs about 10 levels, JSON-like values in
# a profile a few more). The checks and code generators walk values recursively; this
# keeps them far from Python's recursion limit.
MAX_DEPTH = 100
# Integers may have this many decimal digits: Python's limit for turning an integer into
# text (PyYAML, hence the engine, fails on a longer decimal integer; the artifact's
# source could not hold one).
MAX_INT_DIGITS = 4300
_INT_LIMIT = 10**MAX_INT_DIGITS
# A base-60 integer with this many ':' has more than MAX_INT_DIGITS digits whatever its
# parts (its first part is at least 1, so it is at least 60**2419 > 10**4300); PyYAML
# computes it in quadratic time, so it is refused before that.
_SEXAGESIMAL_MAX_COLONS = 2418
Path = tuple[Any, ...]  # as loader.Path (the loader imports this module, not the other way round)
Position = tuple[int, int, int, str | None]  # as loader.Position


class LoadError(Exception):
    """A problem that stops loading; carries a located diagnostic."""

    def __init__(self, diag: Diagnostic) -> None:
        super().__init__(diag.message)
        self.diag = diag


_CORE = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {
    _CORE + name
    for name in ("str", "int", "float", "bool", "null", "timestamp", "seq", "map", "merge")
}
_MERGE_TAG = _CORE + "merge"
_STR_TAG = _CORE + "str"
_INT_TAG = _CORE + "int"
_SEQ_TAG = _CORE + "seq"
_MAP_TAG = _CORE + "map"
_BOOL_TAG = _CORE + "bool"
# Scalar tags whose SafeConstructor function returns a plain value (no generator), so it
# can be called directly instead of through construct_object's bookkeeping.
_PLAIN_SCALAR_TAGS = {_CORE + name for name in ("int", "float", "bool", "null", "timestamp")}
_OCTAL_RE = re.compile(r"^[-+]?0[0-7_]+$")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")

# libyaml's parser when PyYAML was built with it (the wheels are), else the pure-Python one.
# Either way the values are those of SafeLoader: construction stays in Python.
_BASE_LOADER: type = (
    yaml.CSafeLoader if getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader
)

# Implicit tags of short plain scalars already resolved: SafeLoader has no path resolvers,
# so a scalar's tag depends only on its text and style, and flows repeat the same keys and
# values (`id`, `type`, `inputs`, ...) in every step.
_RESOLVED: dict[tuple[str, tuple[bool, bool]], str] = {}
_RESOLVED_MAX = 20_000
_RESOLVED_TEXT_MAX = 64


class _Loader(_BASE_LOADER):
    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is not ScalarNode or len(value) > _RESOLVED_TEXT_MAX or self.yaml_path_resolvers:
            return super().resolve(kind, value, implicit)
        memo = (value, implicit)
        tag = _RESOLVED.get(memo)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if len(_RESOLVED) >= _RESOLVED_MAX:
                _RESOLVED.clear()
            _RESOLVED[memo] = tag
        return tag


_YAML_LOADER: type = _Loader


def _first_alias_mark(text: str) -> Any:
    """Where the first alias is used (only computed to locate an AF106 error)."""
    try:
        for event in yaml.parse(text, Loader=_YAML_LOADER):
            if isinstance(event, yaml.AliasEvent):
                return event.start_mark
    except yaml.YAMLError:
        pass
    return None


class Builder:
    def __init__(self, name: str, text: str, warnings: list[Diagnostic]) -> None:
        self.name = name
        self.text = text
        self.warnings = warnings
        self.values: dict[Path, Position] = {}
        self.keys: dict[Path, Position] = {}
        self.warned: set[int] = set()
        self.loader: Any = None

    # -- errors -------------------------------------------------------------------------
    def fail(
        self, mark: yaml.Mark | None, code: str, message: str, hint: str | None = None
    ) -> LoadError:
        line, column = self.position(mark)
        return LoadError(Diagnostic(self.name, line, column, code, message, hint))

    def position(self, mark: yaml.Mark | None) -> tuple[int, int]:
        """(line, column), from 1, of a mark; a mark past the end of a file without a final
        newline (PyYAML puts it on the line after the last) is the end of the last line."""
        if mark is None:
            return 1, 1
        text = self.text
        if mark.index >= len(text) and text and not text.endswith(("\n", "\r")):
            return text.count("\n") + 1, len(text) - text.rfind("\n")
        return mark.line + 1, mark.column + 1

    def unreadable(self, node: ScalarNode, exc: Exception) -> LoadError:
        tag = _short_tag(node.tag)
        # The date's own reason ("month must be in 1..12"); int() and float() only repeat the text.
        why = f" ({exc})" if node.tag == _CORE + "timestamp" and isinstance(exc, ValueError) else ""
        explicit = node.tag != self.loader.resolve(ScalarNode, node.value, (True, False))
        hint = (
            "remove the tag, or write a value of that type"
            if explicit
            else "quote it if it is a string"
        )
        return self.fail(
            node.start_mark,
            "AF103",
            f"invalid YAML: {_shown(node.value)} is not a valid {tag}{why}",
            hint,
        )

    def too_large(self, node: ScalarNode) -> LoadError:
        return self.fail(
            node.start_mark,
            "AF111",
            f"integer {_shown(node.value)} has more than {MAX_INT_DIGITS} digits",
            "Python (and so the engine) cannot turn it into text; quote it if it is a string",
        )

    def warn(self, node: Node, code: str, message: str, hint: str) -> None:
        if id(node) in self.warned:
            return
        self.warned.add(id(node))
        mark = node.start_mark
        self.warnings.append(
            Diagnostic(self.name, mark.line + 1, mark.column + 1, code, message, hint)
        )

    # -- stages -------------------------------------------------------------------------
    def build(self) -> tuple[Any, dict[Path, Position], dict[Path, Position]]:
        root = self.compose()
        if "*" in self.text:  # without an alias (`*name`) no node is shared: nothing to expand
            self.check_expansion(root)
        data = self.construct(root, ())
        return data, self.values, self.keys

    def compose(self) -> Node:
        loader = None
        try:
            loader = self.loader = _YAML_LOADER(self.text)  # the reader may refuse characters
            if not loader.check_node():
                raise self.fail(
                    None, "AF110", "file holds no YAML document", "write a flow into the file"
                )
            root = loader.get_node()
            if loader.check_node():
                mark = self.document_start(loader.peek_event().start_mark)
                raise self.fail(
                    mark,
                    "AF104",
                    "file holds more than one YAML document",
                    "put one flow per file and remove the '---' separator",
                )
        except yaml.MarkedYAMLError as exc:
            raise self.yaml_error(exc) from None
        except yaml.YAMLError as exc:  # reader errors: characters YAML does not allow
            position = getattr(exc, "position", 0)
            line = self.text.count("\n", 0, position) + 1
            column = position - (self.text.rfind("\n", 0, position) + 1) + 1
            reason = getattr(exc, "reason", "unacceptable character")
            raise LoadError(
                Diagnostic(
                    self.name,
                    line,
                    column,
                    "AF103",
                    f"invalid YAML: {reason}",
                    "remove control characters from the file",
                )
            ) from None
        finally:
            if loader is not None:
                loader.dispose()
        if root is None:
            raise self.fail(
                None, "AF110", "file holds no YAML document", "write a flow into the file"
            )
        return root

    def document_start(self, mark: yaml.Mark) -> yaml.Mark:
        """The `---` line that starts the document at `mark` (libyaml marks the line after it)."""
        lines = self.text.splitlines()
        for number in range(min(mark.line, len(lines) - 1), -1, -1):
            if lines[number].startswith("---"):
                return yaml.Mark(mark.name, 0, number, 0, "", 0)
        return mark

    def yaml_error(self, exc: yaml.MarkedYAMLError) -> LoadError:
        mark = exc.problem_mark or exc.context_mark
        problem = (exc.problem or "syntax error").strip()
        hint = None
        if exc.context:
            where = ""
            if exc.context_mark is not None and exc.context_mark is not mark:
                line, column = self.position(exc.context_mark)
                where = f" (line {line}, column {column})"
            hint = f"{exc.context.strip()}{where}"
        return self.fail(mark, "AF103", f"invalid YAML: {problem}", hint)

    def check_expansion(self, root: Node) -> None:
        """Refuse recursive aliases and alias expansion beyond the budget, in bounded time."""
        distinct: set[int] = set()
        on_stack: set[int] = set()
        limit = [0]

        def count_distinct(node: Node) -> None:
            stack = [node]
            while stack:
                n = stack.pop()
                if id(n) in distinct:
                    continue
                distinct.add(id(n))
                stack.extend(_children(n))

        count_distinct(root)
        budget = len(distinct) + ALIAS_BUDGET

        def walk(node: Node, depth: int) -> None:
            if id(node) in on_stack:
                raise self.fail(
                    node.start_mark,
                    "AF107",
                    "alias refers to a node that contains it",
                    "remove the self-referencing alias",
                )
            limit[0] += 1
            if limit[0] > budget:
                raise self.fail(
                    _first_alias_mark(self.text) or node.start_mark,
                    "AF106",
                    f"aliases expand the document by more than {ALIAS_BUDGET} nodes",
                    "use fewer nested aliases (this limit stops 'billion laughs' files)",
                )
            children = _children(node)
            if children:
                if depth >= MAX_DEPTH:  # aliases can nest deeper than the text shows
                    raise self.too_deep(node)
                on_stack.add(id(node))
                for child in children:
                    walk(child, depth + 1)
                on_stack.discard(id(node))

        walk(root, 0)

    # -- construction -------------------------------------------------------------------
    def check_tag(self, node: Node) -> None:
        if node.tag not in _ALLOWED_TAGS:
            raise self.fail(
                node.start_mark,
                "AF105",
                f"YAML tag {_short_tag(node.tag)} is not allowed",
                "flows may only use plain YAML values (strings, numbers, booleans, null, lists, mappings)",
            )

    def too_deep(self, node: Node) -> LoadError:
        return self.fail(
            node.start_mark,
            "AF103",
            f"invalid YAML: lists and mappings nest more than {MAX_DEPTH} levels deep",
            "flows need only a few levels of nesting",
        )

    def wrong_kind(self, node: Node) -> LoadError:
        """A core tag on a node of another kind (`!!map abc`, `!!str [1]`): PyYAML refuses it."""
        kind = {ScalarNode: "a plain value", SequenceNode: "a list"}.get(type(node), "a mapping")
        return self.fail(
            node.start_mark,
            "AF103",
            f"invalid YAML: {kind} cannot be tagged {_short_tag(node.tag)}",
            "remove the tag",
        )

    def construct(self, node: Node, path: Path) -> Any:
        if node.tag not in _ALLOWED_TAGS:
            self.check_tag(node)
        mark = node.start_mark
        if isinstance(node, ScalarNode):
            # libyaml spells the plain style '' where PyYAML says None.
            self.values[path] = (mark.line + 1, mark.column + 1, mark.index, node.style or None)
            return self.scalar(node)
        if len(path) >= MAX_DEPTH:
            raise self.too_deep(node)
        self.values[path] = (mark.line + 1, mark.column + 1, mark.index, None)
        if isinstance(node, SequenceNode):
            if node.tag != _SEQ_TAG:
                raise self.wrong_kind(node)
            return [self.construct(child, path + (i,)) for i, child in enumerate(node.value)]
        assert isinstance(node, MappingNode)
        if node.tag != _MAP_TAG:
            raise self.wrong_kind(node)
        return self.mapping(node, path)

    def scalar(self, node: ScalarNode) -> Any:
        loader = self.loader
        assert loader is not None
        tag = node.tag
        if tag == _STR_TAG:
            value: Any = node.value  # what construct_yaml_str returns
        elif tag in _PLAIN_SCALAR_TAGS:
            if tag == _INT_TAG and _too_many_digits(node.value):
                raise self.too_large(node)
            try:
                value = loader.yaml_constructors[tag](loader, node)
            except (
                ValueError,
                KeyError,
                IndexError,
                AttributeError,
                TypeError,
                OverflowError,
            ) as exc:
                # `!!int abc`, `!!bool abc`, `!!timestamp abc`, a date such as 2024-13-45:
                # PyYAML (so the engine) fails on them.
                raise self.unreadable(node, exc) from None
            if tag == _INT_TAG and not -_INT_LIMIT < value < _INT_LIMIT:
                raise self.too_large(node)
        else:  # `!!seq`, `!!map` or `!!merge` on a plain value
            raise self.wrong_kind(node)
        if isinstance(value, str) and not value.isascii() and _SURROGATE_RE.search(value):
            raise self.fail(
                node.start_mark,
                "AF103",
                "invalid YAML: string holds an unpaired UTF-16 surrogate",
                "YAML does not join surrogate pairs: write the character itself or a \\U0001F680-style escape",
            )
        if not node.style:
            if node.tag in (_CORE + "int", _CORE + "float") and ":" in node.value:
                self.warn(
                    node,
                    "AF802",
                    f"'{node.value}' is read as the base-60 number {value}",
                    f'quote it ("{node.value}") if it is a time or a string',
                )
            elif node.tag == _CORE + "int" and _OCTAL_RE.match(node.value):
                self.warn(
                    node,
                    "AF803",
                    f"'{node.value}' is read as the octal number {value}",
                    f'quote it ("{node.value}") if the leading zero matters',
                )
            elif node.tag == _CORE + "timestamp":
                self.warn(
                    node,
                    "AF804",
                    f"'{node.value}' is read as a date, not a string",
                    f'quote it ("{node.value}")',
                )
        return value

    def mapping_entries(self, node: MappingNode, depth: int) -> list[tuple[Node, Node]]:
        """Entries of a mapping with `<<` merge keys expanded the way PyYAML does it."""
        if depth >= MAX_DEPTH:
            raise self.too_deep(node)
        merged: list[tuple[Node, Node]] = []
        explicit: list[tuple[Node, Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                if isinstance(value_node, MappingNode):
                    merged.extend(self.mapping_entries(value_node, depth + 1))
                elif isinstance(value_node, SequenceNode):
                    groups = []
                    for sub in value_node.value:
                        if not isinstance(sub, MappingNode):
                            raise self.fail(
                                sub.start_mark,
                                "AF103",
                                "invalid YAML: a merge key ('<<') needs mappings",
                            )
                        groups.append(self.mapping_entries(sub, depth + 2))
                    # PyYAML: earlier mappings in the list win over later ones.
                    for group in reversed(groups):
                        merged.extend(group)
                else:
                    raise self.fail(
                        value_node.start_mark,
                        "AF103",
                        "invalid YAML: a merge key ('<<') needs a mapping or a list of mappings",
                    )
            else:
                explicit.append((key_node, value_node))
        return merged + explicit

    def mapping(self, node: MappingNode, path: Path) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        explicit_seen: dict[Any, Node] = {}
        entries: list[tuple[Node, Node]] = node.value
        own: set[int] | None = None  # the mapping's own keys, when `<<` merges in others
        if any(key_node.tag == _MERGE_TAG for key_node, _ in entries):
            own = {id(k) for k, _ in entries}
            entries = self.mapping_entries(node, len(path))
        keys = self.keys
        for key_node, value_node in entries:
            if not isinstance(key_node, ScalarNode):
                raise self.fail(
                    key_node.start_mark,
                    "AF109",
                    "mapping keys must be plain values, not lists or mappings",
                    "use a string key",
                )
            if key_node.tag not in _ALLOWED_TAGS:
                self.check_tag(key_node)
            key = self.scalar(key_node)
            try:
                hash(key)
            except TypeError:  # pragma: no cover - scalars are hashable
                raise self.fail(
                    key_node.start_mark, "AF109", "mapping key cannot be used as a key"
                ) from None
            if not key_node.style and key_node.tag == _BOOL_TAG:
                self.warn(
                    key_node,
                    "AF801",
                    f"key '{key_node.value}' is read as the boolean {key}",
                    f'quote it ("{key_node.value}") to keep it a string',
                )
            if own is None or id(key_node) in own:
                if key in explicit_seen:
                    first = explicit_seen[key].start_mark
                    raise self.fail(
                        key_node.start_mark,
                        "AF108",
                        f"duplicate key '{key_node.value}'",
                        f"first defined at line {first.line + 1}; YAML would silently keep only the last one",
                    )
                explicit_seen[key] = key_node
            child = path + (key,)
            mark = key_node.start_mark
            keys[child] = (mark.line + 1, mark.column + 1, mark.index, key_node.style or None)
            result[key] = self.construct(value_node, child)
        return result


def _too_many_digits(text: str) -> bool:
    """Whether an `int`-tagged scalar is a decimal or base-60 integer beyond MAX_INT_DIGITS
    (told from the text: PyYAML refuses the first and takes quadratic time on the second)."""
    if len(text) <= MAX_INT_DIGITS:
        return False
    digits = text.replace("_", "").lstrip("+-")
    if digits.count(":") > _SEXAGESIMAL_MAX_COLONS:
        return True
    return digits.isdigit() and not digits.startswith("0") and len(digits) > MAX_INT_DIGITS


def _shown(text: str, limit: int = 40) -> str:
    return repr(text) if len(text) <= limit else repr(text[: limit - 3])[:-1] + "...'"


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        out: list[Node] = []
        for k, v in node.value:
            out.append(k)
            out.append(v)
        return out
    return []


def _short_tag(tag: str) -> str:
    if tag.startswith(_CORE):
        return "!!" + tag[len(_CORE) :]
    return tag if tag.startswith("!") else f"!<{tag}>"
