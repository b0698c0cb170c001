# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""mailops.smtp.refresher_code: the refresher's code installed in one call, only what differs.

Every file lives under tmp_path.
"""

from __future__ import annotations

import importlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.mailops.smtp.plugins.action import refresher_code as action
from ansible_collections.mailops.smtp.plugins.module_utils import _code_install


def mode_of(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


def test_the_file_list_is_the_collections_own_code():
    rels = [f["path"] for f in action.files(relay_helper=True)]
    assert rels[:5] == ["python/ansible_collections/__init__.py",
                        "python/ansible_collections/mailops/__init__.py",
                        "python/ansible_collections/mailops/smtp/__init__.py",
                        "python/ansible_collections/mailops/smtp/plugins/__init__.py",
                        "python/ansible_collections/mailops/smtp/plugins/module_utils/__init__.py"]
    assert "refresh-token" in rels and "relay-send" in rels
    assert "relay-send" not in [f["path"] for f in action.files(relay_helper=False)]
    by_path = {f["path"]: f["content"] for f in action.files(relay_helper=True)}
    oauth = importlib.import_module("ansible_collections.mailops.smtp.plugins.module_utils.oauth")
    assert by_path[action.PACKAGE + "/oauth.py"] == Path(oauth.__file__).read_text(encoding="utf-8")


def test_installs_then_changes_nothing(tmp_path):
    dest = tmp_path / "lib"
    files = action.files(relay_helper=True)
    written = _code_install.install(str(dest), files)
    assert sorted(written) == sorted(f["path"] for f in files)
    for f in files:
        p = dest / f["path"]
        assert p.read_text(encoding="utf-8") == f["content"]
        assert mode_of(p) == 0o644
    assert mode_of(dest / "python") == 0o755
    assert _code_install.install(str(dest), files) == []


def test_the_installed_refresher_imports_the_installed_client(tmp_path):
    dest = tmp_path / "lib"
    _code_install.install(str(dest), action.files(relay_helper=False))
    # A fresh interpreter, outside the collection's checkout, with only the installed copy on its path.
    code = ("import sys; sys.path[:0] = [sys.argv[1]]; "
            "from ansible_collections.mailops.smtp.plugins.module_utils import oauth; print(oauth.__file__)")
    out = subprocess.run([sys.executable, "-I", "-c", code, str(dest / "python")], capture_output=True,
                         text=True, check=True, cwd=str(tmp_path)).stdout
    assert out.strip().startswith(str(dest))


def test_a_changed_file_or_mode_is_written_again_alone(tmp_path):
    dest = tmp_path / "lib"
    files = action.files(relay_helper=False)
    _code_install.install(str(dest), files)
    (dest / "refresh-token").write_text("# edited by hand\n")
    oauth = dest / action.PACKAGE / "oauth.py"
    os.chmod(oauth, 0o600)
    assert sorted(_code_install.install(str(dest), files, check_mode=True)) == sorted(
        ["refresh-token", action.PACKAGE + "/oauth.py"])
    assert (dest / "refresh-token").read_text() == "# edited by hand\n", "check mode writes nothing"
    assert sorted(_code_install.install(str(dest), files)) == sorted(["refresh-token", action.PACKAGE + "/oauth.py"])
    assert mode_of(oauth) == 0o644
    assert _code_install.install(str(dest), files) == []


def test_check_mode_on_a_new_host_creates_nothing(tmp_path):
    dest = tmp_path / "lib"
    assert len(_code_install.install(str(dest), action.files(relay_helper=True), check_mode=True)) == 10
    assert not dest.exists()


@pytest.mark.parametrize("rel", ["../escape.py", "/abs.py", "a/./b.py", "a//b.py", ""])
def test_a_path_outside_dest_is_refused(tmp_path, rel):
    with pytest.raises(_code_install.CodeInstallError):
        _code_install.install(str(tmp_path), [{"path": rel, "content": "x", "mode": "0644"}])
    assert list(tmp_path.iterdir()) == []


def test_a_directory_in_a_files_place_is_refused(tmp_path):
    (tmp_path / "refresh-token").mkdir()
    with pytest.raises(_code_install.CodeInstallError, match="not a regular file"):
        _code_install.install(str(tmp_path), [{"path": "refresh-token", "content": "x", "mode": "0644"}])


def test_a_relative_dest_is_refused():
    with pytest.raises(_code_install.CodeInstallError, match="absolute"):
        _code_install.install("lib", [])
