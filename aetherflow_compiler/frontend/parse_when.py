"""`when` expressions: a tokenizer and recursive-descent parser into a small AST.

Grammar (Python's precedence and chained comparisons):

    expr       := and_expr ('or' and_expr)*
    and_expr   := not_expr ('and' not_expr)*
    not_expr   := 'not' not_expr | comparison
    comparison := operand (('=='|'!='|'<'|'<='|'>'|'>=') operand)*
    operand    := '(' expr ')' | literal | reference
    literal    := number | '-' number | string+ | true | false (any case) | None

Names, numbers (1_000, 0x2, 2j) and strings ('a' 'b', r'x', b'x') are Python's, as the
engine evaluates `when` with Python; what Python's parser refuses, the engine's validation
does, so a text that parses here is checked with it too (`_check_python_syntax`).
    reference  := 'jobs' '.' ID '.' ('outputs' '.' ID ('.' ID)* | 'status' | 'skip_reason')

Nothing is evaluated here and the artifact never parses the expression: code generators
turn the AST into plain code.

Parentheses and `not` may nest MAX_DEPTH levels deep (the engine's Python parser stops at
200 parentheses; the parser here and the code generators recurse once per level), and an
integer may have MAX_INT_DIGITS digits (Python's limit, where the engine's parser stops).
"""

from __future__ import annotations

import ast
import keyword
import re
import unicodedata
import warnings
from dataclasses import dataclass

from aetherflow_compiler.ir.when import BoolOp, Compare, JobAttr, JobOutput, Literal, Not, WhenExpr

MAX_DEPTH = 50
MAX_INT_DIGITS = 4300
# The largest bit length whose integers all have at most MAX_INT_DIGITS decimal digits.
_MAX_INT_BITS = int(MAX_INT_DIGITS / 0.30103) - 1

# Python's number literals (its tokenizer's grammar): digits with single underscores
# between them, hexadecimal, octal and binary integers, and floats with exponents.
_DIGITS = r"[0-9](?:_?[0-9])*"
_EXPONENT = rf"[eE][-+]?{_DIGITS}"
_NUMBER = (
    rf"0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+"
    rf"|(?:(?:{_DIGITS})?\.{_DIGITS}(?:{_EXPONENT})?|{_DIGITS}\.(?:{_EXPONENT})?|{_DIGITS}(?:{_EXPONENT})?)"
    r"[jJ]?"
)
_TOKEN_RE = re.compile(
    rf"""
    (?P<space>\s+|\\\r?\n|\#[^\r\n]*)
  | (?P<number>{_NUMBER})
  | (?P<string>(?P<prefix>[rRuUbBfF]|[rR][bBfF]|[bBfF][rR])?
        (?:'{{3}}(?:[^\\]|\\[\s\S])*?'{{3}}|"{{3}}(?:[^\\]|\\[\s\S])*?"{{3}}
          |'(?:[^'\\\n]|\\[\s\S])*'|"(?:[^"\\\n]|\\[\s\S])*"))
  | (?P<name>(?:[^\W\d]|[^\x00-\x7f\s])(?:\w|[^\x00-\x7f\s])*)
  | (?P<op>==|!=|<=|>=|<|>)
  | (?P<punct>[().\-])
    """,
    re.VERBOSE,
)


class WhenSyntaxError(ValueError):
    """`code` is AF501 (does not parse) or AF502 (parses, but outside the subset)."""

    def __init__(self, code: str, offset: int, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.offset = offset
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    offset: int


def _tokenize(source: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(source):
        m = _TOKEN_RE.match(source, pos)
        if m is None:
            ch = source[pos]
            if ch in "+*/%[]{}@,:;=!&|^~":
                raise WhenSyntaxError(
                    "AF502",
                    pos,
                    f"'{ch}' is not supported in when",
                    "use comparisons (== != < <= > >=), and, or, not and parentheses",
                )
            if ch in "'\"":
                raise WhenSyntaxError("AF501", pos, "unterminated string literal in when")
            raise WhenSyntaxError("AF501", pos, f"unexpected character {ch!r} in when")
        kind = next(
            k
            for k in ("space", "number", "string", "name", "op", "punct")
            if m.group(k) is not None
        )
        text = m.group()
        if kind == "name":
            text = _identifier(text, pos)
        elif kind == "string" and "f" in (m.group("prefix") or "").lower():
            raise WhenSyntaxError(
                "AF502", pos, "f-strings are not supported in when", "write a plain 'string'"
            )
        if kind != "space":
            tokens.append(_Tok(kind, text, pos))
        pos = m.end()
    tokens.append(_Tok("end", "", len(source)))
    return tokens


def _identifier(text: str, offset: int) -> str:
    """A name as Python reads it: NFKC-normalized (so the engine looks up that key), and
    refused where a character is not one of an identifier's."""
    name = unicodedata.normalize("NFKC", text)
    if not name.isidentifier():
        for index, ch in enumerate(text):
            if not (("_" + ch).isidentifier()):
                raise WhenSyntaxError(
                    "AF501", offset + index, f"unexpected character {ch!r} in when"
                )
        raise WhenSyntaxError("AF501", offset, f"{text!r} is not a name in when")
    return name


def parse_when(source: str) -> WhenExpr:
    """Parse a `when` expression; raises WhenSyntaxError with an offset into `source`."""
    parser = _Parser(_tokenize(source))
    expr = parser.expr()
    tok = parser.peek()
    if tok.kind != "end":
        raise WhenSyntaxError("AF501", tok.offset, f"unexpected {tok.text!r} in when")
    _check_python_syntax(source)
    return expr


# The engine's validation reads `when` as Python after replacing these (in this order).
_ENGINE_REWRITES = (
    (" true", " True"),
    (" false", " False"),
    ("==true", "== True"),
    ("==false", "== False"),
    ("!=true", "!= True"),
    ("!=false", "!= False"),
)


def _check_python_syntax(source: str) -> None:
    """What this parser takes, the engine's must too: it strips the expression, rewrites
    lowercase booleans and parses the result as Python, and a syntax error there refuses
    the flow before anything runs (a character Python does not take for a space, a line
    break outside parentheses). AF501 at the offending character."""
    text, where = _engine_text(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(text, mode="eval")
    except SyntaxError as exc:
        lines = re.split(r"(?<=\r\n)|(?<=\r)(?!\n)|(?<=\n)", text)
        index = sum(len(line) for line in lines[: max((exc.lineno or 1) - 1, 0)]) + max(
            (exc.offset or 1) - 1, 0
        )
        offset = where[min(index, len(where) - 1)]
        raise WhenSyntaxError(
            "AF501",
            offset,
            f"when is not valid Python ({exc.msg}): the engine's validation " "refuses the flow",
        ) from None
    except (
        ValueError,
        RecursionError,
        MemoryError,
    ) as exc:  # a NUL character; nesting the engine cannot read
        raise WhenSyntaxError(
            "AF501",
            0,
            f"when is not valid Python ({exc}): the engine's validation refuses " "the flow",
        ) from None


def _engine_text(source: str) -> tuple[str, list[int]]:
    """The text the engine parses, and for each of its characters (and its end) the
    offset in `source` it came from."""
    lead = len(source) - len(source.lstrip())
    text = source.strip()
    where = [lead + i for i in range(len(text) + 1)]
    for old, new in _ENGINE_REWRITES:
        parts, offsets, i = [], [], 0
        while (found := text.find(old, i)) != -1:
            parts.append(text[i:found] + new)
            offsets += (
                where[i:found]
                + [where[found]] * (len(new) - len(old))
                + where[found : found + len(old)]
            )
            i = found + len(old)
        parts.append(text[i:])
        offsets += where[i:]
        text, where = "".join(parts), offsets
    return text, where


class _Parser:
    def __init__(self, tokens: list[_Tok]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0  # parentheses and `not` open around the current token

    def enter(self, tok: _Tok) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise WhenSyntaxError(
                "AF502",
                tok.offset,
                f"when nests parentheses and 'not' more than {MAX_DEPTH} levels deep",
                "write the condition with fewer levels: and/or need no parentheses of their own",
            )

    def peek(self) -> _Tok:
        return self.tokens[self.pos]

    def take(self) -> _Tok:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def is_word(self, word: str) -> bool:
        tok = self.peek()
        return tok.kind == "name" and tok.text == word

    def expr(self) -> WhenExpr:
        values = [self.and_expr()]
        while self.is_word("or"):
            self.take()
            values.append(self.and_expr())
        return values[0] if len(values) == 1 else BoolOp("or", tuple(values))

    def and_expr(self) -> WhenExpr:
        values = [self.not_expr()]
        while self.is_word("and"):
            self.take()
            values.append(self.not_expr())
        return values[0] if len(values) == 1 else BoolOp("and", tuple(values))

    def not_expr(self) -> WhenExpr:
        if self.is_word("not"):
            self.enter(self.take())
            operand = self.not_expr()
            self.depth -= 1
            return Not(operand)
        return self.comparison()

    def comparison(self) -> WhenExpr:
        left = self.operand()
        ops: list[str] = []
        comparators: list[WhenExpr] = []
        while self.peek().kind == "op":
            ops.append(self.take().text)
            comparators.append(self.operand())
        if not ops:
            return left
        return Compare(left, tuple(ops), tuple(comparators))

    def operand(self) -> WhenExpr:
        tok = self.peek()
        if tok.kind == "punct" and tok.text == "(":
            self.enter(self.take())
            inner = self.expr()
            close = self.take()
            if close.kind != "punct" or close.text != ")":
                raise WhenSyntaxError("AF501", close.offset, "missing ')' in when")
            self.depth -= 1
            return inner
        if tok.kind == "punct" and tok.text == "-":
            self.take()
            num = self.take()
            if num.kind != "number":
                raise WhenSyntaxError(
                    "AF502",
                    tok.offset,
                    "'-' is only allowed before a number in when",
                    "arithmetic is not supported",
                )
            return Literal(-_number(num))
        if tok.kind == "number":
            self.take()
            return Literal(_number(tok))
        if tok.kind == "string":
            self.take()
            value = _string(tok)
            while self.peek().kind == "string":  # 'a' 'b' is 'ab', as in Python
                more = self.take()
                following = _string(more)
                if type(following) is not type(value):
                    raise WhenSyntaxError(
                        "AF501", more.offset, "cannot mix bytes and text literals in when"
                    )
                value += following  # type: ignore[operator]
            return Literal(value)
        if tok.kind == "name":
            return self.name()
        if tok.kind == "end":
            raise WhenSyntaxError("AF501", tok.offset, "when expression ends too early")
        raise WhenSyntaxError("AF501", tok.offset, f"unexpected {tok.text!r} in when")

    def name(self) -> WhenExpr:
        tok = self.take()
        word = tok.text
        if word.lower() in ("true", "false"):
            return Literal(word.lower() == "true")
        if word == "None":
            return Literal(None)
        if word in ("and", "or", "not"):
            raise WhenSyntaxError("AF501", tok.offset, f"unexpected '{word}' in when")
        if word != "jobs":
            raise WhenSyntaxError(
                "AF502",
                tok.offset,
                f"unknown name '{word}' in when",
                "when may only read jobs.<job_id>.outputs.<key>, jobs.<job_id>.status "
                "and jobs.<job_id>.skip_reason; quote strings",
            )
        path = [word]
        while self.peek().kind == "punct" and self.peek().text == ".":
            self.take()
            part = self.take()
            if part.kind != "name":
                raise WhenSyntaxError("AF501", part.offset, "expected a name after '.' in when")
            if keyword.iskeyword(part.text):
                raise WhenSyntaxError(
                    "AF501",
                    part.offset,
                    f"'{part.text}' is a Python keyword: '{'.'.join(path)}.{part.text}' is invalid syntax, and "
                    "the engine's validation refuses the flow",
                    "rename the job or output (when reads jobs.<job_id>... as Python attributes)",
                )
            path.append(part.text)
        nxt = self.peek()
        if nxt.kind == "punct" and nxt.text == "(":
            raise WhenSyntaxError("AF502", nxt.offset, "function calls are not supported in when")
        return _reference(path, tok.offset)


def _number(tok: _Tok) -> int | float | complex:
    """A number as Python reads it (1_000, 0x2, 0o2, 0b10, 1e3, .5, 2j)."""
    text = tok.text
    if re.fullmatch(r"[0-9_]+", text):
        digits = text.replace("_", "")
        if digits.strip("0") and digits.startswith("0"):
            raise WhenSyntaxError(
                "AF501",
                tok.offset,
                f"leading zeros are not allowed in {text!r}",
                "write the number without leading zeros",
            )
        if len(digits) > MAX_INT_DIGITS:
            raise WhenSyntaxError(
                "AF501",
                tok.offset,
                f"integer in when has more than {MAX_INT_DIGITS} digits",
                "Python (and so the engine) cannot read it",
            )
        return int(digits)
    if text[-1] in "jJ":  # an imaginary number: Python compares it like any number
        return complex(0, float(text[:-1]))
    if text[:2].lower() in ("0x", "0o", "0b"):
        value = int(text, 0)  # a power-of-two base: Python reads any length
        if value.bit_length() > _MAX_INT_BITS:
            raise WhenSyntaxError(
                "AF502",
                tok.offset,
                f"integer in when has more than {MAX_INT_DIGITS} digits " "in decimal",
                "the artifact writes it in decimal, which Python limits",
            )
        return value
    return float(text)  # float() reads underscores as Python's literals do


def _string(tok: _Tok) -> str | bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            value = ast.literal_eval(tok.text)
        except (ValueError, SyntaxError):
            raise WhenSyntaxError(
                "AF501", tok.offset, f"invalid string literal {tok.text} in when"
            ) from None
    assert isinstance(value, (str, bytes))
    return value


def _reference(path: list[str], offset: int) -> WhenExpr:
    dotted = ".".join(path)
    if len(path) >= 4 and path[2] == "outputs":
        return JobOutput(path[1], path[3], tuple(path[4:]), offset)
    if len(path) == 3 and path[2] in ("status", "skip_reason"):
        return JobAttr(path[1], path[2], offset)
    raise WhenSyntaxError(
        "AF403",
        offset,
        f"'{dotted}' cannot be read in when",
        "use jobs.<job_id>.outputs.<key>, jobs.<job_id>.status or jobs.<job_id>.skip_reason",
    )
