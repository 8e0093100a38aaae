"""Hypothesis strategies for the fuzz suite: every kind of input the compiler reads.

- YAML trees (flows, profiles, scheduler files, bundle manifests): valid-ish trees, from
  the bundled examples and golden inputs (seeds) or from the JSON schemas in
  aetherflow_compiler/schemas/, with perturbed values (huge ints, floats for ints, NULs, odd
  unicode, templates, deep nesting, type swaps) and written by an emitter of our own that
  can add core tags (`!!int`, `!!map`, ...) on any node, anchors and aliases, duplicated and
  non-string keys, `\\r` line ends, a BOM, more documents;
- byte-level mutations (flip, insert, delete, splice) of the seeds' bytes;
- the project config (TOML: `[tool.aetherflow]` in pyproject.toml, aetherflow.toml);
- plugin folders: small generated .py files registering odd names, raising, printing;
- file-system layouts: unreadable folders, symlink loops, dangling links, FIFOs, sockets,
  odd, non-UTF-8 and very long names, a path longer than PATH_MAX, odd `-o` folders.

Each strategy gives a `Case` (fuzz_harness.py) with the commands to run on it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml
from fuzz_harness import PLUGIN_MARK, ROOT, Case
from hypothesis import assume
from hypothesis import strategies as st

SCHEMAS = ROOT / "aetherflow_compiler" / "schemas"
KINDS = ("flow", "profiles", "scheduler", "manifest")


# --- seeds ------------------------------------------------------------------------------------


def _kind_of(data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    if "jobs" in data or "flow" in data:
        return "flow"
    if "bundle" in data:
        return "manifest"
    if "items" in data or "timezone" in data:
        return "scheduler"
    if data and all(
        isinstance(v, dict)
        and set(v)
        <= {"config", "options", "decode", "config_paths", "options_paths", "kind", "driver"}
        for v in data.values()
    ):
        return "profiles"
    return None


@cache
def seed_files() -> tuple[tuple[str, bytes], ...]:
    """(name, bytes) of every YAML input in examples/ and tests/golden/ (valid or not)."""
    found = []
    for base in (ROOT / "examples", ROOT / "tests" / "golden"):
        for path in sorted(base.rglob("*.y*ml")):
            if "expected" in path.parts or path.parent.name == "ci":
                continue
            found.append((str(path.relative_to(ROOT)), path.read_bytes()))
    return tuple(found)


@cache
def seed_trees() -> dict[str, tuple[Any, ...]]:
    """The seeds that load as YAML, by kind."""
    out: dict[str, list[Any]] = {k: [] for k in KINDS}
    for _name, data in seed_files():
        try:
            tree = yaml.safe_load(data)
        except yaml.YAMLError:
            continue
        kind = _kind_of(tree)
        if kind is not None and not _cyclic(tree):
            out[kind].append(tree)
    return {k: tuple(v) for k, v in out.items()}


def _cyclic(tree: Any) -> bool:
    """A recursive alias (AF107's golden case) loads as a list that contains itself; an
    alias bomb (AF106's) as a tree that is small in memory but huge when walked. Either is
    left out of the seeds (the byte mutations still start from their files). Linear in the
    distinct containers: each is visited once."""
    done: dict[int, int] = {}  # container id -> the number of nodes it expands to
    visiting: set[int] = set()

    def size(node: Any) -> int:
        if not isinstance(node, (dict, list)):
            return 1
        key = id(node)
        if key in visiting:
            raise _Cycle
        if key not in done:
            visiting.add(key)
            values = node.values() if isinstance(node, dict) else node
            done[key] = 1 + sum(size(v) for v in values)
            visiting.discard(key)
        return done[key]

    try:
        return size(tree) > _SEED_NODES
    except (_Cycle, RecursionError):
        return True


class _Cycle(Exception):
    pass


_SEED_NODES = 100_000  # expanded nodes: more is an alias bomb, not a flow


@cache
def seed_bytes(kind: str) -> tuple[bytes, ...]:
    """Raw seeds for byte mutation: the files of that kind and the golden inputs that do
    not load at all (they are good at reaching the loader's edges)."""
    out = []
    for _name, data in seed_files():
        try:
            tree_kind = _kind_of(yaml.safe_load(data))
        except yaml.YAMLError:
            tree_kind = kind
        if tree_kind == kind:
            out.append(data)
    return tuple(out)


def example_flows() -> dict[str, bytes]:
    return {
        f"flows/{p.name}": p.read_bytes()
        for p in sorted((ROOT / "examples" / "flows").glob("*.yaml"))
    }


SIMPLE_FLOW = b"""\
version: 1
flow:
  id: simple
  workspace: {root: /tmp/aetherflow-fuzz-work}
  state: {path: /tmp/aetherflow-fuzz-state/simple.sqlite}
jobs:
  - id: only
    steps:
      - id: hello
        type: external.process
        inputs:
          command: [echo, hello]
"""


# --- YAML trees -------------------------------------------------------------------------------


class Raw(str):
    """A scalar written into the YAML text as it is ("0x1F", ".nan", "yes", 5000 digits)."""


@dataclass(frozen=True)
class Tagged:
    tag: str
    node: Any


@dataclass(frozen=True)
class Nested:
    """A value inside `depth` flow sequences or mappings: [[[...]]] or {a: {a: ...}}."""

    node: Any
    depth: int
    mapping: bool


TAGS = (
    "!!int",
    "!!str",
    "!!map",
    "!!seq",
    "!!float",
    "!!bool",
    "!!null",
    "!!binary",
    "!!timestamp",
    "!!set",
    "!!omap",
    "!!pairs",
    "!!merge",
    "!!value",
    "!!python/object:os.system",
    "!!python/name:os.system",
    "!custom",
    "!<tag:yaml.org,2002:int>",
    "!",
    "!!str:x",
    "!<!>",
)

ODD_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "\t",
        "\r",
        "a\rb",
        "\r\n",
        "\u2028",
        "\u0085",
        "\ufeff",
        "\u202e",
        "\u200b",
        "\U0001f600",
        "e\u0301",
        "\ud7ff",
        "\ufffd",
        "\x7f",
        "\x1b[31m",
        "NaN",
        "null",
        "~",
        "yes",
        "no",
        "on",
        "off",
        "0x10",
        "0o17",
        "1_000",
        "1e400",
        "-0",
        "..",
        ".",
        "/",
        "\\",
        "-",
        "--o",
        "a/b",
        "../x",
        "C:\\x",
        "*",
        "&a",
        "!!int 1",
        "{{",
        "}}",
        "{{ }}",
        "{{env.}}",
        "{{env.X:}}",
        "{{steps.x.y}}",
        "{{jobs..outputs}}",
        "{{result.}}",
        "{{{{x}}}}",
        "{{env.A:{{env.B}}}}",
        "{{ env.X | upper }}",
        "{{env.X:" + "a" * 100 + "}}",
        "$(touch /tmp/pwned)",
        "'; rm -rf / #",
        '"',
        "'",
        "a: b",
        "- x",
        "# c",
        "%YAML",
        "@x",
        "`x`",
        "x" * 300,
        "é" * 200,
        "\U0010ffff",
        "\udcff",
    ]
)


def huge_int() -> st.SearchStrategy[Raw]:
    return st.sampled_from([4301, 5000, 20000]).map(lambda n: Raw("9" * n))


def weird_scalar() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70),
        st.sampled_from([0, -1, 1, 2**31, 2**63, -(2**63) - 1, 10**30]),
        st.sampled_from([2.0, 0.5, -1.5, 1e300, float("inf"), float("-inf"), float("nan"), -0.0]),
        st.booleans(),
        st.none(),
        huge_int(),
        st.sampled_from(
            [
                Raw(r)
                for r in (
                    "1e400",
                    ".nan",
                    ".inf",
                    "-.inf",
                    "0x1F",
                    "0o17",
                    "0b101",
                    "1_000",
                    "1:20",
                    "2024-01-01",
                    "2024-01-01T00:00:00Z",
                    "yes",
                    "No",
                    "ON",
                    "~",
                    "Null",
                    "<<",
                    "=",
                    "2.0",
                    "-0",
                    "+1",
                    "017",
                    "'1'",
                    "!!binary aGVsbG8=",
                    "!!int 12",
                    "!!float 1",
                    "!!str 1",
                    "!!null ''",
                    "!!bool yes",
                    "!!timestamp 2024-01-01",
                )
            ]
        ),
        ODD_TEXT,
        st.text(max_size=20),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
    )


def small_tree() -> st.SearchStrategy[Any]:
    return st.recursive(
        weird_scalar(),
        lambda kids: st.one_of(
            st.lists(kids, max_size=3),
            st.dictionaries(st.one_of(st.text(max_size=8), weird_scalar()), kids, max_size=3),
        ),
        max_leaves=6,
    )


# Paths into a tree: tuples of keys and indexes.
def _paths(tree: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(tree, dict):
        for key, value in tree.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            out.extend(_paths(value, (*prefix, i)))
    return out


def _get(tree: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        tree = tree[key]
    return tree


def _set(tree: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = _get(tree, path[:-1])
    parent[path[-1]] = value
    return tree


def _copy(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _copy(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_copy(v) for v in tree]
    return tree


@cache
def schema(kind: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{kind}.schema.json").read_text())  # type: ignore[no-any-return]


@cache
def schema_keys(kind: str) -> tuple[str, ...]:
    """Every property name the kind's schema knows (for adding keys that mean something)."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            names.update(k for k in node.get("properties", {}) if isinstance(k, str))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema(kind))
    return tuple(sorted(names))


ODD_KEYS = st.one_of(
    st.sampled_from(["", " ", "\x00", "id", "<<", "~", "x" * 300, "\u202e", "a.b", "jobs"]),
    st.sampled_from([0, 1, -1, True, False, None, 1.5]),
    huge_int(),
)


@st.composite
def mutate_tree(draw: st.DrawFn, tree: Any, kind: str) -> Any:
    """0-4 mutations at random places of a copy of `tree`."""
    tree = _copy(tree)
    for _ in range(draw(st.integers(0, 4))):
        paths = _paths(tree)
        path = paths[draw(st.integers(0, len(paths) - 1))]
        node = _get(tree, path)
        op = draw(
            st.sampled_from(
                [
                    "scalar",
                    "scalar",
                    "tree",
                    "delete",
                    "add",
                    "dup",
                    "nest",
                    "tag",
                    "swap",
                    "copy",
                    "schema",
                ]
            )
        )
        if op == "scalar":
            tree = _set(tree, path, draw(weird_scalar()))
        elif op == "tree":
            tree = _set(tree, path, draw(small_tree()))
        elif op == "delete" and path:
            parent = _get(tree, path[:-1])
            del parent[path[-1]]
        elif op == "add" and isinstance(node, dict):
            key = draw(st.one_of(st.sampled_from(schema_keys(kind)), ODD_KEYS))
            node[key] = draw(st.one_of(weird_scalar(), small_tree()))
        elif op == "dup" and isinstance(node, list) and node:
            node.append(_copy(node[draw(st.integers(0, len(node) - 1))]))
        elif op == "nest":
            depth = draw(st.sampled_from([2, 50, 200, 990, 1100, 3000, 20000]))
            tree = _set(tree, path, Nested(node, depth, draw(st.booleans())))
        elif op == "tag":
            tree = _set(tree, path, Tagged(draw(st.sampled_from(TAGS)), node))
        elif op == "swap":
            if isinstance(node, dict):
                tree = _set(tree, path, list(node.values()))
            elif isinstance(node, list):
                tree = _set(tree, path, {str(i): v for i, v in enumerate(node)})
            else:
                tree = _set(tree, path, [node])
        elif op == "copy":
            other = _copy(_get(tree, paths[draw(st.integers(0, len(paths) - 1))]))
            if not isinstance(other, (Tagged, Nested)):
                tree = _set(tree, path, other)
        elif op == "schema":
            tree = _set(tree, path, draw(from_schema(schema(kind), schema(kind), 3)))
    return tree


def from_schema(node: dict[str, Any], root: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
    """Values shaped by a JSON schema (draft 7 subset): objects with their required and
    some optional properties, enums, typed scalars, and step inputs by step type."""
    if "$ref" in node:
        name = node["$ref"].split("/")[-1]
        return st.deferred(lambda: from_schema(root["definitions"][name], root, depth))
    if "const" in node:
        return st.just(node["const"])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    for key in ("anyOf", "oneOf"):
        if key in node:
            return st.one_of([from_schema(s, root, depth) for s in node[key]])
    kinds = node.get("type", "object" if "properties" in node else None)
    if isinstance(kinds, list):
        return st.one_of([from_schema({**node, "type": t}, root, depth) for t in kinds])
    if kinds == "object":
        return _object(node, root, depth)
    if kinds == "array":
        items = node.get("items", {})
        if depth <= 0:
            return st.just([])
        return st.lists(
            from_schema(items, root, depth - 1), min_size=node.get("minItems", 0), max_size=3
        )
    if kinds == "string":
        if "{{" in node.get("pattern", "").replace("\\", ""):
            return st.sampled_from(
                [
                    "{{env.X}}",
                    "{{env.X:default}}",
                    "{{steps.a.b}}",
                    "{{result.exit_code}}",
                    "{{jobs.a.outputs.x}}",
                    "{{run_id}}",
                    "x {{env.Y:}} y",
                ]
            )
        return st.one_of(
            st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
            st.sampled_from(
                ["flows/a.yaml", "/tmp/x", "*/5 * * * *", "Europe/Berlin", "utf-8", "csv"]
            ),
        )
    if kinds == "integer":
        return st.integers(
            min_value=node.get("minimum", -5), max_value=max(node.get("minimum", -5), 100)
        )
    if kinds == "number":
        return st.floats(min_value=0, max_value=100)
    if kinds == "boolean":
        return st.booleans()
    if kinds == "null":
        return st.none()
    return st.one_of(st.text(max_size=5), st.integers(0, 9), st.booleans())


def _object(node: dict[str, Any], root: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
    props = dict(node.get("properties", {}))
    required = list(node.get("required", []))
    branches = []
    for part in node.get("allOf", []):
        part = root["definitions"][part["$ref"].split("/")[-1]] if "$ref" in part else part
        for branch in part.get("allOf", [part]):
            if "if" in branch and "then" in branch:
                const = branch["if"].get("properties", {}).get("type", {}).get("const")
                if const is not None:
                    branches.append((const, branch["then"]))
    if depth <= 0:
        return st.just({})

    @st.composite
    def build(draw: st.DrawFn) -> dict[Any, Any]:
        chosen = dict(props)
        out: dict[Any, Any] = {}
        if branches:
            const, then = draw(st.sampled_from(branches))
            chosen.update(then.get("properties", {}))
            out["type"] = const
            for name in then.get("required", []):
                out[name] = draw(from_schema(chosen[name], root, depth - 1))
        names = [n for n in chosen if n not in out]
        optional = [n for n in names if n not in required]
        picked = (
            draw(st.lists(st.sampled_from(optional), unique=True, max_size=4)) if optional else []
        )
        for name in [n for n in required if n not in out] + picked:
            out[name] = draw(from_schema(chosen[name], root, depth - 1))
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and draw(st.booleans()):
            for key in draw(
                st.lists(
                    st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True), max_size=2, unique=True
                )
            ):
                out[key] = draw(from_schema(extra, root, depth - 1))
        return out

    return build()


# --- the YAML emitter ----------------------------------------------------------------------------

PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_ ./-]*$")
KEYWORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", "nan", "inf"}


class Emitter:
    """Writes a tree as block-style YAML, with the choices drawn by Hypothesis: scalar
    styles, flow collections, anchors and aliases, duplicated keys."""

    def __init__(self, draw: st.DrawFn, odd: bool) -> None:
        self.draw = draw
        self.odd = odd  # allowed to add anchors, aliases and duplicated keys
        self.anchors: list[str] = []

    def chance(self, percent: int) -> bool:
        return self.odd and self.draw(st.integers(0, 99)) < percent

    def scalar(self, value: Any, flow: bool = False) -> str:
        if isinstance(value, Raw):
            return str(value)
        if value is None:
            return self.draw(st.sampled_from(["null", "~", "Null"])) if self.odd else "null"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            # Past Python's 4,300-digit limit str() refuses; YAML reads hex as well.
            return hex(value) if value.bit_length() > 14_000 else str(value)
        if isinstance(value, float):
            if value != value:
                return ".nan"
            if value in (float("inf"), float("-inf")):
                return ".inf" if value > 0 else "-.inf"
            return repr(value)
        text = str(value)
        if (
            not flow
            and PLAIN.match(text)
            and text.lower() not in KEYWORDS
            and not text.endswith(" ")
        ):
            return text
        if self.chance(10) and "'" not in text and text.isprintable():
            return "'" + text + "'"
        return (
            json.dumps(text, ensure_ascii=False).replace("\u2028", "\\L").replace("\u2029", "\\P")
        )

    def key(self, key: Any) -> str:
        if isinstance(key, (dict, list)):
            return "? " + self.flow(key)
        return (
            self.scalar(key, flow=True) if not isinstance(key, str) or not PLAIN.match(key) else key
        )

    def flow(self, value: Any) -> str:
        if isinstance(value, Nested):
            inner = self.flow(value.node)
            if value.mapping:
                return "{a: " * value.depth + inner + "}" * value.depth
            return "[" * value.depth + inner + "]" * value.depth
        if isinstance(value, Tagged):
            return f"{value.tag} {self.flow(value.node)}"
        if isinstance(value, dict):
            return "{" + ", ".join(f"{self.key(k)}: {self.flow(v)}" for k, v in value.items()) + "}"
        if isinstance(value, list):
            return "[" + ", ".join(self.flow(v) for v in value) + "]"
        return self.scalar(value, flow=True)

    def prefix(self) -> str:
        """Maybe an anchor for the node about to be written."""
        if self.chance(4):
            name = f"a{len(self.anchors)}"
            self.anchors.append(name)
            return f"&{name} "
        return ""

    def alias(self) -> str | None:
        if self.anchors and self.chance(3):
            return "*" + self.draw(st.sampled_from(self.anchors))
        if self.chance(1):
            return "*undefined"
        return None

    def value(self, value: Any, indent: int) -> list[str]:
        """The text after `key:` or `-`: [' scalar'] or ['', block lines...]."""
        alias = self.alias()
        if alias is not None:
            return [" " + alias]
        head = self.prefix()
        if isinstance(value, Tagged):
            rest = self.value(value.node, indent)
            if rest[0] == "":
                return [f" {head}{value.tag}", *rest[1:]]
            return [f" {head}{value.tag}{rest[0]}", *rest[1:]]
        if isinstance(value, Nested) or (
            isinstance(value, (dict, list)) and (not value or self.chance(8))
        ):
            return [f" {head}{self.flow(value)}"]
        if isinstance(value, dict):
            return [f" {head}".rstrip(), *self.mapping(value, indent)]
        if isinstance(value, list):
            return [f" {head}".rstrip(), *self.sequence(value, indent)]
        if isinstance(value, str) and "\n" in value and self.chance(20):
            body = value.split("\n")
            return [f" {head}|", *[" " * indent + line for line in body]]
        return [f" {head}{self.scalar(value)}"]

    def mapping(self, value: dict[Any, Any], indent: int) -> list[str]:
        lines = []
        pairs = list(value.items())
        if pairs and self.chance(5):
            pairs.insert(
                self.draw(st.integers(0, len(pairs))),
                pairs[self.draw(st.integers(0, len(pairs) - 1))],
            )
        for key, item in pairs:
            rest = self.value(item, indent + 2)
            lines.append(" " * indent + self.key(key) + ":" + rest[0])
            lines.extend(rest[1:])
        return lines

    def sequence(self, value: list[Any], indent: int) -> list[str]:
        lines = []
        for item in value:
            rest = self.value(item, indent + 2)
            if (
                rest[0] == ""
                and isinstance(item, dict)
                and rest[1:]
                and rest[1].startswith(" " * (indent + 2))
            ):
                lines.append(
                    " " * indent + "- " + rest[1][indent + 2 :]
                )  # the compact `- key: value`
                lines.extend(rest[2:])
            else:
                lines.append(" " * indent + "-" + rest[0])
                lines.extend(rest[1:])
        return lines

    def document(self, tree: Any) -> str:
        if isinstance(tree, dict) and tree and not isinstance(tree, Tagged):
            return "\n".join(self.mapping(tree, 0)) + "\n"
        return self.flow(tree) + "\n"


@st.composite
def yaml_text(draw: st.DrawFn, tree: Any, odd: bool = True) -> bytes:
    """The tree as YAML bytes, with odd spellings when `odd`: a BOM, `---`, `\\r` line
    ends, a second document, a trailing comment with odd characters."""
    text = Emitter(draw, odd).document(tree)
    if odd:
        if draw(st.integers(0, 99)) < 5:
            text = "---\n" + text
        if draw(st.integers(0, 99)) < 3:
            text += "---\nsecond: document\n"
        if draw(st.integers(0, 99)) < 5:
            text += "# " + draw(ODD_TEXT) + "\n"
        ending = draw(st.sampled_from(["\n"] * 12 + ["\r\n", "\r"]))
        text = text.replace("\n", ending)
        if draw(st.integers(0, 99)) < 3:
            text = "\ufeff" + text
    return text.encode("utf-8", "surrogatepass")


@st.composite
def yaml_input(draw: st.DrawFn, kind: str) -> bytes:
    """A file of `kind`: a mutated seed tree, a schema-built tree, or mutated seed bytes."""
    how = draw(st.sampled_from(["seed", "seed", "seed", "schema", "bytes", "bytes"]))
    if how == "bytes" or (how == "seed" and not seed_trees()[kind]):
        return draw(mutate_bytes(draw(st.sampled_from(seed_bytes(kind)))))
    if how == "seed":
        tree = draw(st.sampled_from(seed_trees()[kind]))
    else:
        tree = draw(from_schema(schema(kind), schema(kind), 6))
    return draw(yaml_text(draw(mutate_tree(tree, kind))))


# --- byte-level mutations --------------------------------------------------------------------------

INTERESTING = [
    b"\x00",
    b"\r",
    b"\r\n",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"\xef\xbb\xbf",
    b"{{",
    b"}}",
    b"&a ",
    b"*a",
    b"!!int ",
    b"!!map ",
    b": ",
    b"- ",
    b"\t",
    b"'",
    b'"',
    b"\\",
    b"#",
    b"|",
    b">",
    b"[",
    b"{",
    b"---\n",
    b"...\n",
    b"? ",
    b"%TAG ! tag:x,2000:\n",
    b"9" * 5000,
    b"\xc2\x85",
    b"\xe2\x80\xa8",
]


@st.composite
def mutate_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    """1-6 of: flip a bit, insert bytes, delete a run, splice in a run of another seed,
    repeat a line."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(buf)))
        op = draw(st.sampled_from(["flip", "insert", "insert", "delete", "splice", "line"]))
        if op == "flip" and buf:
            at = min(at, len(buf) - 1)
            buf[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            buf[at:at] = draw(
                st.one_of(st.sampled_from(INTERESTING), st.binary(min_size=1, max_size=8))
            )
        elif op == "delete":
            buf[at : at + draw(st.integers(1, 64))] = b""
        elif op == "splice":
            other = draw(st.sampled_from([d for _, d in seed_files()]))
            start = draw(st.integers(0, max(len(other) - 1, 0)))
            buf[at : at + draw(st.integers(0, 32))] = other[
                start : start + draw(st.integers(1, 200))
            ]
        elif op == "line":
            lines = bytes(buf).splitlines(keepends=True)
            if lines:
                i = draw(st.integers(0, len(lines) - 1))
                lines.insert(draw(st.integers(0, len(lines))), lines[i])
                buf = bytearray(b"".join(lines))
    return bytes(buf)


# --- commands ----------------------------------------------------------------------------------------


@st.composite
def commands(draw: st.DrawFn, one_flow: bool, compile_too: bool = True) -> tuple[str, ...]:
    """validate (text or --json), a compile variant, and for one flow explain or graph."""
    out = [draw(st.sampled_from(["validate", "validate --json"]))]
    if compile_too:
        target = draw(st.sampled_from(["", "", " --target all", " --target sh"]))
        single = draw(st.sampled_from(["", "", " --single-file"]))
        json_flag = draw(st.sampled_from(["", " --json"]))
        out.append(f"compile{target}{single}{json_flag}")
    if one_flow:
        out.append(
            draw(
                st.sampled_from(
                    [
                        "explain",
                        "explain --json",
                        "graph",
                        "graph --format dot",
                        "graph --format json",
                    ]
                )
            )
        )
    return tuple(out)


# --- cases by kind --------------------------------------------------------------------------------


@st.composite
def flow_cases(draw: st.DrawFn) -> Case:
    """One flow file (sometimes two, sharing nothing but the folder)."""
    files = {"flows/flow.yaml": draw(yaml_input("flow"))}
    if draw(st.integers(0, 9)) == 0:
        files["flows/other.yaml"] = draw(yaml_input("flow"))
        return Case("flow", files, draw(commands(one_flow=False)), paths=("flows",))
    return Case(
        "flow",
        files,
        draw(commands(one_flow=True)),
        paths=("flows/flow.yaml",),
        flow="flows/flow.yaml",
    )


PROFILE_FLOW = """\
version: 1
flow:
  id: uses_profiles
  workspace: {{root: /tmp/aetherflow-fuzz-work}}
  state: {{path: /tmp/aetherflow-fuzz-state/p.sqlite}}
resources:
  db:
    kind: db
    driver: sqlite3
    profile: {profile}
    config: {{path: /tmp/x.sqlite}}
jobs:
  - id: only
    steps:
      - id: count
        type: db_fetch_small
        inputs: {{resource: db, sql: select 1}}
"""


@st.composite
def profiles_cases(draw: st.DrawFn) -> Case:
    """A profiles file (--profiles) and a flow whose resource names one of its profiles."""
    how = draw(st.sampled_from(["tree", "tree", "bytes"]))
    if how == "tree":
        tree = draw(
            st.one_of(
                st.sampled_from(seed_trees()["profiles"]),
                from_schema(schema("profiles"), schema("profiles"), 5),
            )
        )
        tree = draw(mutate_tree(tree, "profiles"))
        names = list(tree) if isinstance(tree, dict) and tree else ["prod"]
        text = draw(yaml_text(tree))
    else:
        text = draw(mutate_bytes(draw(st.sampled_from(seed_bytes("profiles")))))
        names = ["prod", "warehouse", "dev"]
    profile = draw(st.sampled_from(names))
    files = {
        "profiles.yaml": text,
        "flows/flow.yaml": PROFILE_FLOW.format(profile=json.dumps(str(profile))).encode(),
    }
    return Case(
        "profiles",
        files,
        draw(commands(one_flow=True)),
        paths=("flows/flow.yaml",),
        flow="flows/flow.yaml",
        options=("--profiles", "profiles.yaml"),
    )


@st.composite
def scheduler_cases(draw: st.DrawFn) -> Case:
    """A scheduler file (--schedule) next to the example flows."""
    files = dict(example_flows())
    if draw(st.booleans()):
        tree = draw(
            st.one_of(
                st.sampled_from(seed_trees()["scheduler"]),
                from_schema(schema("scheduler"), schema("scheduler"), 4),
            )
        )
        tree = draw(mutate_tree(tree, "scheduler"))
        if isinstance(tree, dict) and isinstance(tree.get("items"), list):
            for item in tree["items"]:
                if isinstance(item, dict) and "flow_yaml" in item and draw(st.booleans()):
                    item["flow_yaml"] = draw(st.sampled_from(sorted(files)))
        files["scheduler.yaml"] = draw(yaml_text(tree))
    else:
        files["scheduler.yaml"] = draw(mutate_bytes(draw(st.sampled_from(seed_bytes("scheduler")))))
    return Case(
        "scheduler",
        files,
        draw(commands(one_flow=False)),
        paths=("flows", "scheduler.yaml"),
        compile_options=("--schedule", "scheduler.yaml"),
    )


def engine_project() -> dict[str, bytes]:
    base = ROOT / "examples" / "engine-project"
    return {
        str(p.relative_to(base)): p.read_bytes()
        for p in sorted((base / "bundle").rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


REMOTE_SOURCES = {"sftp", "smb", "db", "rest"}


def _local_only(tree: Any) -> Any:
    """A manifest never names a remote source here: the fuzz suite stays off the network."""
    if isinstance(tree, dict) and isinstance(tree.get("bundle"), dict):
        source = tree["bundle"].get("source")
        if (
            isinstance(source, dict)
            and isinstance(source.get("type"), str)
            and source["type"] in REMOTE_SOURCES
        ):
            source["type"] = "filesystem"
    return tree


@st.composite
def manifest_cases(draw: st.DrawFn) -> Case:
    """A bundle manifest (--bundle-manifest) over a copy of examples/engine-project/bundle."""
    files = engine_project()
    if draw(st.integers(0, 3)) > 0:
        tree = draw(
            st.one_of(
                st.sampled_from(seed_trees()["manifest"]),
                from_schema(schema("manifest"), schema("manifest"), 5),
            )
        )
        text = draw(yaml_text(_local_only(draw(mutate_tree(tree, "manifest")))))
    else:
        text = draw(mutate_bytes(draw(st.sampled_from(seed_bytes("manifest")))))
        assume(not any(f"type: {s}".encode() in text for s in REMOTE_SOURCES))
    files["manifest.yaml"] = text
    return Case(
        "manifest",
        files,
        draw(commands(one_flow=True)),
        options=("--bundle-manifest", "manifest.yaml"),
    )


# --- the project config ---------------------------------------------------------------------------

CONFIG_VALUES: dict[str, Any] = {
    "paths": st.one_of(
        st.just(["flows"]),
        st.just(["flows/daily_orders.yaml", "flows"]),
        st.just("flows"),
        st.just([]),
        st.just(["missing"]),
        st.just(["flows", 1]),
    ),
    "output": st.sampled_from(
        [
            "dist",
            "out/dist",
            "./dist",
            "dist/",
            "",
            ".",
            "flows",
            "aetherflow.toml",
            "../dist-next-door",
            "x" * 250,
            1,
            True,
        ]
    ),
    "profiles": st.sampled_from(["profiles.yaml", "missing.yaml", "flows", "", 3]),
    "schedule": st.sampled_from(["scheduler.yaml", "flows", "missing.yaml"]),
    "target": st.sampled_from(["python", "sh", "all", "rust", "", "ALL", 1]),
    "single-file": st.sampled_from([True, False, "yes", 1]),
    "mode": st.sampled_from(["internal_fast", "enterprise", "fast", None]),
    "plugins": st.sampled_from([["plugins"], [], "plugins", ["missing"]]),
    "bytecode": st.sampled_from([["/nonexistent/python"], [], "python3"]),
    "no-bytecode": st.booleans(),
    "deploy-dir": st.sampled_from(["/opt/aetherflow/dist", "", "relative", "a\nb", "/x'y"]),
    "log-dir": st.sampled_from(["/var/log/aetherflow", "", "a b"]),
    "python": st.sampled_from(["/usr/bin/python3", "", "python3 -S"]),
    "k8s-namespace": st.sampled_from(["etl", "", "Bad_Name", "a" * 300]),
    "k8s-image": st.sampled_from(["python:3.12-slim", "", "a b"]),
    "k8s-claim": st.sampled_from(["aetherflow-state", ""]),
    "k8s-request": st.sampled_from([["cpu=250m"], ["cpu"], ["=1"], "cpu=1", []]),
    "shared-state": st.booleans(),
    "state-env-file": st.sampled_from(["/etc/aetherflow/state.env", ""]),
    "state-secret": st.sampled_from(["aetherflow-state", ""]),
    "python-version": st.sampled_from(["3.12", "3", "x.y", "3.99"]),
    "platform": st.sampled_from([["manylinux2014_x86_64"], ["bogus"], []]),
    "archive": st.sampled_from(["dist.tar.gz", "dist/inside.tar.gz", ""]),
    "check": st.booleans(),
    "json": st.booleans(),
    "diff": st.booleans(),
    "no-cache": st.booleans(),
    "flow-yaml": st.just("flows/daily_orders.yaml"),
    "bundle-manifest": st.sampled_from(["manifest.yaml", ""]),
}


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    if value is None:
        return '""'
    raise TypeError(value)


@st.composite
def config_text(draw: st.DrawFn) -> tuple[str, bytes]:
    """(file name, text) of a project config: aetherflow.toml, or pyproject.toml with a
    [tool.aetherflow] table; keys drawn from the flags, values right or wrong."""
    keys = draw(st.lists(st.sampled_from(sorted(CONFIG_VALUES)), unique=True, max_size=6))
    pairs = {"paths": ["flows"], "output": "dist"} if draw(st.booleans()) else {}
    for key in keys:
        pairs[key] = draw(CONFIG_VALUES[key])
    lines = [
        f"{json.dumps(k) if not re.fullmatch(r'[a-z-]+', k) else k} = {toml_value(v)}"
        for k, v in pairs.items()
    ]
    if draw(st.integers(0, 9)) == 0:
        lines.append(
            draw(
                st.sampled_from(
                    [
                        '[k8s]\nnamespace = "x"',
                        "odd_key = 1",
                        'paths = ["again"]',
                        "when = 1979-05-27T07:32:00Z",
                        "deep = {a = {b = [1, {c = 2}]}}",
                        'bad = "\\x"',
                        "n = 9999999999999999999999",
                        "f = nan",
                    ]
                )
            )
        )
    body = "\n".join(lines) + "\n"
    name = draw(st.sampled_from(["aetherflow.toml", "pyproject.toml"]))
    if name == "pyproject.toml":
        body = (
            draw(st.sampled_from(['[project]\nname = "x"\n\n', "", "[tool]\n"]))
            + "[tool.aetherflow]\n"
            + body
        )
    data = body.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 4)) == 0:
        data = draw(mutate_bytes(data))
    return name, data


def _safe_config(name: str, data: bytes) -> bool:
    """A config the fuzz suite may compile with: it writes and runs nothing outside the
    workspace (no absolute or far-reaching paths, no interpreters but the test ones)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    try:
        table = tomllib.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return True
    if name == "pyproject.toml":
        tool = table.get("tool")
        table = tool.get("aetherflow", {}) if isinstance(tool, dict) else {}
    if not isinstance(table, dict):
        return True
    for key in ("output", "archive", "wheelhouse", "profiles", "schedule"):
        value = table.get(key)
        if isinstance(value, str) and (value.startswith(("/", "~")) or value.count("..") > 1):
            return False
    for key in ("paths", "plugins", "bytecode"):
        values = table.get(key)
        for value in values if isinstance(values, list) else [values]:
            if isinstance(value, str) and (
                value.startswith(("/", "~"))
                and value != "/nonexistent/python"
                or value.count("..") > 1
            ):
                return False
    bytecode = table.get("bytecode")
    return bytecode in (None, [], "python3", ["/nonexistent/python"])


@st.composite
def config_cases(draw: st.DrawFn) -> Case:
    """A project folder with the example flows, profiles, scheduler file and a project
    config; the commands are run bare (`aetherflow validate`, `aetherflow compile`)."""
    files = dict(example_flows())
    files["profiles.yaml"] = (ROOT / "examples" / "profiles.yaml").read_bytes()
    files["scheduler.yaml"] = (ROOT / "examples" / "scheduler.yaml").read_bytes()
    name, data = draw(config_text())
    assume(_safe_config(name, data))
    files[name] = data
    cmds = draw(commands(one_flow=False))
    if draw(st.booleans()):
        cmds = (*cmds, draw(st.sampled_from(["explain", "explain --json"])))
    return Case("config", files, cmds, flow="flows/daily_orders.yaml", config=True)


# --- plugins -----------------------------------------------------------------------------------

ODD_NAMES = st.one_of(
    st.sampled_from(
        [
            "fuzz_step",
            "",
            " ",
            "a b",
            "external.process",
            "check_items",
            "x" * 300,
            "a\nb",
            "é",
            "AF100",
            "-",
            "a.b.c",
            "with_lock",
            "\x00",
        ]
    ),
    st.sampled_from([1, None, True, 1.5, ("a", "b")]),
    st.text(max_size=10),
)

PLUGIN_BODIES = [
    # A registered step class; its attributes are drawn.
    "from aetherflow.core.api import Step, register_step\n\n\n"
    "@register_step({name})\nclass FuzzStep(Step):\n    required_inputs = {required}\n"
    "    input_schema = {schema}\n    outputs = {outputs}\n\n    def run(self):\n        return {{}}\n",
    # A connector under an odd kind and driver.
    "from aetherflow.core.api import ConnectorBase, register_connector\n\n\n"
    "@register_connector({name}, {name2})\nclass FuzzConnector(ConnectorBase):\n    pass\n",
    # Prints while it is imported.
    "import sys\nprint({mark!r} + ' ' + str({name}))\nsys.stderr.write({mark!r} + ' on stderr\\n')\n",
    # Fails while it is imported.
    "raise {exception}({name})\n",
    "import sys\nsys.exit({name})\n",
    "import a_module_that_does_not_exist_anywhere\n",
    "def broken(:\n    pass\n",
    "x = 1\n\x00\n",
    "from aetherflow.core.api import no_such_name\n",
    "from aetherflow.core.api import register_step\nregister_step({name})(None)\n",
    "from aetherflow.core.api import register_step\nregister_step({name})(1)\n",
    "from aetherflow.core.api import Step, register_step\n\n\n"
    "@register_step({name})\nclass NotAStep:\n    input_schema = {{'type': 'object', 'properties': {{'x': {{'$ref': '#/nope'}}}}}}\n",
]


@st.composite
def plugin_file(draw: st.DrawFn) -> bytes:
    body = draw(st.sampled_from(PLUGIN_BODIES))
    values = {
        "name": repr(draw(ODD_NAMES)),
        "name2": repr(draw(ODD_NAMES)),
        "mark": PLUGIN_MARK,
        "required": repr(
            draw(st.sampled_from([set(), {"x"}, ("x", "x"), "xyz", None, 1, [1, 2], {"": 1}]))
        ),
        "schema": repr(
            draw(
                st.sampled_from(
                    [
                        None,
                        {},
                        {"type": "object"},
                        {"type": "bogus"},
                        [],
                        "x",
                        1,
                        {"type": "object", "required": "x"},
                        {"type": "object", "properties": {"x": {"type": "integer"}}},
                    ]
                )
            )
        ),
        "outputs": repr(draw(st.sampled_from([None, {"a"}, ["a", 1], "abc", 1, {"a": 1}]))),
        "exception": draw(
            st.sampled_from(
                [
                    "ValueError",
                    "RecursionError",
                    "MemoryError",
                    "SystemExit",
                    "ImportError",
                    "GeneratorExit",
                    "UnicodeError",
                    "OSError",
                ]
            )
        ),
    }
    text = body.format(**values).encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 9)) == 0:
        text = draw(mutate_bytes(text))
    return text


PLUGIN_FILE_NAMES = st.sampled_from(
    [
        "fuzz.py",
        "fuzz.py",
        "steps/fuzz.py",
        "_helper.py",
        "a-b.py",
        "1x.py",
        "ünï.py",
        ".hidden.py",
        "__init__.py",
        "sub/__init__.py",
        "x" * 240 + ".py",
        "\udcff.py",
        "odd name.py",
    ]
)


@st.composite
def plugin_cases(draw: st.DrawFn) -> Case:
    """A plugin folder (--plugins) of 1-3 generated files and a flow using a plugin step."""
    files = {}
    for _ in range(draw(st.integers(1, 3))):
        files["plugins/" + draw(PLUGIN_FILE_NAMES)] = draw(plugin_file())
    step_type = draw(st.sampled_from(["fuzz_step", "external.process", "no_such_type"]))
    files["flows/flow.yaml"] = SIMPLE_FLOW.replace(
        b"type: external.process", b"type: " + step_type.encode()
    )
    env: tuple[tuple[str, str], ...] = ()
    if draw(st.integers(0, 4)) == 0:
        env = (("AETHERFLOW_PLUGIN_STRICT", "false"),)
    extra = draw(
        st.sampled_from(
            [
                (),
                (),
                ("--plugins", "plugins"),
                ("--plugins", "flows/flow.yaml"),
                ("--plugins", "missing"),
                ("--mode", "enterprise"),
            ]
        )
    )
    return Case(
        "plugins",
        files,
        draw(commands(one_flow=True)),
        paths=("flows/flow.yaml",),
        flow="flows/flow.yaml",
        options=("--plugins", "plugins", *extra),
        env=env,
    )


# --- file-system layouts --------------------------------------------------------------------------------

FS_HAZARDS: list[tuple[tuple[str, ...], ...]] = [
    (("dir", "flows/locked"), ("chmod", "flows/locked", "000")),
    (("chmod", "flows/simple.yaml", "000"),),
    (("symlink", "flows/loop.yaml", "loop.yaml"),),
    (("symlink", "flows/a.yaml", "b.yaml"), ("symlink", "flows/b.yaml", "a.yaml")),
    (("symlink", "flows/sub/up", ".."),),
    (("symlink", "flows/gone.yaml", "nowhere.yaml"),),
    (("fifo", "flows/pipe.yaml"),),
    (("socket", "flows/sock.yaml"),),
    (("dir", "flows/dir.yaml"),),
    (("long-path", "flows/deep/simple.yaml", "17", "flows/simple.yaml"),),
    (("dir", "flows/sub"), ("chmod", "flows/sub", "111")),
    (("chmod", "flows", "555"),),
    (("dir", "elsewhere"), ("symlink", "dist", "elsewhere")),
    (("symlink", "dist", "not-there-yet"),),  # dangling: the compile creates its target
    (("dir", "ro"), ("chmod", "ro", "555")),
    (("dir", "dist"), ("chmod", "dist", "555")),
    (("symlink", "profiles.yaml", "flows/pipe.yaml"), ("fifo", "flows/pipe.yaml")),
]

ODD_FILE_NAMES = [
    "flows/new\nline.yaml",
    "flows/-o.yaml",
    "flows/a:1:1: AF100 x.yaml",
    "flows/ .yaml",
    "flows/\u202eevil.yaml",
    "flows/" + "x" * 250 + ".yaml",
    "flows/\udcff\udcfe.yaml",
    "flows/tab\t.yaml",
    "flows/quote'\".yaml",
    "flows/back\\slash.yaml",
    "flows/.hidden.yaml",
    "flows/UPPER.YAML",
    "flows/sub/dir/deep.yml",
    "flows/%s.yaml",
    "flows/\r.yaml",
]

OUTPUTS = [
    "dist",
    "dist",
    "x" * 250,
    "out/dist",
    "./dist/",
    "flows",
    "ro/dist",
    "dist\nx",
    "\udcffdist",
]


@st.composite
def fs_cases(draw: st.DrawFn) -> Case:
    """The simple flow (and sometimes the examples) among odd entries of the file system;
    commands name the folder, an odd entry or the flow; `-o` may be odd too."""
    files = {"flows/simple.yaml": SIMPLE_FLOW}
    if draw(st.booleans()):
        files.update(example_flows())
    for name in draw(st.lists(st.sampled_from(ODD_FILE_NAMES), max_size=3, unique=True)):
        files[name] = SIMPLE_FLOW.replace(
            b"id: simple", b"id: " + json.dumps(name[6:-5] or "x").encode()
        )
    hazards = tuple(
        h for group in draw(st.lists(st.sampled_from(FS_HAZARDS), max_size=3)) for h in group
    )
    targets = ["flows", *sorted(files), *[h[1] for h in hazards if h[1].startswith("flows/")]]
    target = draw(st.sampled_from(targets))
    options: tuple[str, ...] = ()
    if any(h[1] == "profiles.yaml" for h in hazards) or draw(st.integers(0, 5)) == 0:
        options = (
            "--profiles",
            draw(st.sampled_from(["profiles.yaml", "flows", "flows/pipe.yaml", "missing"])),
        )
    one = target != "flows"
    output = draw(st.sampled_from(OUTPUTS))
    unprivileged = any(h[0] == "chmod" for h in hazards)
    return Case(
        "fs",
        files,
        draw(commands(one_flow=one)),
        paths=(target,),
        flow=target if one else None,
        options=options,
        hazards=hazards,
        unprivileged=unprivileged,
        output=output,
    )


STRATEGIES = {
    "flow": flow_cases,
    "profiles": profiles_cases,
    "scheduler": scheduler_cases,
    "manifest": manifest_cases,
    "config": config_cases,
    "plugins": plugin_cases,
    "fs": fs_cases,
}
