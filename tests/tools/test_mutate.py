"""The mutation tool: which mutants a source gives, their ids, and the equivalents file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.mutate import MODULES, ROOT, ToolError, read_equivalents
from tools.mutate_ops import apply, mutants_of

SOURCE = '''"""A module docstring is not mutated."""
LIMIT: int = 10


def ceil_div(a: int, b: int) -> int:
    """Nor is a function's."""
    return -(-a // b)


def check(x: int, y: int) -> bool:
    if x < y and not x:
        raise ValueError("x")
    print(f"{x + 1}")  # an f-string's inside is a message
    return x <= 2
'''


def mutated(mutant_id: str) -> str:
    (mutant,) = [m for m in mutants_of(SOURCE, "m") if m.id == mutant_id]
    return apply(SOURCE, mutant)


def test_ids_name_the_line_the_column_and_the_operator() -> None:
    """Ids are ``module:line:column:operator``, the column that of the operator token for a
    comparison or a boolean operator, in source order."""
    ids = [m.id for m in mutants_of(SOURCE, "m")]
    assert ids == [
        "m:2:13:const+1", "m:2:13:const-1", "m:2:13:const=0",
        "m:7:4:del-return", "m:7:11:CeilDiv_to_FloorDiv", "m:7:11:del-neg",
        "m:7:13:del-neg", "m:7:16:FloorDiv_to_Div", "m:7:16:FloorDiv_to_Mult",
        "m:11:7:negate", "m:11:9:Lt_to_LtE", "m:11:13:And_to_Or", "m:11:17:del-not",
        "m:12:8:del-raise", "m:13:4:del-call", "m:14:4:del-return", "m:14:13:LtE_to_Lt",
        "m:14:16:const+1", "m:14:16:const-1", "m:14:16:const=0",
    ]  # fmt: skip
    assert ids == [m.id for m in mutants_of(SOURCE, "m")]  # the same every time


def test_mutants_change_one_place() -> None:
    assert "return (a // b)" in mutated("m:7:11:CeilDiv_to_FloorDiv")
    assert "if (x <= y) and not x:" in mutated("m:11:9:Lt_to_LtE")
    assert "        pass\n" in mutated("m:12:8:del-raise")
    assert "LIMIT: int = (11)" in mutated("m:2:13:const+1")
    assert "if (not (x < y and (not x))):" in mutated("m:11:7:negate")


def test_every_mutant_compiles_and_differs() -> None:
    for table in MODULES:
        source = (ROOT / "src" / "costcap" / table.path).read_text(encoding="utf-8")
        mutants = mutants_of(source, table.name)
        texts = {apply(source, m) for m in mutants}
        assert source not in texts
        assert len(texts) == len(mutants)
        for text in texts:
            compile(text, table.path, "exec")


def test_equivalents_need_a_reason(tmp_path: Path) -> None:
    listed = tmp_path / "equivalents.txt"
    listed.write_text("# comment\n\nm:1:0:const+1 why it cannot matter\n", encoding="utf-8")
    assert read_equivalents(listed) == {"m:1:0:const+1": "why it cannot matter"}
    listed.write_text("m:1:0:const+1\n", encoding="utf-8")
    with pytest.raises(ToolError, match="needs a reason"):
        read_equivalents(listed)


def test_the_equivalents_file_reads() -> None:
    """Every entry names a module of the table."""
    names = {t.name for t in MODULES}
    assert {i.split(":")[0] for i in read_equivalents()} <= names
