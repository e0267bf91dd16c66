"""``chainrule graph "EXPR" name=value ...``: build a scalar expression safely, differentiate it,
draw it.

The expression is parsed with Python's ``ast`` and checked against an allow-list: numbers,
names that were given a value, ``+ - * / **``, unary ``-``/``+``, and calls of the Value
functions ``relu``, ``tanh``, ``exp``, ``log``, ``sigmoid`` with one argument. Nothing is
``eval``'d: the tree is interpreted node by node on ``Value`` objects, with an explicit stack
(no recursion, so a long expression cannot overflow the call stack). Anything else (attribute
access, subscripts, other calls, lambdas, comprehensions, strings, names without a value) is
refused with a one-line message and exit status 2.
"""

from __future__ import annotations

import argparse
import ast
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from chainrule.scalar.engine import Value

__all__ = ["ExprError", "build_expression", "main", "parse_assignments"]

FUNCTIONS = ("relu", "tanh", "exp", "log", "sigmoid")
MAX_LENGTH = 2000  # characters: a teaching tool, not a compiler
ALLOWED = (
    "allowed: numbers, names given as name=value, + - * / **, unary minus, and "
    + "/".join(FUNCTIONS)
    + "(...)"
)

_BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    # two constants: math.pow raises (ValueError, OverflowError) where ** would go complex
    ast.Pow: lambda a, b: a**b if isinstance(a, Value) or isinstance(b, Value) else math.pow(a, b),
}

# Names for the constructs people try, for the error message.
_WHAT = {
    ast.Attribute: "attribute access (a.b)",
    ast.Subscript: "indexing (a[i])",
    ast.Lambda: "a lambda",
    ast.Compare: "a comparison",
    ast.BoolOp: "and/or",
    ast.IfExp: "if/else",
    ast.ListComp: "a comprehension",
    ast.GeneratorExp: "a generator",
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.Dict: "a dict",
    ast.Set: "a set",
    ast.JoinedStr: "an f-string",
    ast.NamedExpr: "an assignment (:=)",
    ast.Starred: "unpacking (*x)",
    ast.Await: "await",
}


class ExprError(ValueError):
    """An expression or assignment outside the allow-list (one line, says what is allowed)."""


def parse_assignments(items: Sequence[str]) -> dict[str, float]:
    """``["w=2", "x=3"]`` -> ``{"w": 2.0, "x": 3.0}``; finite real numbers only.

    >>> parse_assignments(["w=2", "x=-1.5"])
    {'w': 2.0, 'x': -1.5}
    """
    values: dict[str, float] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier() or name in FUNCTIONS:
            raise ExprError(
                f"bad input value {item[:40]!r}: write name=number, e.g. w=2 (the name must be "
                f"an identifier and not one of {', '.join(FUNCTIONS)})"
            )
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise ExprError(f"bad value for {name}: {text[:40]!r} is not a finite number")
        values[name] = number
    return values


def build_expression(expr: str, values: dict[str, Value]) -> Value:
    """Interpret ``expr`` on the given Values (see the module docstring for what is allowed).

    >>> x = Value(3.0, label="x")
    >>> build_expression("x*2 + (x+1)", {"x": x}).data
    10.0
    """
    if len(expr) > MAX_LENGTH:
        raise ExprError(f"the expression is {len(expr)} characters long; the limit is {MAX_LENGTH}")
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as err:
        raise ExprError(f"cannot parse the expression: {err.msg}; {ALLOWED}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExprError(f"the expression is nested too deeply to parse; {ALLOWED}") from None
    # Post-order walk with an explicit stack: (node, visited?) pairs; results on `out`.
    stack: list[tuple[ast.AST, bool]] = [(tree.body, False)]
    out: list[Value | float] = []
    while stack:
        node, visited = stack.pop()
        if not visited:
            _check(node, values)
            stack.append((node, True))
            for child in reversed(_operands(node)):
                stack.append((child, False))
            continue
        if isinstance(node, ast.Constant):
            out.append(float(node.value))  # floats only: int ** int could take forever
        elif isinstance(node, ast.Name):
            out.append(values[node.id])
        elif isinstance(node, ast.UnaryOp):
            a = out.pop()
            out.append(-a if isinstance(node.op, ast.USub) else a)
        elif isinstance(node, ast.BinOp):
            b = out.pop()
            a = out.pop()
            out.append(_BINARY[type(node.op)](a, b))
        else:  # an allowed call
            a = out.pop()
            fn = node.func.id  # type: ignore[attr-defined]
            out.append(getattr(a if isinstance(a, Value) else Value(a), fn)())
    result = out.pop()
    if not isinstance(result, Value):
        raise ExprError("the expression has no input names, so there is nothing to differentiate")
    return result


def _operands(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.BinOp):
        return [node.left, node.right]
    if isinstance(node, ast.UnaryOp):
        return [node.operand]
    if isinstance(node, ast.Call):
        return list(node.args)
    return []


def _check(node: ast.AST, values: dict[str, Value]) -> None:
    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ExprError(f"constant {str(v)[:30]!r} is not a real number; {ALLOWED}")
        return
    if isinstance(node, ast.Name):
        if node.id not in values:
            if node.id in FUNCTIONS:
                raise ExprError(f"{node.id} must be called, as {node.id}(x); {ALLOWED}")
            raise ExprError(
                f"name {node.id!r} has no value: pass {node.id}=NUMBER after the expression"
            )
        return
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            raise ExprError(f"operator {type(node.op).__name__} is not allowed; {ALLOWED}")
        return
    if isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.USub | ast.UAdd):
            raise ExprError(f"operator {type(node.op).__name__} is not allowed; {ALLOWED}")
        return
    if isinstance(node, ast.Call):
        fn = node.func
        if not (isinstance(fn, ast.Name) and fn.id in FUNCTIONS):
            what = ast.unparse(fn)[:30] if hasattr(ast, "unparse") else "this"
            raise ExprError(f"calling {what!r} is not allowed; {ALLOWED}")
        if len(node.args) != 1 or node.keywords:
            raise ExprError(f"{fn.id}() takes exactly one argument; {ALLOWED}")
        return
    what = _WHAT.get(type(node), type(node).__name__)
    raise ExprError(f"{what} is not allowed; {ALLOWED}")


def main(argv: Sequence[str]) -> int:
    """``chainrule graph``: print every input's gradient and write the picture or the page."""
    parser = argparse.ArgumentParser(
        prog="chainrule graph",
        description="Build EXPR from scalar Values, run backward, print each input's gradient "
        "and draw the graph. Example: chainrule graph '(w*x + b - y)**2' w=2 x=3 b=1 y=5",
    )
    parser.add_argument("expr", help=f"the expression ({ALLOWED})")
    parser.add_argument("values", nargs="*", metavar="name=value", help="the inputs")
    parser.add_argument(
        "--out",
        default="graph.svg",
        help="output file: .svg (default graph.svg), .png, .dot, or .html (the step-through "
        "explorer)",
    )
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as stop:
        return int(stop.code or 0)
    out = Path(args.out)
    suffix = out.suffix.lower()
    try:
        if suffix not in (".svg", ".png", ".dot", ".html"):
            raise ExprError(f"--out {args.out!r}: use a .svg, .png, .dot or .html file name")
        numbers = parse_assignments(args.values)
        inputs = {name: Value(v, label=name) for name, v in numbers.items()}
        root = build_expression(args.expr, inputs)
        root.backward()
    except ExprError as err:
        print(f"chainrule graph: {err}", file=sys.stderr)
        return 2
    except OverflowError:
        print("chainrule graph: a result is too large for a float (overflow)", file=sys.stderr)
        return 2
    except (ValueError, ArithmeticError) as err:  # domain errors: log(-1), 1/0
        print(f"chainrule graph: {str(err).splitlines()[0]}", file=sys.stderr)
        return 2
    if not root.label:
        root.label = "out"
    print(f"{args.expr.strip()} = {root.data:.6g}")
    for name, value in inputs.items():
        print(f"  d/d{name} = {value.grad:.6g}")
    from chainrule import viz

    try:
        if suffix == ".html":
            viz.explore(root, out, title=f"chainrule: {args.expr.strip()[:60]}")
        else:
            viz.draw(root).save(out)
    except (ImportError, RuntimeError, OSError, ValueError) as err:
        print(f"chainrule graph: cannot write {out}: {str(err).splitlines()[0]}", file=sys.stderr)
        if isinstance(err, ImportError):
            print("  (install chainrule[viz] or Graphviz, or use --out graph.dot)", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0
