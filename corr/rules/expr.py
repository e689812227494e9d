"""The rule expression language: parsed by a lark LALR grammar, compiled to closures.

Rule files are data, never code: an expression is parsed into a tree and
each node becomes a small Python closure.  Nothing is ``eval``ed.

Values read from a trace may be absent (a field one dialect lacks, a
context that was not recorded), so absence (None) is part of the
semantics rather than an error:

- arithmetic (``+ - * / %``, unary ``-``) is on numbers; ``+`` of two
  strings concatenates them.  With an absent operand it gives None.
  Anything else is an *error* that gives None too: operands of other
  types (``"a" + 1``), a division by zero, an integer result of 2**1024
  or more (beyond any float, as a float result would be infinite; Python
  could not even print a product of a few hundred 64-bit values).  An
  error known before any trace is read (``"a" + 1``, ``1 / 0``,
  ``"x" + $tid``: every operand's type is known) is a RuleError when the
  rule is loaded; one found on an event is handed to ``env.note`` (the
  engine counts them in the rule's outcomes);
- functions (:data:`FUNCTIONS`): ``hex(x)`` (``0x8051111``), ``str(x)``
  and ``format("{}:{}", a, b)``; an absent argument gives None;
- a comparison (``== != < <= > >=``, ``in``, ``not in``, ``like``) with a
  None operand is false, and so is an ordering between a string and a
  number; ``x == null`` / ``x != null`` test whether ``x`` is absent;
- ``and``, ``or``, ``not`` work on truth values (None is false) and give
  ``true`` or ``false``.

References and how they are read from a :class:`~corr.rules.model.Env`:

==================  ============  =====================================
written             scope         read as
==================  ============  =====================================
``fd``              event         ``env.event.get("fd")``
``ctx.vtid``        event         ``env.event.get("ctx.vtid")``
``$tid``            event         ``env.builtins.get("tid")``
``entry.fd``        pair          ``env.entry.get("fd")``
``exit.ctx.vtid``   pair          ``env.exit.get("ctx.vtid")``
``entry.$tid``      pair          ``env.entry.get("$tid")``
``$duration``       pair          ``env.builtins.get("duration")``
``steps.s.fd``      pair          ``env.exit.get("steps.s.fd")`` (a step's capture)
``syscall``         group_by      ``env.key.get("syscall")`` (a key part)
==================  ============  =====================================

``Expression.references`` holds them as ``(scope, name)`` pairs, in the
third column's terms: ``("event", "ctx.vtid")``, ``("builtin", "tid")``,
``("entry", "$tid")``, ``("builtin", "duration")``, ``("key", "syscall")``,
``("steps", "s.fd")``.
"""

from __future__ import annotations

import fnmatch
import operator
import re
from collections.abc import Callable, Iterable

from ..errors import RuleError
from .model import Env, Expression, Location
from .units import parse_duration

EVENT_BUILTINS = ("name", "syscall", "cpu", "ts", "tid", "pid", "comm", "procname")
PAIR_BUILTINS = ("duration",)
# What each builtin holds when present (fields' types are the trace's, unknown here).
_BUILTIN_KINDS = {**dict.fromkeys(("name", "syscall", "comm", "procname"), "a string"),
                  **dict.fromkeys(("cpu", "ts", "tid", "pid", "duration"), "a number")}
SCOPES = ("event", "pair")

GRAMMAR = r"""
?start: disjunction

?disjunction: conjunction
    | disjunction "or" conjunction      -> or_
?conjunction: negation
    | conjunction "and" negation        -> and_
?negation: "not" negation               -> not_
    | comparison
?comparison: sum
    | sum COMPARE sum                   -> compare
    | sum "in" list                     -> in_
    | sum "not" "in" list               -> not_in
    | sum "like" sum                    -> like
?sum: product
    | sum (PLUS | MINUS) product        -> arith
?product: unary
    | product (STAR | SLASH | PERCENT) unary -> arith
?unary: MINUS unary                     -> neg
    | atom
?atom: INT | HEX | FLOAT | DURATION | STRING
    | "true"                            -> true
    | "false"                           -> false
    | "null"                            -> null
    | call
    | reference
    | list
    | "(" disjunction ")"
list: "[" (disjunction ("," disjunction)* ","?)? "]"
call: NAME "(" (disjunction ("," disjunction)*)? ")"
reference: (NAME ".")* (NAME | BUILTIN)

COMPARE: "==" | "!=" | "<=" | ">=" | "<" | ">"
PLUS: "+"
MINUS: "-"
STAR: "*"
SLASH: "/"
PERCENT: "%"
DURATION.3: /(\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s)(?![A-Za-z0-9_])/
HEX.2: /0[xX][0-9a-fA-F]+/
FLOAT.1: /(\d+\.\d*|\.\d+)([eE][+-]?\d+)?|\d+[eE][+-]?\d+/
INT: /\d+/
STRING: /"(\\.|[^"\\\n])*"|'(\\.|[^'\\\n])*'/
NAME: /[A-Za-z_][A-Za-z0-9_]*/
BUILTIN: /\$[A-Za-z_][A-Za-z0-9_]*/
%ignore /[ \t\r\n]+/
"""

# Limits, so that any expression is parsed and compiled quickly and without
# deep recursion.  Chains of ``or`` (or of ``and``) are one node of many
# operands, however long: a generated ``where`` of 20,000 terms (450 kB,
# a few seconds to check) is fine; a 10 MB one is refused at once.
MAX_CHARS = 500_000
MAX_NESTING = 64                # levels of operators, lists and negations
MAX_INTEGER = 2**64 - 1         # literals: what a 64-bit trace field holds
MAX_GLOB = 1_000                # a glob's translation to a regex is quadratic in "["

_parser = None


def _get_parser():
    """Build the LALR parser on first use: importing corr.rules stays cheap."""
    global _parser
    if _parser is None:
        from lark import Lark
        # The basic lexer makes keywords (and, in, like ...) keywords everywhere,
        # never field names, so that errors name them.
        _parser = Lark(GRAMMAR, parser="lalr", lexer="basic", propagate_positions=True)
    return _parser


def parse_expression(text: str, scope: str = "event", location: Location | None = None,
                     key_parts: Iterable[str] = (), verbatim: bool = True) -> Expression:
    """Parse and check ``text``; return it compiled.

    ``scope`` is ``"event"`` (an entry/exit/cancel ``where`` or key part) or
    ``"pair"`` (a rule's ``where`` or ``group_by``); ``key_parts`` names the
    key parts a ``group_by`` may use bare.  ``location`` is where the text
    starts in its file; ``verbatim`` says the text appears there exactly as
    given (a plain or simply-quoted YAML scalar), so that an error can point
    at its exact character rather than at the scalar's start.

    Raises :class:`~corr.errors.RuleError` located in the file.
    """
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, not {scope!r}")
    location = location or Location("<expression>", 1, 1)
    try:
        if len(text) > MAX_CHARS:
            raise _ExpressionError(f"expression of {len(text):,} characters "
                                   f"(at most {MAX_CHARS:,})", 1, 1)
        return compile_tree(text, _plain(_parse(text)), scope, location, tuple(key_parts))
    except _ExpressionError as err:
        line, column = _file_position(location, verbatim, err.line, err.column)
        raise RuleError(location.path, line, column, err.message) from None


def compile_tree(text: str, tree, scope: str, location: Location,
                 key_parts: tuple[str, ...]) -> Expression:
    """An :class:`Expression` from its lark-free parse tree.

    Also how a pickled Expression is rebuilt (the rule cache): closures do
    not pickle, the tree does, and compiling it needs no lark.
    """
    compiler = _Compiler(scope, key_parts)
    code = compiler.compile(tree)
    return Expression(
        text=text,
        evaluate=code.run,
        references=frozenset(compiler.references),
        location=location,
        reference=compiler.top_reference(tree),
        equality=compiler.top_equality(tree),
        tree=tree,
        scope=scope,
        key_parts=key_parts,
    )


def type_error(expression: Expression, kinds: dict) -> str | None:
    """Why ``expression`` is always null given the types of the fields it reads
    (``kinds``: ``{(scope, name): "a number"}``, as :attr:`Expression.references`
    names them), or None: what ``corr check`` finds with the traces' metadata."""
    try:
        _Compiler(expression.scope, expression.key_parts, kinds).compile(expression.tree)
    except _ExpressionError as err:
        return err.message
    return None


class _ExpressionError(Exception):
    """A problem at (line, column) within the expression text, both 1-based."""

    def __init__(self, message: str, line: int, column: int):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


def _file_position(location, verbatim, line, column):
    if location.line is None or location.column is None or not verbatim:
        return location.line, location.column
    if line == 1:
        return location.line, location.column + column - 1
    return location.line + line - 1, column


def _parse(text):
    from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

    shown = _shown(text)
    try:
        return _get_parser().parse(text)
    except UnexpectedCharacters as err:
        raise _ExpressionError(f"unexpected character {err.char!r} in {shown!r}",
                               err.line, err.column) from None
    except UnexpectedToken as err:
        if err.token.type == "$END":
            lines = text.rstrip().split("\n")
            raise _ExpressionError(f"incomplete expression {shown!r}",
                                   len(lines), len(lines[-1]) + 1) from None
        raise _ExpressionError(f"unexpected {err.token.value!r} in {shown!r}",
                               err.line, err.column) from None
    except UnexpectedInput as err:
        raise _ExpressionError(f"cannot parse {shown!r}", err.line, err.column) from None


def _shown(text: str) -> str:
    """The expression as an error quotes it: on one line, cut short when long."""
    shown = " ".join(text[:200].split())
    return shown if len(shown) <= 80 and len(text) <= 200 else shown[:77] + "..."


# -- the parse tree, without lark ----------------------------------------------

class _Node:
    """A parse-tree node (``data``: the grammar's alias) with its position.

    lark's own trees are converted right after parsing, so that what the
    compiler reads, and the rule cache pickles, never needs lark.
    """

    __slots__ = ("data", "children", "line", "column")

    def __init__(self, data: str, children: tuple, line: int | None, column: int | None):
        self.data, self.children, self.line, self.column = data, children, line, column

    def __reduce__(self):
        return _Node, (self.data, self.children, self.line, self.column)


class _Token:
    """A token: its terminal's name (``INT``, ``NAME``, ``COMPARE``...), text and position."""

    __slots__ = ("type", "value", "line", "column")

    def __init__(self, type: str, value: str, line: int | None, column: int | None):
        self.type, self.value, self.line, self.column = type, value, line, column

    def __reduce__(self):
        return _Token, (self.type, self.value, self.line, self.column)


_CHAINS = ("or_", "and_")


def _plain(tree):
    """A lark Tree as :class:`_Node` / :class:`_Token`, without recursion.

    A chain of ``or`` (or of ``and``), however written (``a or b or c``,
    ``a or (b or c)``), becomes one node with every operand as a child, so
    that thousands of terms nest one level, not thousands.  Any other
    nesting deeper than MAX_NESTING is an error at the node that crosses it.
    """
    done = []                                  # converted nodes, in order
    work = [(tree, 1, False)]
    while work:
        node, depth, ready = work.pop()
        if not hasattr(node, "data"):
            done.append(_Token(str(node.type), str(node.value), node.line, node.column))
            continue
        meta = node.meta
        line, column = getattr(meta, "line", None), getattr(meta, "column", None)
        if ready:
            count = len(node.children)
            children = tuple(done[len(done) - count:]) if count else ()
            del done[len(done) - count:]
            done.append(_Node(str(node.data), children, line, column))
            continue
        if depth > MAX_NESTING:
            raise _ExpressionError(f"expression nested more than {MAX_NESTING} levels deep",
                                   line or 1, column or 1)
        if node.data in _CHAINS:
            node = _chain(node)
        work.append((node, depth, True))
        for child in reversed(node.children):
            work.append((child, depth + 1, False))
    return done[0]


def _chain(node):
    """``node`` (an or_ or and_) with the operands of its whole chain as children."""
    from lark import Tree

    operands, stack = [], [node]
    while stack:
        item = stack.pop()
        if getattr(item, "data", None) == node.data:
            stack.extend(reversed(item.children))
        else:
            operands.append(item)
    return Tree(node.data, operands, node.meta)


# -- compiled nodes ------------------------------------------------------------

_NOT_CONSTANT = object()


class _Code:
    """A compiled node: ``run(env)`` gives its value; constants are folded.

    ``kind`` is the type of its value when present, as far as known before
    any trace is read (:func:`kind_of`'s words), else None.
    """

    __slots__ = ("run", "constant", "kind")

    def __init__(self, run: Callable[[Env], object], constant: object = _NOT_CONSTANT,
                 kind: str | None = None):
        self.run = run
        self.constant = constant
        self.kind = kind_of(constant) if constant is not _NOT_CONSTANT else kind

    @property
    def is_constant(self) -> bool:
        return self.constant is not _NOT_CONSTANT


def _constant(value) -> _Code:
    return _Code(lambda env: value, value)


def _folded(run, *children: _Code, kind: str | None = None) -> _Code:
    """``run`` as a node; evaluated once now when every child is a constant
    (``run(None)``: an error then is known before any trace is read)."""
    if all(child.is_constant for child in children):
        return _constant(run(None))
    return _Code(run, kind=kind)


class _KnownError(Exception):
    """An error found while folding constants: the expression's, at load time."""


def _error(env, reason: str) -> None:
    """An evaluation that gives None because of an error: told to ``env.note``."""
    if env is None:
        raise _KnownError(reason)
    if env.note is not None:
        env.note(reason)
    return None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def kind_of(value) -> str | None:
    """How errors name a value's type: ``a number``, ``a string``..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if _is_number(value):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    return "a " + type(value).__name__


NUMBER, STRING = "a number", "a string"


def _operands_error(symbol, a, b) -> str:
    return f"{symbol!r} of {kind_of(a)} and {kind_of(b)}"


def _arithmetic(op, symbol):
    def apply(a, b, env=None):
        if a is None or b is None:
            return None
        if not (_is_number(a) and _is_number(b)):
            if symbol == "+" and type(a) is str and type(b) is str:
                return a + b
            return _error(env, _operands_error(symbol, a, b))
        try:
            value = op(a, b)
        except ZeroDivisionError:
            return _error(env, "division by zero")
        except OverflowError:
            return _error(env, f"{symbol!r} beyond a float")
        if type(value) is int and not -_TOO_LARGE < value < _TOO_LARGE:
            return _error(env, f"{symbol!r} beyond 2**1024")
        return value
    return apply


_TOO_LARGE = 2**1024


def _arithmetic_kind(symbol, a: _Code, b: _Code) -> str | None:
    """The result's kind, or a RuleError-worthy reason when the operands never go together."""
    if a.kind is None or b.kind is None or "null" in (a.kind, b.kind):
        return None
    if a.kind == b.kind == NUMBER:
        return NUMBER
    if symbol == "+" and a.kind == b.kind == STRING:
        return STRING
    raise _KnownError(f"{symbol!r} of {a.kind} and {b.kind}")


def _text(value, env, function):
    """A value as text in ``str`` and ``format``: strings as they are, numbers in
    decimal, booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if type(value) is str or _is_number(value):
        return str(value)
    return _error(env, f"{function}() of {kind_of(value)}")


def _hex(value, env):
    if value is None:
        return None
    if type(value) is int:
        return hex(value)
    return _error(env, "hex() of a fraction" if type(value) is float
                  else f"hex() of {kind_of(value)}")


def _format_pieces(template: str) -> list[str] | None:
    """The literal pieces between ``{}`` placeholders (``{{`` and ``}}`` are braces),
    or None when ``template`` has another brace."""
    pieces, piece, i = [], [], 0
    while i < len(template):
        c = template[i]
        if template.startswith("{{", i) or template.startswith("}}", i):
            piece.append(c)
            i += 2
        elif template.startswith("{}", i):
            pieces.append("".join(piece))
            piece = []
            i += 2
        elif c in "{}":
            return None
        else:
            piece.append(c)
            i += 1
    pieces.append("".join(piece))
    return pieces


# Functions an expression may call: name -> (arguments: "N" or "N+", what it does).
FUNCTIONS = {
    "hex": ("1", "an integer in hexadecimal: hex(134544145) is '0x8051111'"),
    "str": ("1", "a number, string or boolean as text: str(3) is '3'"),
    "format": ("1+", "a constant template whose {} take the arguments in turn, "
                     "as str() writes them ({{ and }} for braces): "
                     "format('{}:{}', 'fd', 3) is 'fd:3'"),
}


def _comparison(op):
    def apply(a, b):
        if a is None or b is None:
            return False
        try:
            return op(a, b)
        except TypeError:           # "a" < 1
            return False
    return apply


ARITHMETIC = {
    "+": _arithmetic(operator.add, "+"),
    "-": _arithmetic(operator.sub, "-"),
    "*": _arithmetic(operator.mul, "*"),
    "/": _arithmetic(operator.truediv, "/"),
    "%": _arithmetic(operator.mod, "%"),
}

COMPARISONS = {
    "==": _comparison(operator.eq),
    "!=": _comparison(operator.ne),
    "<": _comparison(operator.lt),
    "<=": _comparison(operator.le),
    ">": _comparison(operator.gt),
    ">=": _comparison(operator.ge),
}

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0"}


def _unquote(token: str) -> str:
    """A string literal's value: quotes removed, ``\\n \\t \\r \\0`` decoded, ``\\x`` -> ``x``."""
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[1]), token[1:-1])


def _reader(scope: str, name: str) -> Callable[[Env], object]:
    if scope == "event":
        return lambda env: env.event.get(name)
    if scope == "entry":
        return lambda env: env.entry.get(name)
    if scope == "exit":
        return lambda env: env.exit.get(name)
    if scope == "key":
        return lambda env: env.key.get(name)
    if scope == "steps":                 # captured by a step: they ride with the exit's values
        step_name = "steps." + name
        return lambda env: env.exit.get(step_name)
    return lambda env: env.builtins.get(name)


# -- the compiler --------------------------------------------------------------

class _Compiler:
    """Turns a parse tree into closures, checking each reference against the scope."""

    def __init__(self, scope: str, key_parts: tuple[str, ...], kinds: dict | None = None):
        self.scope = scope
        self.key_parts = key_parts
        self.references: set[tuple[str, str]] = set()
        self.kinds = kinds or {}          # (scope, field) -> its kind, when a trace tells

    def top_reference(self, tree):
        """``(scope, name)`` when the whole expression is one reference."""
        if getattr(tree, "data", None) == "reference":
            return self.resolve(tree.children)
        return None

    def top_equality(self, tree):
        """``(reference, reference)`` when the expression is ``a == b`` of two names."""
        if getattr(tree, "data", None) != "compare":
            return None
        left, op, right = tree.children
        if (op.value == "==" and getattr(left, "data", None) == "reference"
                and getattr(right, "data", None) == "reference"):
            return self.resolve(left.children), self.resolve(right.children)
        return None

    def compile(self, node) -> _Code:
        if isinstance(node, _Token):           # a literal
            return _constant(self.literal(node))
        handler = getattr(self, "node_" + node.data.rstrip("_"))
        try:
            return handler(*node.children)
        except _KnownError as err:             # an error whatever the trace holds
            raise _ExpressionError(f"{err} is always null", node.line, node.column) from None

    # literals

    def literal(self, token):
        kind, text = token.type, token.value
        if kind in ("INT", "HEX"):
            digits = text[2:].lstrip("0") if kind == "HEX" else text.lstrip("0")
            value = (int(text, 16) if kind == "HEX" else int(text)) if len(digits) <= 20 else None
            if value is None or value > MAX_INTEGER:
                raise _ExpressionError(f"integer {_shown(text)} is out of range "
                                       f"(at most {MAX_INTEGER}, 64 bits)", token.line, token.column)
            return value
        if kind == "FLOAT":
            return float(text)
        if kind == "STRING":
            return _unquote(text)
        try:                                   # DURATION
            return parse_duration(text)
        except ValueError as err:
            raise _ExpressionError(str(err), token.line, token.column) from None

    def node_true(self):
        return _constant(True)

    def node_false(self):
        return _constant(False)

    def node_null(self):
        return _constant(None)

    def node_list(self, *items):
        codes = [self.compile(item) for item in items]
        runs = [code.run for code in codes]
        return _folded(lambda env: [run(env) for run in runs], *codes)

    # references

    def node_reference(self, *tokens):
        scope, name = self.resolve(tokens)
        self.references.add((scope, name))
        return _Code(_reader(scope, name), kind=_BUILTIN_KINDS.get(name.lstrip("$"))
                     if scope == "builtin" or name.startswith("$")
                     else self.kinds.get((scope, name)))

    # functions

    def node_call(self, name, *arguments):
        function = name.value
        if function not in FUNCTIONS:
            raise _ExpressionError(f"unknown function {function!r} (functions: "
                                   f"{', '.join(FUNCTIONS)})", name.line, name.column)
        arity = FUNCTIONS[function][0]
        wanted = int(arity.rstrip("+"))
        if len(arguments) < wanted or (not arity.endswith("+") and len(arguments) > wanted):
            count = "one argument" if arity == "1" else f"at least {wanted} argument"
            raise _ExpressionError(f"{function}() takes {count}, not {len(arguments)}",
                                   name.line, name.column)
        codes = [self.compile(argument) for argument in arguments]
        return getattr(self, "call_" + function)(codes, arguments)

    def call_hex(self, codes, arguments):
        (code,) = codes
        if code.kind not in (None, "null", NUMBER):
            raise _KnownError(f"hex() of {code.kind}")
        run = code.run
        return _folded(lambda env: _hex(run(env), env), code, kind=STRING)

    def call_str(self, codes, arguments):
        (code,) = codes
        if code.kind == "a list":
            raise _KnownError("str() of a list")
        run = code.run

        def text(env):
            value = run(env)
            return None if value is None else _text(value, env, "str")
        return _folded(text, code, kind=STRING)

    def call_format(self, codes, arguments):
        template, *values = codes
        if not (template.is_constant and isinstance(template.constant, str)):
            raise _ExpressionError("format() needs a constant string template first",
                                   *_position(arguments[0]))
        pieces = _format_pieces(template.constant)
        if pieces is None:
            raise _ExpressionError(f"format() template {_shown(template.constant)!r}: only {{}} "
                                   "placeholders ({{ and }} for braces)", *_position(arguments[0]))
        if len(pieces) - 1 != len(values):
            raise _ExpressionError(f"format() template has {len(pieces) - 1} {{}} for "
                                   f"{len(values)} values", *_position(arguments[0]))
        if any(code.kind == "a list" for code in values):
            raise _KnownError("format() of a list")
        runs = [code.run for code in values]
        first, rest = pieces[0], pieces[1:]

        def formatted(env):
            out = [first]
            for run, piece in zip(runs, rest):
                value = run(env)
                if value is None:
                    return None
                text = _text(value, env, "format")
                if text is None:
                    return None
                out.append(text)
                out.append(piece)
            return "".join(out)
        return _folded(formatted, *values, kind=STRING)

    def resolve(self, tokens) -> tuple[str, str]:
        if self.scope == "event":
            return self.resolve_on_event(tokens, side=None)
        return self.resolve_on_pair(tokens)

    def resolve_on_event(self, tokens, side):
        """``fd``, ``ctx.vtid`` or ``$tid`` of one event (``side``: entry, exit or None)."""
        names = [t.value for t in tokens]
        written = ".".join(([side] if side else []) + names)
        first = tokens[0]
        if first.type == "BUILTIN":
            builtin = first.value[1:]
            if builtin in PAIR_BUILTINS:
                raise _ExpressionError(
                    f"{written!r} is a pair builtin: use it in a rule's where or group_by",
                    first.line, first.column)
            if builtin not in EVENT_BUILTINS:
                known = ", ".join("$" + b for b in EVENT_BUILTINS)
                raise _ExpressionError(f"unknown builtin {written!r} (builtins: {known})",
                                       first.line, first.column)
            return (side, first.value) if side else ("builtin", builtin)
        if len(names) == 1:
            return (side or "event", names[0])
        if len(names) == 2 and names[0] == "ctx" and tokens[1].type == "NAME":
            return (side or "event", "ctx." + names[1])
        if side is None and names[0] in ("entry", "exit"):
            raise _ExpressionError(
                f"{written!r} in an event filter: entry. and exit. are for a rule's where and group_by",
                first.line, first.column)
        raise _ExpressionError(
            f"unknown reference {written!r} (a field NAME, a context ctx.NAME or a builtin $NAME)",
            first.line, first.column)

    def resolve_on_pair(self, tokens):
        """``entry.x``/``exit.x``, ``$duration`` or (in group_by) a key part."""
        names = [t.value for t in tokens]
        written = ".".join(names)
        first = tokens[0]
        if names[0] in ("entry", "exit") and first.type == "NAME" and len(names) > 1:
            return self.resolve_on_event(tokens[1:], side=names[0])
        if names[0] == "steps" and first.type == "NAME" and len(names) > 2:
            _, field = self.resolve_on_event(tokens[2:], side="steps." + names[1])
            return ("steps", f"{names[1]}.{field}")
        if names[0] == "steps":
            raise _ExpressionError(f"{written!r} needs a step and a field: steps.STEP.NAME",
                                   first.line, first.column)
        if first.type == "BUILTIN" and len(names) == 1:
            builtin = names[0][1:]
            if builtin in PAIR_BUILTINS:
                return ("builtin", builtin)
            if builtin in EVENT_BUILTINS:
                raise _ExpressionError(
                    f"{written!r} in a pair expression: write entry.{written} or exit.{written}",
                    first.line, first.column)
            raise _ExpressionError(
                f"unknown builtin {written!r} (a pair has $duration, and entry.$NAME / exit.$NAME)",
                first.line, first.column)
        if len(names) == 1 and names[0] in self.key_parts:
            return ("key", names[0])
        if names in (["entry"], ["exit"]):
            raise _ExpressionError(f"{written!r} needs a field: {written}.NAME", first.line, first.column)
        parts = f", or a key part ({', '.join(self.key_parts)})" if self.key_parts else ""
        raise _ExpressionError(
            f"{written!r} in a pair expression: write entry.{written} or exit.{written}{parts}",
            first.line, first.column)

    # operators

    def node_neg(self, _minus, operand):
        code = self.compile(operand)
        if code.kind not in (None, "null", NUMBER):
            raise _KnownError(f"'-' of {code.kind}")
        run = code.run

        def negate(env):
            value = run(env)
            if value is None or _is_number(value):
                return None if value is None else -value
            return _error(env, f"'-' of {kind_of(value)}")
        return _folded(negate, code, kind=code.kind)

    def node_arith(self, left, op, right):
        a, b = self.compile(left), self.compile(right)
        kind = _arithmetic_kind(op.value, a, b)
        apply, run_a, run_b = ARITHMETIC[op.value], a.run, b.run
        return _folded(lambda env: apply(run_a(env), run_b(env), env), a, b, kind=kind)

    def node_compare(self, left, op, right):
        a, b = self.compile(left), self.compile(right)
        run_a, run_b = a.run, b.run
        if op.value in ("==", "!=") and (_is_null(left) or _is_null(right)):
            # "x == null": is x absent?  The one comparison where None is a value.
            other = run_b if _is_null(left) else run_a
            want_absent = op.value == "=="
            return _folded(lambda env: (other(env) is None) == want_absent, a, b)
        apply = COMPARISONS[op.value]
        return _folded(lambda env: apply(run_a(env), run_b(env)), a, b)

    def node_in(self, left, values):
        return self.membership(left, values, negate=False)

    def node_not_in(self, left, values):
        return self.membership(left, values, negate=True)

    def membership(self, left, values, negate):
        a, items = self.compile(left), self.compile(values)
        run_a = a.run
        if items.is_constant:
            try:
                pool = frozenset(items.constant)
            except TypeError:                  # unhashable items: a list it stays
                pool = items.constant
        else:
            pool = None
        run_items = items.run

        def contains(env):
            value = run_a(env)
            if value is None:
                return False
            try:
                found = value in (pool if pool is not None else run_items(env))
            except TypeError:                  # an unhashable value
                return False
            return found != negate
        return _folded(contains, a, items)

    def node_like(self, left, pattern):
        a, p = self.compile(left), self.compile(pattern)
        run_a = a.run
        if p.is_constant:
            if not isinstance(p.constant, str):
                raise _ExpressionError(f"like needs a string pattern, not {p.constant!r}",
                                       *_position(pattern))
            if len(p.constant) > MAX_GLOB:
                raise _ExpressionError(f"like pattern of {len(p.constant):,} characters "
                                       f"(at most {MAX_GLOB:,})", *_position(pattern))
            matches = re.compile(fnmatch.translate(p.constant)).match

            def like_constant(env):
                value = run_a(env)
                return isinstance(value, str) and matches(value) is not None
            return _folded(like_constant, a)
        run_p = p.run

        def like(env):
            # A pattern read from the trace: one longer than MAX_GLOB matches nothing.
            value, glob = run_a(env), run_p(env)
            return (isinstance(value, str) and isinstance(glob, str) and len(glob) <= MAX_GLOB
                    and fnmatch.fnmatchcase(value, glob))
        return _Code(like)

    def node_not(self, operand):
        code = self.compile(operand)
        run = code.run
        return _folded(lambda env: not run(env), code)

    def node_and(self, *operands):
        codes = [self.compile(operand) for operand in operands]
        runs = [code.run for code in codes]
        if len(runs) == 2:
            run_a, run_b = runs
            return _folded(lambda env: bool(run_a(env)) and bool(run_b(env)), *codes)
        return _folded(lambda env: all(run(env) for run in runs), *codes)

    def node_or(self, *operands):
        codes = [self.compile(operand) for operand in operands]
        runs = [code.run for code in codes]
        if len(runs) == 2:
            run_a, run_b = runs
            return _folded(lambda env: bool(run_a(env)) or bool(run_b(env)), *codes)
        return _folded(lambda env: any(run(env) for run in runs), *codes)


def _is_null(node) -> bool:
    """Is this parse-tree node the literal ``null`` (not merely something folding to None)?"""
    return getattr(node, "data", None) == "null"


def _position(node) -> tuple[int, int]:
    """(line, column) where a tree or token starts in the expression."""
    return node.line, node.column
