"""`when` expressions: a tokenizer and recursive-descent parser into a small AST.

Grammar (Python's precedence and chained comparisons):

    expr       := and_expr ('or' and_expr)*
    and_expr   := not_expr ('and' not_expr)*
    not_expr   := 'not' not_expr | comparison
    comparison := operand (('=='|'!='|'<'|'<='|'>'|'>=') operand)*
    operand    := '(' expr ')' | literal | reference
    literal    := number | '-' number | string | true | false (any case) | None
    reference  := 'jobs' '.' ID '.' ('outputs' '.' ID ('.' ID)* | 'status' | 'skip_reason')

Nothing is evaluated here and the artifact never parses the expression: code generators
turn the AST into plain code.

Parentheses and `not` may nest MAX_DEPTH levels deep (the engine's Python parser stops at
200 parentheses; the parser here and the code generators recurse once per level), and an
integer may have MAX_INT_DIGITS digits (Python's limit, where the engine's parser stops).
"""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass

MAX_DEPTH = 50
MAX_INT_DIGITS = 4300

_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][-+]?[0-9]+)?)
  | (?P<string>'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
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
class Literal:
    value: str | int | float | bool | None


@dataclass(frozen=True)
class JobOutput:
    """`jobs.<job>.outputs.<key>` (plus attribute access into a mapping value)."""

    job: str
    key: str
    rest: tuple[str, ...]
    offset: int


@dataclass(frozen=True)
class JobAttr:
    """`jobs.<job>.status` or `jobs.<job>.skip_reason`."""

    job: str
    attr: str
    offset: int


@dataclass(frozen=True)
class Compare:
    left: WhenExpr
    ops: tuple[str, ...]
    comparators: tuple[WhenExpr, ...]


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    values: tuple[WhenExpr, ...]


@dataclass(frozen=True)
class Not:
    operand: WhenExpr


WhenExpr = Literal | JobOutput | JobAttr | Compare | BoolOp | Not


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
                    "AF502", pos, f"'{ch}' is not supported in when",
                    "use comparisons (== != < <= > >=), and, or, not and parentheses",
                )
            if ch in "'\"":
                raise WhenSyntaxError("AF501", pos, "unterminated string literal in when")
            raise WhenSyntaxError("AF501", pos, f"unexpected character {ch!r} in when")
        kind = m.lastgroup or ""
        if kind != "space":
            tokens.append(_Tok(kind, m.group(), pos))
        pos = m.end()
    tokens.append(_Tok("end", "", len(source)))
    return tokens


def parse_when(source: str) -> WhenExpr:
    """Parse a `when` expression; raises WhenSyntaxError with an offset into `source`."""
    parser = _Parser(_tokenize(source))
    expr = parser.expr()
    tok = parser.peek()
    if tok.kind != "end":
        raise WhenSyntaxError("AF501", tok.offset, f"unexpected {tok.text!r} in when")
    return expr


class _Parser:
    def __init__(self, tokens: list[_Tok]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0  # parentheses and `not` open around the current token

    def enter(self, tok: _Tok) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise WhenSyntaxError(
                "AF502", tok.offset, f"when nests parentheses and 'not' more than {MAX_DEPTH} levels deep",
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
                raise WhenSyntaxError("AF502", tok.offset, "'-' is only allowed before a number in when",
                                      "arithmetic is not supported")
            return Literal(-_number(num))
        if tok.kind == "number":
            self.take()
            return Literal(_number(tok))
        if tok.kind == "string":
            self.take()
            return Literal(_string(tok))
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
                "AF502", tok.offset, f"unknown name '{word}' in when",
                "when may only read jobs.<job_id>.outputs.<key>, jobs.<job_id>.status "
                "and jobs.<job_id>.skip_reason; quote strings",
            )
        path = [word]
        while self.peek().kind == "punct" and self.peek().text == ".":
            self.take()
            part = self.take()
            if part.kind != "name":
                raise WhenSyntaxError("AF501", part.offset, "expected a name after '.' in when")
            path.append(part.text)
        nxt = self.peek()
        if nxt.kind == "punct" and nxt.text == "(":
            raise WhenSyntaxError("AF502", nxt.offset, "function calls are not supported in when")
        return _reference(path, tok.offset)


def _number(tok: _Tok) -> int | float:
    text = tok.text
    if re.fullmatch(r"[0-9]+", text):
        if len(text) > 1 and text.startswith("0"):
            raise WhenSyntaxError("AF501", tok.offset, f"leading zeros are not allowed in {text!r}",
                                  "write the number without leading zeros")
        if len(text) > MAX_INT_DIGITS:
            raise WhenSyntaxError("AF501", tok.offset, f"integer in when has more than {MAX_INT_DIGITS} digits",
                                  "Python (and so the engine) cannot read it")
        return int(text)
    return float(text)


def _string(tok: _Tok) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            value = ast.literal_eval(tok.text)
        except (ValueError, SyntaxError):
            raise WhenSyntaxError("AF501", tok.offset, f"invalid string literal {tok.text} in when") from None
    assert isinstance(value, str)
    return value


def _reference(path: list[str], offset: int) -> WhenExpr:
    dotted = ".".join(path)
    if len(path) >= 4 and path[2] == "outputs":
        return JobOutput(path[1], path[3], tuple(path[4:]), offset)
    if len(path) == 3 and path[2] in ("status", "skip_reason"):
        return JobAttr(path[1], path[2], offset)
    raise WhenSyntaxError(
        "AF403", offset, f"'{dotted}' cannot be read in when",
        "use jobs.<job_id>.outputs.<key>, jobs.<job_id>.status or jobs.<job_id>.skip_reason",
    )


def referenced_jobs(expr: WhenExpr) -> list[JobOutput | JobAttr]:
    """Every job reference in the expression, in source order."""
    if isinstance(expr, (JobOutput, JobAttr)):
        return [expr]
    if isinstance(expr, Compare):
        out = referenced_jobs(expr.left)
        for c in expr.comparators:
            out.extend(referenced_jobs(c))
        return out
    if isinstance(expr, BoolOp):
        return [r for v in expr.values for r in referenced_jobs(v)]
    if isinstance(expr, Not):
        return referenced_jobs(expr.operand)
    return []
