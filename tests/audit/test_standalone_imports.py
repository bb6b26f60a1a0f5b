"""tools/verify_audit.py needs only the standard library and `cryptography`, so a customer can
run it with nothing of tenantry installed (the end-to-end tests run it against real edges)."""

from __future__ import annotations

import ast
import importlib.util
import sys
from types import ModuleType

import pytest

from .standalone import VERIFIER
from .test_merkle import CONSISTENCY, INCLUSION, LEAVES, ROOTS
from .test_note import PETER_SIG, PETER_VKEY, TEXT


def test_the_verifier_imports_only_the_standard_library_and_cryptography() -> None:
    tree = ast.parse(VERIFIER.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    outside = {name for name in imported if name not in sys.stdlib_module_names}
    assert outside == {"cryptography"}


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_audit", VERIFIER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_verifiers_own_merkle_code_meets_the_reference_vectors() -> None:
    tool = _tool()
    leaves = [tool.leaf_hash(leaf) for leaf in LEAVES]
    for n in range(1, 9):
        assert tool.merkle_root(leaves[:n]) == ROOTS[n - 1]
    for index, size, proof in INCLUSION:
        assert tool.verify_inclusion(leaves[index], index, size, proof, ROOTS[size - 1])
        assert not tool.verify_inclusion(leaves[index], index, size, proof, ROOTS[size - 2])
    for first, second, proof in CONSISTENCY:
        r1, r2 = ROOTS[first - 1], ROOTS[second - 1]
        assert tool.verify_consistency(first, second, r1, r2, proof)
        if proof:
            assert not tool.verify_consistency(first, second, r2, r1, proof)


def test_the_verifier_opens_the_published_signed_note() -> None:
    tool = _tool()
    name, key, raw = tool.parse_verifier_key(PETER_VKEY)
    note = TEXT + "\n" + PETER_SIG
    with pytest.raises(tool.Failed, match="checkpoint body"):
        tool.open_checkpoint(note, name, key, raw)  # verified, but it is no checkpoint
    with pytest.raises(tool.Failed, match="does not verify"):
        tool.open_checkpoint(note.replace("answer", "question"), name, key, raw)
