# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A host's files saved before a change and put back exactly after a failed one.

Internal use only (mailops.smtp.file_snapshot). The snapshot is a directory of mode 0700 that
holds one copy per saved file (0600) and an index (paths, kinds, modes, owners, link targets;
never content). What is recorded for each path:

- a regular file: its bytes, mode, uid and gid;
- a symbolic link: the link itself (target, uid, gid) and, when the link resolves to a regular
  file or to nothing, that file too (a writer with follow writes the file a link points to);
- an absent path: that it was absent, and which of its parent directories were absent as well,
  so that a restore removes the file and then those directories, when they are empty;
- a tree (a directory the change owns whole): every directory, file and link under it; a restore
  also removes what appeared in it since, or the whole tree when it did not exist.

A restore writes each file atomically (a candidate beside it, renamed over it, under the
directory lock every mailops.smtp writer takes) and touches only what differs, so a second
restore changes nothing. Timestamps are not restored.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import shutil
import stat

from ansible_collections.mailops.smtp.plugins.module_utils import _atomic

INDEX = "index.json"
BLOBS = "files"
DIR_MODE = 0o700
FORMAT = 1


class SnapshotError(Exception):
    """The snapshot could not be made, read or put back; the message says what to do."""


# ---- the snapshot directory ------------------------------------------------------------------------

def check_dir(path):
    """'absent' or 'present' for the snapshot directory; anything not ours is refused."""
    try:
        st = os.lstat(path)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return "absent"
        raise SnapshotError("cannot inspect %s: %s (become: true?)" % (path, e.strerror))
    if stat.S_ISLNK(st.st_mode):
        raise SnapshotError("%s is a symbolic link; a snapshot holds passwords and is never kept through a "
                            "link. Remove the link, then run again." % path)
    if not stat.S_ISDIR(st.st_mode):
        raise SnapshotError("%s exists and is not a directory; move it away, then run again." % path)
    if stat.S_IMODE(st.st_mode) != DIR_MODE or st.st_uid != os.geteuid():
        raise SnapshotError("%s exists with mode %04o and owner uid %d; a snapshot directory must be 0700 and "
                            "belong to uid %d. Look at what is in it, remove it, then run again."
                            % (path, stat.S_IMODE(st.st_mode), st.st_uid, os.geteuid()))
    return "present"


def _make_dirs(path):
    """Create path and its missing parents with mode 0700 (umask aside)."""
    missing = []
    d = path
    while not os.path.lexists(d):
        missing.append(d)
        d = os.path.dirname(d)
    for d in reversed(missing):
        try:
            os.mkdir(d, DIR_MODE)
            os.chmod(d, DIR_MODE)
        except OSError as e:
            raise SnapshotError("cannot create %s: %s (become: true?)" % (d, e.strerror))


# ---- recording ---------------------------------------------------------------------------------------

def _missing_parents(path):
    """The parent directories of path that do not exist, deepest first."""
    out = []
    d = os.path.dirname(path)
    while d not in ("/", "") and not os.path.lexists(d):
        out.append(d)
        d = os.path.dirname(d)
    return out


def _kind(st):
    for test, word in ((stat.S_ISREG, "file"), (stat.S_ISLNK, "link"), (stat.S_ISDIR, "directory")):
        if test(st.st_mode):
            return word
    return None


def record(path):
    """What path is now: an entry of the index, without the content."""
    try:
        st = os.lstat(path)
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise SnapshotError("cannot inspect %s: %s (become: true?)" % (path, e.strerror))
        return {"path": path, "kind": "absent", "missing_dirs": _missing_parents(path)}
    kind = _kind(st)
    if kind is None:
        raise SnapshotError("%s is neither a file, a link nor a directory; mailops.smtp never writes such a "
                            "thing there. Look at it, then run again." % path)
    entry = {"path": path, "kind": kind, "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}
    if kind == "link":
        entry["target"] = os.readlink(path)
    return entry


def _walk(top):
    """Every path under the directory top (not following links), parents before children."""
    out = []
    for root, dirs, files in os.walk(top, followlinks=False):
        dirs.sort()
        for name in dirs + sorted(files):
            out.append(os.path.join(root, name))
    return out


def _inside(path, top):
    return path == top or path.startswith(top.rstrip("/") + "/")


def collect(files, trees, snapshot_dir):
    """The entries to save, in order, each path once: the trees' contents, then the files (and link targets)."""
    entries, seen = [], set()

    def add(entry):
        if entry["path"] not in seen:
            seen.add(entry["path"])
            entries.append(entry)

    for path in list(trees or []) + list(files or []):
        if not os.path.isabs(path):
            raise SnapshotError("%s is not an absolute path" % path)
    for top in trees or []:
        top = os.path.normpath(top)
        if _inside(snapshot_dir, top):
            raise SnapshotError("the tree %s holds the snapshot directory %s; choose a snapshot directory outside "
                                "it" % (top, snapshot_dir))
        entry = record(top)
        if entry["kind"] not in ("absent", "directory"):
            raise SnapshotError("the tree %s is not a directory; give it as a file instead" % top)
        entry["tree"] = True
        add(entry)
        if entry["kind"] == "directory":
            for p in _walk(top):
                add(record(p))
    for path in files or []:
        path = os.path.normpath(path)
        if _inside(path, snapshot_dir):
            raise SnapshotError("%s is inside the snapshot directory %s" % (path, snapshot_dir))
        entry = record(path)
        if entry["kind"] == "directory":
            raise SnapshotError("%s is a directory; give it in trees to save what it holds" % path)
        add(entry)
        if entry["kind"] == "link":
            real = os.path.realpath(path)
            if real != path:
                target = record(real)
                if target["kind"] in ("absent", "file"):
                    add(target)
    return entries


def public(entry):
    """An entry as the module returns it: what the path was, never what it held."""
    out = {"path": entry["path"], "kind": entry["kind"]}
    if "mode" in entry:
        out["mode"] = "%04o" % entry["mode"]
        out["uid"] = entry["uid"]
        out["gid"] = entry["gid"]
    if entry.get("target") is not None:
        out["target"] = entry["target"]
    return out


def _copy_blob(src, dest):
    """Copy the bytes of src to dest (created 0600, never through a link)."""
    try:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        raise SnapshotError("cannot write %s: %s" % (dest, e.strerror))
    try:
        with os.fdopen(fd, "wb") as out:
            with open(src, "rb") as f:
                shutil.copyfileobj(f, out)
            out.flush()
            os.fsync(out.fileno())
    except (IOError, OSError) as e:
        raise SnapshotError("cannot copy %s into the snapshot: %s (become: true?); nothing was changed"
                            % (src, e.strerror or e))


def _write_json(path, data):
    d = os.path.dirname(path)
    with _atomic.DirLock(d):
        tmp = _atomic.stage(path, json.dumps(data, indent=1, sort_keys=True).encode("utf-8"), 0o600,
                            os.geteuid(), os.getegid())
        _atomic.commit(tmp, path)


def save(snapshot_dir, files, trees, check_mode=False):
    """Save the files and trees into snapshot_dir (created 0700); returns the module's result."""
    snapshot_dir = os.path.normpath(snapshot_dir)
    present = check_dir(snapshot_dir) == "present"
    if present and os.listdir(snapshot_dir):
        raise SnapshotError("%s already holds a snapshot (or part of one); it may be the only copy of the files "
                            "before an earlier change. Restore it (state: restored) or remove it (state: absent), "
                            "then run again." % snapshot_dir)
    entries = collect(files, trees, snapshot_dir)
    result = {"changed": True, "path": snapshot_dir, "files": [public(e) for e in entries]}
    if check_mode:
        return result
    # The parents this save creates go again with the snapshot (remove), so that a move leaves no directory
    # of its own behind; those that existed stay.
    made = [] if present else _missing_parents(snapshot_dir)
    if not present:
        _make_dirs(snapshot_dir)
    blobs = os.path.join(snapshot_dir, BLOBS)
    _make_dirs(blobs)
    for n, entry in enumerate(entries):
        if entry["kind"] == "file":
            entry["blob"] = "%d" % n
            _copy_blob(entry["path"], os.path.join(blobs, entry["blob"]))
            # The file may have changed while it was copied: the recorded attributes are those after the copy.
            entry.update(dict((k, v) for k, v in record(entry["path"]).items() if k in ("mode", "uid", "gid")))
    _write_json(os.path.join(snapshot_dir, INDEX), {"format": FORMAT, "entries": entries, "made_dirs": made})
    return result


# ---- putting back --------------------------------------------------------------------------------------

def load(snapshot_dir):
    snapshot_dir = os.path.normpath(snapshot_dir)
    if check_dir(snapshot_dir) == "absent":
        raise SnapshotError("there is no snapshot in %s: nothing can be restored from it. The files are as the "
                            "change left them; put them back from your own backups." % snapshot_dir)
    try:
        with open(os.path.join(snapshot_dir, INDEX)) as f:
            data = json.load(f)
    except (IOError, OSError, ValueError) as e:
        raise SnapshotError("the snapshot in %s is incomplete (%s): it was never finished, so the change that "
                            "should have followed it did not start. Remove it (state: absent)."
                            % (snapshot_dir, getattr(e, "strerror", None) or e))
    if data.get("format") != FORMAT:
        raise SnapshotError("the snapshot in %s has format %r, not %d; restore it with the mailops.smtp release "
                            "that made it" % (snapshot_dir, data.get("format"), FORMAT))
    return data["entries"]


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _file_differs(entry, data):
    now = record(entry["path"])
    if now["kind"] != "file":
        return True
    if (now["mode"], now["uid"], now["gid"]) != (entry["mode"], entry["uid"], entry["gid"]):
        return True
    return _read(entry["path"]) != data


def _put_file(entry, data):
    path = entry["path"]
    now = record(path)
    if now["kind"] == "directory":
        raise SnapshotError("%s was a file and is now a directory; move the directory away, then restore "
                            "again" % path)
    with _atomic.DirLock(os.path.dirname(path)):
        if now["kind"] == "file" and _read(path) == data:
            # Same bytes: only the owner or mode differ.
            _atomic.apply_attrs(path, entry["mode"], entry["uid"], entry["gid"])
            return
        tmp = _atomic.stage(path, data, entry["mode"], entry["uid"], entry["gid"])
        try:
            _atomic.commit(tmp, path)
        except OSError as e:
            _atomic.discard(tmp)
            raise SnapshotError("cannot put %s back: %s" % (path, e.strerror))


def _link_differs(entry):
    now = record(entry["path"])
    return now["kind"] != "link" or now["target"] != entry["target"] or (now["uid"], now["gid"]) != (
        entry["uid"], entry["gid"])


def _put_link(entry):
    path = entry["path"]
    if record(path)["kind"] == "directory":
        raise SnapshotError("%s was a link and is now a directory; move the directory away, then restore "
                            "again" % path)
    d, base = os.path.split(path)
    tmp = os.path.join(d, "%s%s.p%d.%s" % (_atomic.TMP_PREFIX, base, os.getpid(), os.urandom(6).hex()))
    with _atomic.DirLock(d):
        os.symlink(entry["target"], tmp)
        try:
            os.lchown(tmp, entry["uid"], entry["gid"])
            _atomic.commit(tmp, path)
        except OSError as e:
            _atomic.discard(tmp)
            raise SnapshotError("cannot put the link %s back: %s" % (path, e.strerror))


def _dir_differs(entry):
    now = record(entry["path"])
    return now["kind"] != "directory" or (now["mode"], now["uid"], now["gid"]) != (
        entry["mode"], entry["uid"], entry["gid"])


def _put_dir(entry):
    path = entry["path"]
    now = record(path)
    if now["kind"] in ("file", "link"):
        raise SnapshotError("%s was a directory and is now a %s; move it away, then restore again"
                            % (path, now["kind"]))
    if now["kind"] == "absent":
        os.mkdir(path, 0o700)
    os.chown(path, entry["uid"], entry["gid"])
    os.chmod(path, entry["mode"])


def _remove_path(path):
    """Remove a file, link or (a whole) directory; True when something was there."""
    kind = record(path)["kind"]
    if kind == "absent":
        return False
    if kind == "directory":
        shutil.rmtree(path)
    else:
        _atomic.remove(path)
    return True


def _remove_empty_dirs(dirs):
    """rmdir each directory (deepest first) that is there and empty; the ones removed."""
    out = []
    for d in dirs:
        try:
            os.rmdir(d)
            out.append(d)
        except OSError as e:
            if e.errno not in (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST):
                raise SnapshotError("cannot remove the directory %s: %s" % (d, e.strerror))
    return out


def _new_in_trees(entries):
    """What appeared in the saved trees since the snapshot, deepest first (absent trees go whole)."""
    known = set(e["path"] for e in entries)
    out = []
    for e in entries:
        if e.get("tree") and e["kind"] == "directory" and os.path.isdir(e["path"]) \
                and not os.path.islink(e["path"]):
            out.extend(p for p in _walk(e["path"]) if p not in known)
    return sorted(out, key=lambda p: p.count("/"), reverse=True)


def _differs(entry, blobs):
    kind = entry["kind"]
    if kind == "file":
        return _file_differs(entry, _read(os.path.join(blobs, entry["blob"])))
    if kind == "link":
        return _link_differs(entry)
    if kind == "directory":
        return _dir_differs(entry)
    return os.path.lexists(entry["path"])


def _put(entry, blobs):
    kind = entry["kind"]
    if kind == "file":
        _put_file(entry, _read(os.path.join(blobs, entry["blob"])))
    elif kind == "link":
        _put_link(entry)
    elif kind == "directory":
        _put_dir(entry)
    else:
        _remove_path(entry["path"])


def restore(snapshot_dir, check_mode=False):
    """Put every saved path back as it was; returns the module's result with the paths that differed."""
    snapshot_dir = os.path.normpath(snapshot_dir)
    entries = load(snapshot_dir)
    blobs = os.path.join(snapshot_dir, BLOBS)
    differed = [e["path"] for e in entries if _differs(e, blobs)]
    new = _new_in_trees(entries)
    result = {"changed": bool(differed or new), "path": snapshot_dir, "differed": differed + new}
    if check_mode:
        return result
    try:
        # New things first (they may stand where a saved file goes), then the saved paths, parents
        # before children, then the directories that were absent and are empty now.
        for p in new:
            _remove_path(p)
        for e in entries:
            if e["path"] in differed:
                _put(e, blobs)
        missing = [d for e in entries if e["kind"] == "absent" for d in e.get("missing_dirs") or []]
        _remove_empty_dirs(sorted(set(missing), key=lambda p: p.count("/"), reverse=True))
    except _atomic.AtomicError as e:
        raise SnapshotError(str(e))
    except (IOError, OSError) as e:
        raise SnapshotError("restoring failed at %s: %s; the snapshot in %s is kept. Fix the cause and restore "
                            "again." % (getattr(e, "filename", None) or "a file", e.strerror or e, snapshot_dir))
    return result


def remove(snapshot_dir, check_mode=False):
    """Delete the snapshot directory (it holds old passwords); returns the module's result."""
    snapshot_dir = os.path.normpath(snapshot_dir)
    if check_dir(snapshot_dir) == "absent":
        return {"changed": False, "path": snapshot_dir}
    if not check_mode:
        made = _made_dirs(snapshot_dir)
        try:
            shutil.rmtree(snapshot_dir)
        except OSError as e:
            raise SnapshotError("cannot remove %s: %s; it holds old passwords, remove it yourself"
                                % (snapshot_dir, e.strerror))
        _remove_empty_dirs(made)
    return {"changed": True, "path": snapshot_dir}


def _made_dirs(snapshot_dir):
    """The parents of snapshot_dir that its save created (deepest first); none when the index is unreadable."""
    try:
        with open(os.path.join(snapshot_dir, INDEX)) as f:
            made = json.load(f).get("made_dirs") or []
    except (IOError, OSError, ValueError, AttributeError):
        return []
    # Only ancestors of the snapshot directory: the index is never a way to remove anything else.
    return [d for d in made if isinstance(d, str) and d != snapshot_dir and _inside(snapshot_dir, d)]
