# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""mailops.smtp.file_snapshot: a host's files saved and put back exactly (issue 21, §2.4).

Every file lives under tmp_path: no test reads or writes anything of the machine's own.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from ansible_collections.mailops.smtp.plugins.module_utils import _snapshot

SECRET = b"password = Old-pw-7d1e!\n"
# Bytes that a text round trip would change: a BOM, CRLF, a lone CR, no final newline, non-UTF-8.
ODD = b"\xef\xbb\xbfa = 1\r\nb = 2\rc = \xff\xfe\x00 tail"
ROOT = os.geteuid() == 0


def mode_of(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


def state_of(paths) -> dict:
    """Everything a restore must give back, per path: bytes, mode, owner, link target, or absent."""
    out = {}
    for p in paths:
        p = Path(p)
        if p.is_symlink():
            st = os.lstat(p)
            out[str(p)] = ("link", os.readlink(p), st.st_uid, st.st_gid)
        elif p.is_dir():
            st = os.stat(p)
            out[str(p)] = ("dir", sorted(os.listdir(p)), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
        elif p.exists():
            st = os.stat(p)
            out[str(p)] = ("file", p.read_bytes(), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
        else:
            out[str(p)] = ("absent",)
    return out


@pytest.fixture
def host(tmp_path):
    """A small host: an msmtprc (0600), a main.cf (0644) with odd bytes, an absent SASL map."""
    etc = tmp_path / "etc"
    (etc / "postfix").mkdir(parents=True)
    rc = etc / "msmtprc"
    rc.write_bytes(SECRET)
    rc.chmod(0o600)
    main = etc / "postfix" / "main.cf"
    main.write_bytes(ODD)
    main.chmod(0o644)
    return {"tmp": tmp_path, "rc": rc, "main": main, "map": etc / "postfix" / "sasl_passwd",
            "snap": tmp_path / "state" / "migrate" / "run-1"}


def test_save_creates_a_0700_directory_and_never_returns_content(host):
    result = _snapshot.save(str(host["snap"]), [str(host["rc"]), str(host["main"]), str(host["map"])], [])
    assert mode_of(host["snap"]) == 0o700
    assert mode_of(host["snap"].parent) == 0o700  # the missing parents too
    assert [f["kind"] for f in result["files"]] == ["file", "file", "absent"]
    assert result["files"][0]["mode"] == "0600" and result["files"][1]["mode"] == "0644"
    text = json.dumps(result) + (host["snap"] / _snapshot.INDEX).read_text()
    assert "Old-pw-7d1e" not in text, "the result and the index never hold content"
    for blob in (host["snap"] / _snapshot.BLOBS).iterdir():
        assert mode_of(blob) == 0o600


def test_restore_is_byte_exact_with_modes_and_removes_what_was_absent(host):
    paths = [host["rc"], host["main"], host["map"]]
    before = state_of(paths)
    _snapshot.save(str(host["snap"]), [str(p) for p in paths], [])
    # The change: new content, a new mode, a new file.
    host["rc"].write_bytes(b"auth xoauth2\n")
    host["main"].write_bytes(b"relayhost =\n")
    host["main"].chmod(0o600)
    host["map"].write_bytes(b"[smtp]:587 user:pw\n")
    result = _snapshot.restore(str(host["snap"]))
    assert result["changed"] and sorted(result["differed"]) == sorted(str(p) for p in paths)
    assert state_of(paths) == before
    assert host["main"].read_bytes() == ODD


def test_a_second_restore_is_a_no_op(host):
    _snapshot.save(str(host["snap"]), [str(host["rc"]), str(host["map"])], [])
    host["rc"].write_bytes(b"changed\n")
    host["map"].write_bytes(b"new\n")
    assert _snapshot.restore(str(host["snap"]))["changed"]
    again = _snapshot.restore(str(host["snap"]))
    assert again == {"changed": False, "path": str(host["snap"]), "differed": []}


def test_restore_of_an_untouched_host_changes_nothing(host):
    _snapshot.save(str(host["snap"]), [str(host["rc"]), str(host["map"])], [])
    inode = os.stat(host["rc"]).st_ino
    assert _snapshot.restore(str(host["snap"]))["differed"] == []
    assert os.stat(host["rc"]).st_ino == inode, "an equal file is not rewritten"


def test_a_mode_change_alone_is_put_back_in_place(host):
    _snapshot.save(str(host["snap"]), [str(host["rc"])], [])
    host["rc"].chmod(0o644)
    assert _snapshot.restore(str(host["snap"]))["differed"] == [str(host["rc"])]
    assert mode_of(host["rc"]) == 0o600 and host["rc"].read_bytes() == SECRET


@pytest.mark.skipif(not ROOT, reason="changing a file's owner needs root")
def test_owner_and_group_are_put_back(host):
    os.chown(host["rc"], 65534, 65534)
    _snapshot.save(str(host["snap"]), [str(host["rc"])], [])
    host["rc"].unlink()
    host["rc"].write_bytes(b"root's now\n")
    _snapshot.restore(str(host["snap"]))
    st = os.stat(host["rc"])
    assert (st.st_uid, st.st_gid, host["rc"].read_bytes()) == (65534, 65534, SECRET)


def test_check_mode_changes_nothing(host):
    assert _snapshot.save(str(host["snap"]), [str(host["rc"])], [], check_mode=True)["changed"]
    assert not host["snap"].exists()
    _snapshot.save(str(host["snap"]), [str(host["rc"]), str(host["map"])], [])
    host["map"].write_bytes(b"new\n")
    result = _snapshot.restore(str(host["snap"]), check_mode=True)
    assert result["differed"] == [str(host["map"])]
    assert host["map"].read_bytes() == b"new\n"
    assert _snapshot.remove(str(host["snap"]), check_mode=True)["changed"] and host["snap"].exists()


def test_absent_removes_the_snapshot_and_is_idempotent(host):
    _snapshot.save(str(host["snap"]), [str(host["rc"])], [])
    assert _snapshot.remove(str(host["snap"]))["changed"]
    assert not host["snap"].exists()
    assert not _snapshot.remove(str(host["snap"]))["changed"]


def test_missing_parents_of_an_absent_file_go_when_empty(host):
    token = host["tmp"] / "var" / "lib" / "mailops-smtp" / "mailops.token"
    _snapshot.save(str(host["snap"]), [str(token)], [])
    token.parent.mkdir(parents=True)
    token.write_bytes(b"eyJ...")
    assert _snapshot.restore(str(host["snap"]))["differed"] == [str(token)]
    assert not (host["tmp"] / "var").exists()


def test_a_tree_loses_what_appeared_and_gets_back_what_went(host):
    tree = host["tmp"] / "etc" / "mailops-smtp"
    tree.mkdir(mode=0o711)
    tree.chmod(0o711)
    old = tree / "relay.oauth.json"
    old.write_bytes(b'{"client_secret": "s1"}\n')
    old.chmod(0o600)
    (tree / "sub").mkdir()
    link = tree / "current"
    link.symlink_to("relay.oauth.json")
    before = state_of([tree, old, tree / "sub", link])
    _snapshot.save(str(host["snap"]), [], [str(tree)])
    old.unlink()
    (tree / "mailops.oauth.json").write_bytes(b"new secret")
    (tree / "new-dir" / "deep").mkdir(parents=True)
    (tree / "new-dir" / "deep" / "f").write_bytes(b"x")
    (tree / "sub").rmdir()
    tree.chmod(0o755)
    link.unlink()
    link.symlink_to("mailops.oauth.json")
    result = _snapshot.restore(str(host["snap"]))
    assert str(tree / "mailops.oauth.json") in result["differed"]
    assert state_of([tree, old, tree / "sub", link]) == before
    assert sorted(os.listdir(tree)) == ["current", "relay.oauth.json", "sub"]
    assert _snapshot.restore(str(host["snap"]))["differed"] == []


def test_a_tree_that_did_not_exist_goes_whole(host):
    tree = host["tmp"] / "usr" / "local" / "lib" / "mailops-smtp"
    _snapshot.save(str(host["snap"]), [], [str(tree)])
    (tree / "python").mkdir(parents=True)
    (tree / "refresh-token").write_bytes(b"#!")
    _snapshot.restore(str(host["snap"]))
    assert not tree.exists()


def test_a_link_is_saved_as_a_link_and_its_file_too(host):
    real = host["tmp"] / "etc" / "msmtprc.real"
    real.write_bytes(SECRET)
    real.chmod(0o600)
    link = host["tmp"] / "etc" / "msmtprc.link"
    link.symlink_to(real)
    result = _snapshot.save(str(host["snap"]), [str(link)], [])
    assert [(f["path"], f["kind"]) for f in result["files"]] == [(str(link), "link"), (str(real), "file")]
    real.write_bytes(b"written through the link\n")
    assert _snapshot.restore(str(host["snap"]))["differed"] == [str(real)]
    assert real.read_bytes() == SECRET and link.is_symlink()
    # A writer without follow replaces the link by a file: the link comes back.
    link.unlink()
    link.write_bytes(b"a file now")
    _snapshot.restore(str(host["snap"]))
    assert link.is_symlink() and os.readlink(link) == str(real)


@pytest.mark.parametrize("mode", [0o755, 0o750])
def test_an_existing_directory_of_another_mode_is_refused(host, mode):
    host["snap"].mkdir(parents=True, mode=mode)
    host["snap"].chmod(mode)
    for call in (lambda: _snapshot.save(str(host["snap"]), [str(host["rc"])], []),
                 lambda: _snapshot.restore(str(host["snap"])),
                 lambda: _snapshot.remove(str(host["snap"]))):
        with pytest.raises(_snapshot.SnapshotError, match="must be 0700"):
            call()


def test_a_symlinked_snapshot_directory_is_refused(host):
    target = host["tmp"] / "elsewhere"
    target.mkdir(mode=0o700)
    host["snap"].parent.mkdir(parents=True)
    host["snap"].symlink_to(target)
    with pytest.raises(_snapshot.SnapshotError, match="symbolic link"):
        _snapshot.save(str(host["snap"]), [str(host["rc"])], [])
    assert os.listdir(target) == []


@pytest.mark.skipif(not ROOT, reason="a directory of another owner needs root")
def test_a_directory_of_another_owner_is_refused(host):
    host["snap"].mkdir(parents=True, mode=0o700)
    os.chown(host["snap"], 65534, 65534)
    with pytest.raises(_snapshot.SnapshotError, match="belong to uid"):
        _snapshot.save(str(host["snap"]), [str(host["rc"])], [])


def test_a_snapshot_is_never_overwritten(host):
    _snapshot.save(str(host["snap"]), [str(host["rc"])], [])
    host["rc"].write_bytes(b"after the change\n")
    with pytest.raises(_snapshot.SnapshotError, match="already holds a snapshot"):
        _snapshot.save(str(host["snap"]), [str(host["rc"])], [])
    _snapshot.restore(str(host["snap"]))
    assert host["rc"].read_bytes() == SECRET


def test_restore_without_a_snapshot_says_so(host):
    with pytest.raises(_snapshot.SnapshotError, match="no snapshot"):
        _snapshot.restore(str(host["snap"]))
    host["snap"].mkdir(parents=True, mode=0o700)
    host["snap"].chmod(0o700)
    with pytest.raises(_snapshot.SnapshotError, match="incomplete"):
        _snapshot.restore(str(host["snap"]))


def test_refusals(host):
    with pytest.raises(_snapshot.SnapshotError, match="is a directory"):
        _snapshot.save(str(host["snap"]), [str(host["tmp"] / "etc")], [])
    with pytest.raises(_snapshot.SnapshotError, match="holds the snapshot directory"):
        _snapshot.save(str(host["snap"]), [], [str(host["tmp"] / "state")])
    with pytest.raises(_snapshot.SnapshotError, match="not an absolute path"):
        _snapshot.save(str(host["snap"]), ["etc/msmtprc"], [])
    fifo = host["tmp"] / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(_snapshot.SnapshotError, match="neither a file"):
        _snapshot.save(str(host["snap"]), [str(fifo)], [])
    assert not host["snap"].exists(), "a refused save creates nothing"


def test_absent_removes_the_parents_the_save_created_when_empty(host):
    # The state directory's parents did not exist: the move leaves no directory of its own behind.
    _snapshot.save(str(host["snap"]), [str(host["rc"])], [])
    assert _snapshot.remove(str(host["snap"]))["changed"]
    assert not (host["tmp"] / "state").exists()


def test_absent_keeps_parents_that_existed_or_are_in_use(host):
    (host["tmp"] / "state").mkdir()
    _snapshot.save(str(host["snap"]), [str(host["rc"])], [])
    # Something else was put beside the snapshot meanwhile (another run's snapshot, a token).
    (host["tmp"] / "state" / "migrate" / "run-2").mkdir()
    _snapshot.remove(str(host["snap"]))
    assert sorted(os.listdir(host["tmp"] / "state" / "migrate")) == ["run-2"]
    os.rmdir(host["tmp"] / "state" / "migrate" / "run-2")
    os.rmdir(host["tmp"] / "state" / "migrate")
    _snapshot.save(str(host["snap"]), [str(host["rc"])], [])
    _snapshot.remove(str(host["snap"]))
    assert (host["tmp"] / "state").is_dir() and not (host["tmp"] / "state" / "migrate").exists()


def test_absent_never_removes_a_directory_the_index_names_outside_the_snapshot(host, tmp_path):
    _snapshot.save(str(host["snap"]), [str(host["rc"])], [])
    index = host["snap"] / _snapshot.INDEX
    data = json.loads(index.read_text())
    other = tmp_path / "empty-but-not-ours"
    other.mkdir()
    data["made_dirs"] = [str(other)]
    index.write_text(json.dumps(data))
    _snapshot.remove(str(host["snap"]))
    assert other.is_dir() and not host["snap"].exists()
