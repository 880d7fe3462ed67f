"""Arithmetic expressions from data files, checked against a whitelist and never executed.

A patterns file is handed to the tool by its user, so its expressions are untrusted text.
Evaluating them with `eval` or `DataFrame.eval` would let a file run shell commands or write
files (`@pd.io.common.os.system(...)`, `.to_pickle(...)`). Here the text is parsed with
`ast.parse(mode="eval")`, every node of the tree is checked against a short whitelist, and
evaluation walks the checked tree itself with numpy arithmetic over whole pandas columns.

Allowed: names (columns of the table the expression is evaluated over), numbers,
`+ - * /`, unary minus, parentheses, and the functions in `FUNCTIONS`. Everything else
(attributes, subscripts, other calls, keyword arguments, strings, comparisons, `**`, lambdas,
...) is an `ExpressionError`. Division by zero gives inf or NaN, as numpy does.
"""

from __future__ import annotations

import ast
import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, reduce

import numpy as np
import pandas as pd

#: Longer than any sensible pattern; keeps the tree shallow enough to walk recursively.
MAX_LENGTH = 400


def _fold(function: Callable) -> Callable:
    """An elementwise function of two or more arguments (NaN if any argument is NaN)."""
    return lambda *args: reduce(function, args)


#: name -> (fewest arguments, most arguments or None for no limit, the numpy function)
FUNCTIONS: dict[str, tuple[int, int | None, Callable]] = {
    "min": (2, None, _fold(np.minimum)),
    "max": (2, None, _fold(np.maximum)),
    "abs": (1, 1, np.abs),
    "log": (1, 1, np.log),
    "sqrt": (1, 1, np.sqrt),
}
OPERATORS: dict[type, Callable] = {
    ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.true_divide,
}
ALLOWED = ("allowed: column names, numbers, + - * /, unary -, parentheses, "
           "min(a, b, ...), max(a, b, ...), abs(x), log(x), sqrt(x)")

#: What the user wrote, in words, for the nodes people most often try.
_NODE_WORDS = {
    ast.Attribute: "attribute access ('.')", ast.Subscript: "subscripts ('[...]')",
    ast.Compare: "comparisons", ast.BoolOp: "'and'/'or'", ast.Lambda: "lambda",
    ast.IfExp: "'if ... else'", ast.NamedExpr: "':='", ast.Starred: "'*' unpacking",
    ast.List: "lists", ast.Tuple: "tuples", ast.Dict: "dicts", ast.Set: "sets",
    ast.ListComp: "comprehensions", ast.GeneratorExp: "comprehensions",
    ast.SetComp: "comprehensions", ast.DictComp: "comprehensions",
    ast.JoinedStr: "f-strings", ast.Await: "'await'", ast.Slice: "slices",
}
_OPERATOR_SYMBOLS = {ast.Pow: "**", ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@",
                     ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<",
                     ast.RShift: ">>", ast.Not: "not", ast.Invert: "~", ast.UAdd: "unary +"}


class ExpressionError(ValueError):
    """An expression outside the whitelist, or a name the table lacks: one line, no context
    (the caller adds the file and the pattern)."""


@dataclass(frozen=True)
class Expression:
    """A checked expression: its text, its tree, and the column names it reads."""

    text: str
    tree: ast.expr
    names: frozenset[str]

    def evaluate(self, frame: pd.DataFrame) -> pd.Series:
        """The expression over every row of `frame`, as a float Series with its index.

        Names are looked up among the frame's numeric columns; an unknown one is an
        ExpressionError with the closest column suggested.
        """
        columns = {name: _float_column(frame, name) for name in sorted(self.names)}
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            value = _compute(self.tree, columns)
        if isinstance(value, pd.Series):
            return value.astype(float)
        return pd.Series(float(value), index=frame.index)


@lru_cache(maxsize=256)
def parse_expression(text: str) -> Expression:
    """Parse and check `text`; ExpressionError (one line) if it is not allowed."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ExpressionError(f"not a valid expression ({exc.msg}"
                              f"{f', column {exc.offset}' if exc.offset else ''})") from None
    except (ValueError, RecursionError, MemoryError):  # e.g. a literal of 5,000 digits
        raise ExpressionError("not a valid expression (too large or too deeply nested)") from None
    names: set[str] = set()
    try:
        _check(tree, names)
    except RecursionError:
        raise ExpressionError("too deeply nested") from None
    return Expression(text, tree, frozenset(names))


def _check(node: ast.AST, names: set[str]) -> None:
    """Walk the tree; raise ExpressionError at the first node outside the whitelist."""
    match node:
        case ast.Name():
            names.add(node.id)
        case ast.Constant(value=value):
            _check_number(value)
        case ast.BinOp(op=op, left=left, right=right):
            if type(op) not in OPERATORS:
                raise ExpressionError(f"the operator {_symbol(op)} is not allowed")
            _check(left, names)
            _check(right, names)
        case ast.UnaryOp(op=op, operand=operand):
            if not isinstance(op, ast.USub):
                raise ExpressionError(f"the operator {_symbol(op)} is not allowed")
            _check(operand, names)
        case ast.Call():
            _check_call(node, names)
        case _:
            words = _NODE_WORDS.get(type(node), f"'{type(node).__name__}'")
            raise ExpressionError(f"{words}: not allowed")


def _check_number(value) -> None:
    """Only finite real numbers: no text, bytes, booleans, None, complex or overflow."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        kind = "text" if isinstance(value, str | bytes) else repr(value)
        raise ExpressionError(f"{kind} constants are not allowed, only numbers")
    try:
        finite = math.isfinite(float(value))
    except OverflowError:
        finite = False
    if not finite:
        raise ExpressionError("numbers must be finite (this one is too large)")


def _check_call(node: ast.Call, names: set[str]) -> None:
    """A call to one of FUNCTIONS by its bare name, positional arguments only."""
    if not isinstance(node.func, ast.Name):
        _check(node.func, set())  # names what is wrong with it, e.g. attribute access
        raise ExpressionError("only min, max, abs, log and sqrt can be called")
    if node.func.id not in FUNCTIONS:
        raise ExpressionError(f"function '{node.func.id}' is not allowed")
    name = node.func.id
    if node.keywords:
        raise ExpressionError(f"{name}() takes no keyword arguments")
    fewest, most, _ = FUNCTIONS[name]
    count = len(node.args)
    if count < fewest or (most is not None and count > most):
        wanted = f"{fewest}" if fewest == most else f"at least {fewest}"
        raise ExpressionError(f"{name}() takes {wanted} argument{'s' * (wanted != '1')}, "
                              f"got {count}")
    for arg in node.args:
        _check(arg, names)


def _symbol(op: ast.AST) -> str:
    return _OPERATOR_SYMBOLS.get(type(op), type(op).__name__)


def _compute(node: ast.expr, columns: dict[str, pd.Series]):
    """Evaluate a checked tree: a float Series (or a float for a constant expression)."""
    match node:
        case ast.Name(id=name):
            return columns[name]
        case ast.Constant(value=value):
            return float(value)
        case ast.BinOp(op=op, left=left, right=right):
            return OPERATORS[type(op)](_compute(left, columns), _compute(right, columns))
        case ast.UnaryOp(operand=operand):
            return np.negative(_compute(operand, columns))
        case ast.Call(func=ast.Name(id=name), args=args):
            return FUNCTIONS[name][2](*(_compute(arg, columns) for arg in args))
    raise AssertionError(f"unchecked node {type(node).__name__}")  # _check rules this out


def _float_column(frame: pd.DataFrame, name: str) -> pd.Series:
    """A numeric column as float64 (nulls as NaN), so integer columns cannot overflow."""
    if name not in frame.columns:
        numeric = [c for c in frame.columns if _is_number(frame[c])]
        close = difflib.get_close_matches(name, numeric, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ExpressionError(f"unknown name '{name}'{hint}")
    column = frame[name]
    if not _is_number(column):
        raise ExpressionError(f"'{name}' is not a numeric column")
    return pd.Series(column.to_numpy(dtype="float64", na_value=np.nan), index=frame.index)


def _is_number(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
