"""The atomic-write helper (audiospec.atomic): readable modes, nothing half-written, no temporary left."""

import os
import stat

import pytest

from audiospec.atomic import atomic_dir, atomic_path, atomic_write_text


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_path_writes_readable_file(tmp_path, umask_022):
    target = tmp_path / "a.txt"
    with atomic_path(target, suffix=".txt") as tmp:
        assert os.path.dirname(tmp) == str(tmp_path) and tmp.endswith(".txt")
        assert os.path.basename(tmp).startswith(".a.txt.tmp-")
        with open(tmp, "w") as f:
            f.write("new")
        os.chmod(tmp, 0o600)  # as tempfile.mkstemp would leave it
        assert not target.exists()
    assert target.read_text() == "new" and mode(target) == 0o644
    assert os.listdir(tmp_path) == ["a.txt"]


def test_atomic_path_failure_keeps_the_old_file(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        with open(tmp, "w") as f:
            f.write("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["a.txt"]


def test_atomic_dir_replaces_a_folder_whole(tmp_path, umask_022):
    target = tmp_path / "out"
    target.mkdir()
    (target / "stale").write_text("x")
    with atomic_dir(target) as tmp:
        os.makedirs(os.path.join(tmp, "sub"), mode=0o700)
        with open(os.path.join(tmp, "sub", "f"), "w") as f:
            f.write("y")
        os.chmod(os.path.join(tmp, "sub", "f"), 0o600)
    assert sorted(os.listdir(target)) == ["sub"] and (target / "sub" / "f").read_text() == "y"
    assert mode(target) == 0o755 and mode(target / "sub") == 0o755 and mode(target / "sub" / "f") == 0o644
    assert os.listdir(tmp_path) == ["out"]


def test_atomic_dir_failure_keeps_the_old_folder(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old").write_text("x")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        open(os.path.join(tmp, "new"), "w").close()
        raise RuntimeError("killed")
    assert os.listdir(target) == ["old"] and os.listdir(tmp_path) == ["out"]
