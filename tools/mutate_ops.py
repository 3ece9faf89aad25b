"""The mutants of one Python module: small deliberate bugs, each with a stable id.

A mutant id is ``<module>:<line>:<column>:<operator>``, with no shell metacharacters: the line
and column (1-based line, 0-based column in characters) of the operator token for a binary,
comparison or boolean operator, else of the node changed. The same source always gives the same
mutants in the same order, so the results of two runs compare id by id. The operators:

* ``Add_to_Sub``, ``Sub_to_Add``, ``Mult_to_Div``, ``Div_to_Mult``, ``FloorDiv_to_Mult``,
  ``FloorDiv_to_Div``, ``Mod_to_FloorDiv``, ``Pow_to_Mult`` (also in ``x += y``);
* ``FloorDiv_to_CeilDiv`` (``a // b`` → ``-(-a // b)``) and ``CeilDiv_to_FloorDiv``;
* ``Lt_to_LtE``, ``LtE_to_Lt``, ``Gt_to_GtE``, ``GtE_to_Gt``, ``Eq_to_NotEq``, ``NotEq_to_Eq``,
  ``In_to_NotIn``, ``NotIn_to_In``, ``Is_to_IsNot``, ``IsNot_to_Is``; ``And_to_Or``,
  ``Or_to_And``;
* ``negate`` (an ``if``/``while``/conditional expression/comprehension condition becomes
  ``not (…)``), ``del-not`` (``not x`` → ``x``), ``del-neg`` (``-x`` → ``x``);
* ``const+1``, ``const-1``, ``const=0`` for numbers, ``True_to_False`` and ``False_to_True``;
* name swaps: ``ceil_to_floor``, ``max_to_min``, ``any_to_all`` and back, and the rounding
  modes ``ROUND_CEILING_to_ROUND_FLOOR``, ``ROUND_UP_to_ROUND_DOWN``,
  ``ROUND_HALF_UP_to_ROUND_HALF_EVEN`` and back;
* ``del-raise``, ``del-return``, ``del-call`` (a call made as a statement), ``del-break``,
  ``del-continue``: the statement becomes ``pass``.

Only function bodies, function defaults and module-level assignments are mutated: not
docstrings, annotations, decorators, class-level field declarations, f-strings (messages) or
``__all__``. A mutant that does not compile, or that reads the same as another one, is dropped.
"""

from __future__ import annotations

import ast
import copy
import io
import tokenize
from dataclasses import dataclass, replace

__all__ = ["Mutant", "apply", "mutants_of"]

_BINOPS: dict[type[ast.operator], tuple[type[ast.operator], ...]] = {
    ast.Add: (ast.Sub,),
    ast.Sub: (ast.Add,),
    ast.Mult: (ast.Div,),
    ast.Div: (ast.Mult,),
    ast.FloorDiv: (ast.Mult, ast.Div),
    ast.Mod: (ast.FloorDiv,),
    ast.Pow: (ast.Mult,),
}
_OP_TOKENS = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
    ast.Mod: "%", ast.Pow: "**", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.Eq: "==", ast.NotEq: "!=", ast.In: "in", ast.NotIn: "not", ast.Is: "is",
    ast.IsNot: "is", ast.And: "and", ast.Or: "or",
}  # fmt: skip
_CMPOPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
# name → (replacement name, module to import it from when the module lacks it)
_SWAPS = {
    "ceil": ("floor", "math"),
    "floor": ("ceil", "math"),
    "max": ("min", None),
    "min": ("max", None),
    "any": ("all", None),
    "all": ("any", None),
    "ROUND_CEILING": ("ROUND_FLOOR", "decimal"),
    "ROUND_FLOOR": ("ROUND_CEILING", "decimal"),
    "ROUND_UP": ("ROUND_DOWN", "decimal"),
    "ROUND_DOWN": ("ROUND_UP", "decimal"),
    "ROUND_HALF_UP": ("ROUND_HALF_EVEN", "decimal"),
    "ROUND_HALF_EVEN": ("ROUND_HALF_UP", "decimal"),
}
_DELETED = {
    ast.Raise: "del-raise",
    ast.Return: "del-return",
    ast.Break: "del-break",
    ast.Continue: "del-continue",
}


@dataclass(frozen=True, slots=True)
class Mutant:
    id: str
    line: int
    start: tuple[int, int]  # (line, byte column) of the source replaced
    end: tuple[int, int]
    replacement: str

    @property
    def operator(self) -> str:
        return self.id.rsplit(":", 1)[1]


def apply(source: str, mutant: Mutant) -> str:
    """``source`` with the mutant's span replaced."""
    lines = source.encode().splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    raw = source.encode()
    start = offsets[mutant.start[0] - 1] + mutant.start[1]
    end = offsets[mutant.end[0] - 1] + mutant.end[1]
    return (raw[:start] + mutant.replacement.encode() + raw[end:]).decode()


def mutants_of(source: str, module: str) -> list[Mutant]:
    """Every mutant of ``source`` (a module called ``module`` in the ids), in source order."""
    finder = _Finder(source, module)
    finder.visit_module(ast.parse(source))
    seen = {source}
    found: list[Mutant] = []
    ids: dict[str, int] = {}
    for candidate in sorted(finder.found, key=_order):
        mutated = apply(source, candidate)
        if mutated in seen:
            continue
        try:
            compile(mutated, module, "exec", dont_inherit=True)
        except SyntaxError:
            continue
        seen.add(mutated)
        count = ids[candidate.id] = ids.get(candidate.id, 0) + 1
        if count > 1:  # two changes at one place with one operator name
            candidate = replace(candidate, id=f"{candidate.id}#{count}")  # noqa: PLW2901
        found.append(candidate)
    return found


def _order(mutant: Mutant) -> tuple[int, int, str]:
    _, line, col, operator = mutant.id.split(":")
    return int(line), int(col), operator


class _Finder:
    def __init__(self, source: str, module: str) -> None:
        self.module = module
        self.lines = source.encode().splitlines()
        self.tokens = [
            (tok.start, tok.string)
            for tok in tokenize.generate_tokens(io.StringIO(source).readline)
            if tok.type in (tokenize.OP, tokenize.NAME)
        ]
        self.found: list[Mutant] = []

    def char_col(self, line: int, byte_col: int) -> int:
        return len(self.lines[line - 1][:byte_col].decode())

    def token_after(self, node: ast.expr, text: str) -> tuple[int, int]:
        """(line, char column) of the first ``text`` token after ``node``."""
        assert node.end_lineno is not None
        assert node.end_col_offset is not None
        after = (node.end_lineno, self.char_col(node.end_lineno, node.end_col_offset))
        return next(pos for pos, string in self.tokens if pos >= after and string == text)

    def add(
        self,
        node: ast.expr | ast.stmt,
        operator: str,
        replacement: str,
        at: tuple[int, int] | None = None,
    ) -> None:
        line, col = at or (node.lineno, self.char_col(node.lineno, node.col_offset))
        assert node.end_lineno is not None
        assert node.end_col_offset is not None
        start, end = (node.lineno, node.col_offset), (node.end_lineno, node.end_col_offset)
        mutant_id = f"{self.module}:{line}:{col}:{operator}"
        self.found.append(Mutant(mutant_id, line, start, end, replacement))

    def expr(
        self, node: ast.expr, operator: str, new: ast.expr, at: tuple[int, int] | None = None
    ) -> None:
        self.add(node, operator, f"({ast.unparse(new)})", at)

    def negate(self, test: ast.expr) -> None:
        if not (isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)):  # del-not does
            self.expr(test, "negate", ast.UnaryOp(ast.Not(), test))

    # -- what is visited

    def visit_module(self, tree: ast.Module) -> None:
        for stmt in tree.body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                self.function(stmt)
            elif isinstance(stmt, ast.ClassDef):
                for item in stmt.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        self.function(item)
            elif isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None:
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                if not any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                    self.walk(stmt.value)

    def function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for default in (*node.args.defaults, *node.args.kw_defaults):
            if default is not None:
                self.walk(default)
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]  # the docstring
        for stmt in body:
            self.walk(stmt)

    def walk(self, node: ast.AST) -> None:
        if isinstance(node, ast.JoinedStr):
            return
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            self.function(node)
            return
        if isinstance(node, ast.AnnAssign):
            if node.value is not None:
                self.walk(node.value)
            return
        self.mutate(node)
        for child in ast.iter_child_nodes(node):
            self.walk(child)

    def mutate(self, node: ast.AST) -> None:
        if isinstance(node, ast.stmt):
            self.statement(node)
        if isinstance(node, ast.BinOp):
            self.binop(node)
        elif isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                swapped = _CMPOPS.get(type(op))
                if swapped is not None:
                    new = copy.deepcopy(node)
                    new.ops[i] = swapped()
                    left = node.left if i == 0 else node.comparators[i - 1]
                    at = self.token_after(left, _OP_TOKENS[type(op)])
                    self.expr(node, f"{type(op).__name__}_to_{swapped.__name__}", new, at)
        elif isinstance(node, ast.BoolOp):
            other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
            new_bool = ast.BoolOp(op=other, values=node.values)
            at = self.token_after(node.values[0], _OP_TOKENS[type(node.op)])
            self.expr(node, f"{type(node.op).__name__}_to_{type(other).__name__}", new_bool, at)
        elif isinstance(node, ast.UnaryOp):
            self.unary(node)
        elif isinstance(node, ast.Constant):
            self.constant(node)
        elif isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Load):
            self.swap(node)
        elif isinstance(node, ast.IfExp):
            self.negate(node.test)
        elif isinstance(node, ast.comprehension):
            for test in node.ifs:
                self.negate(test)

    def statement(self, node: ast.stmt) -> None:
        deleted = _DELETED.get(type(node))
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            deleted = "del-call"
        if deleted is not None:
            self.add(node, deleted, "pass")
        if isinstance(node, ast.If | ast.While):
            self.negate(node.test)
        if isinstance(node, ast.AugAssign):
            for swapped in _BINOPS.get(type(node.op), ()):
                new = copy.deepcopy(node)
                new.op = swapped()
                at = self.token_after(node.target, _OP_TOKENS[type(node.op)] + "=")
                # the whole statement is replaced, as ``x -= y`` is no expression
                name = f"{type(node.op).__name__}_to_{swapped.__name__}"
                self.add(node, name, ast.unparse(new), at)

    def binop(self, node: ast.BinOp) -> None:
        if type(node.op) not in _BINOPS:
            return  # bitwise operators: only type unions (``str | int``) here
        at = self.token_after(node.left, _OP_TOKENS[type(node.op)])
        for swapped in _BINOPS[type(node.op)]:
            new = ast.BinOp(node.left, swapped(), node.right)
            self.expr(node, f"{type(node.op).__name__}_to_{swapped.__name__}", new, at)
        if isinstance(node.op, ast.FloorDiv) and not _is_neg(node.left):
            ceil = ast.UnaryOp(ast.USub(), ast.BinOp(ast.UnaryOp(ast.USub(), node.left),
                                                     ast.FloorDiv(), node.right))  # fmt: skip
            self.expr(node, "FloorDiv_to_CeilDiv", ceil, at)

    def unary(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, ast.Not):
            self.expr(node, "del-not", node.operand)
        elif isinstance(node.op, ast.USub):
            self.expr(node, "del-neg", node.operand)
            inner = node.operand  # -(-a // b) is ceil(a / b)
            if isinstance(inner, ast.BinOp) and isinstance(inner.op, ast.FloorDiv):
                left = inner.left
                if isinstance(left, ast.UnaryOp) and isinstance(left.op, ast.USub):
                    floor = ast.BinOp(left.operand, ast.FloorDiv(), inner.right)
                    self.expr(node, "CeilDiv_to_FloorDiv", floor)

    def constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, bool):
            self.expr(node, f"{value}_to_{not value}", ast.Constant(not value))
        elif isinstance(value, int | float):
            for operator, new in (("const+1", value + 1), ("const-1", value - 1), ("const=0", 0)):
                if new != value:
                    self.expr(node, operator, ast.Constant(new))

    def swap(self, node: ast.Name | ast.Attribute) -> None:
        name = node.id if isinstance(node, ast.Name) else node.attr
        swap = _SWAPS.get(name)
        if swap is None:
            return
        new_name, home = swap
        new: ast.expr
        if isinstance(node, ast.Attribute):
            new = ast.Attribute(node.value, new_name, ast.Load())
        elif home is None:
            new = ast.Name(new_name, ast.Load())
        else:  # the module may not import the other name: fetch it from its home
            home_module = ast.Call(ast.Name("__import__", ast.Load()), [ast.Constant(home)], [])
            new = ast.Attribute(home_module, new_name, ast.Load())
        self.expr(node, f"{name}_to_{new_name}", new)


def _is_neg(node: ast.expr) -> bool:
    return isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
