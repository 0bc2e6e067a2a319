"""Atomic writes: the old file or the whole new one, never a torn file or a stray temporary."""

import pytest

from dla_cnn.atomic import atomic_path, write_text_atomic


def test_atomic_path_replaces_on_success_and_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "sub" / "catalog.fits"
    write_text_atomic(target, "old")
    assert target.read_text() == "old"
    with pytest.raises(RuntimeError):
        with atomic_path(target, ".fits") as tmp:
            assert tmp.parent == target.parent and tmp.name.endswith(".fits") and tmp.name.startswith(".")
            tmp.write_text("half")
            raise RuntimeError("writer died")
    assert target.read_text() == "old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["catalog.fits"]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
        assert target.read_text() == "old"  # not visible before the block ends
    assert target.read_text() == "new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["catalog.fits"]
