# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Atomic replacement of a file that may hold a secret.

Internal use only. A candidate is written beside the target (same filesystem,
so rename is atomic) under a fixed prefix, fsynced, optionally validated, then
renamed over the target and the directory fsynced. A run killed at any point
leaves either the old or the new file; its candidates carry the fixed prefix and
the writer's PID, so a later run removes them once that writer is gone.

Writers of one directory take an advisory flock on the directory itself (no
lock file appears beside the config) and hold it from the read to the rename,
so two runs that change different keys of one file both keep their change.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import glob
import os
import re
import shlex
import shutil
import stat
import time

TMP_PREFIX = ".mailops-smtp-tmp-"
VALIDATE_TIMEOUT = 120
# Another writer of the same directory holds its lock for the length of one
# write (a postmap and a postconf check at most); far longer means it is stuck.
LOCK_TIMEOUT = 120
_PID = re.compile(r"\.p(\d+)\.[0-9a-f]+(\.|$)")


class AtomicError(Exception):
    """A write could not be done; the target is untouched."""


def tmp_pattern(path):
    d, base = os.path.split(os.path.abspath(path))
    return os.path.join(d, TMP_PREFIX + base + ".*")


def writer_alive(candidate):
    """Whether the process that wrote this candidate still runs.

    Candidates carry their writer's PID (".p<pid>."); one without a PID comes
    from a release before the lock, whose writer cannot still hold it.
    """
    m = _PID.search(os.path.basename(candidate))
    if not m:
        return False
    pid = int(m.group(1))
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except OSError as e:
        return e.errno == errno.EPERM
    return True


def cleanup_stale(path):
    """Remove candidates (files or dirs) that a writer which is gone left for path."""
    removed = []
    for stale in glob.glob(tmp_pattern(path)):
        if writer_alive(stale):
            continue
        try:
            if os.path.isdir(stale) and not os.path.islink(stale):
                shutil.rmtree(stale)
            else:
                os.unlink(stale)
            removed.append(stale)
        except OSError:
            pass
    return removed


def _fsync_dir(d):
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class DirLock(object):
    """An exclusive flock on a directory, held from the read to the rename.

    Advisory: every mailops.smtp writer takes it; other tools do not. The lock
    goes with the process, so a killed writer never leaves it behind.
    """

    def __init__(self, directory, timeout=LOCK_TIMEOUT):
        self.directory = directory
        self.timeout = timeout
        self.fd = None

    def __enter__(self):
        try:
            self.fd = os.open(self.directory, os.O_RDONLY)
        except OSError as e:
            if e.errno == errno.ENOENT:
                raise AtomicError("directory %s does not exist; create it first (or fix path)" % self.directory)
            raise AtomicError("cannot open directory %s: %s" % (self.directory, e.strerror))
        deadline = time.time() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except (IOError, OSError) as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    self._close()
                    raise AtomicError("cannot lock directory %s: %s" % (self.directory, e.strerror))
            if time.time() >= deadline:
                self._close()
                raise AtomicError("another mailops.smtp run has been writing in %s for %ds; nothing was "
                                  "written. Let it finish (or end it), then run again." % (self.directory, self.timeout))
            time.sleep(0.05)

    def __exit__(self, *exc):
        self._close()
        return False

    def _close(self):
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor releases the flock
            self.fd = None


def file_kind(path):
    """'absent', 'regular', 'symlink' or a word for anything else (without following links)."""
    try:
        st = os.lstat(path)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return "absent"
        raise AtomicError("cannot inspect %s: %s" % (path, e.strerror))
    mode = st.st_mode
    for test, word in ((stat.S_ISREG, "regular"), (stat.S_ISLNK, "symlink"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return word
    return "not a regular file"


def resolve_ids(owner, group):
    """Return (uid, gid) for names or numbers; -1 means leave as is."""
    uid = gid = -1
    if owner not in (None, ""):
        try:
            uid = int(owner)
        except ValueError:
            import pwd
            try:
                uid = pwd.getpwnam(owner).pw_uid
            except KeyError:
                raise AtomicError("owner %r does not exist on the host; create the user first or give another owner" % owner)
    if group not in (None, ""):
        try:
            gid = int(group)
        except ValueError:
            import grp
            try:
                gid = grp.getgrnam(group).gr_gid
            except KeyError:
                raise AtomicError("group %r does not exist on the host; create it first or give another group" % group)
    return uid, gid


def parse_mode(mode):
    if mode in (None, ""):
        return None
    if isinstance(mode, int):
        return mode
    try:
        return int(str(mode), 8)
    except ValueError:
        raise AtomicError("mode %r is not an octal number such as '0600'" % (mode,))


def target_attrs(path, mode=None, owner=None, group=None, default_mode=0o600):
    """The (mode, uid, gid) the file should have: given values win, else the existing file's, else defaults."""
    want_mode = parse_mode(mode)
    uid, gid = resolve_ids(owner, group)
    try:
        st = os.stat(path)
    except OSError:
        st = None
    if want_mode is None:
        want_mode = stat.S_IMODE(st.st_mode) if st else default_mode
    if uid == -1:
        uid = st.st_uid if st else os.geteuid()
    if gid == -1:
        gid = st.st_gid if st else os.getegid()
    return want_mode, uid, gid


def attrs_differ(path, mode, uid, gid):
    try:
        st = os.stat(path)
    except OSError:
        return True
    return stat.S_IMODE(st.st_mode) != mode or st.st_uid != uid or st.st_gid != gid


def stage(path, data, mode, uid, gid):
    """Write data to a fresh candidate beside path; return the candidate's path."""
    d, base = os.path.split(os.path.abspath(path))
    if not os.path.isdir(d):
        raise AtomicError("directory %s does not exist; create it first (or fix path)" % d)
    tmp = os.path.join(d, "%s%s.p%d.%s" % (TMP_PREFIX, base, os.getpid(), os.urandom(6).hex()))
    try:
        # 0600 from the first byte: the content may be a secret.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        raise AtomicError("cannot write in %s: %s; check permissions (become: true?)" % (d, e.strerror))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        apply_attrs(tmp, mode, uid, gid)
    except Exception:
        discard(tmp)
        raise
    return tmp


def apply_attrs(path, mode, uid, gid):
    try:
        st = os.stat(path)
        if st.st_uid != uid or st.st_gid != gid:
            os.chown(path, uid, gid)
        os.chmod(path, mode)
    except OSError as e:
        raise AtomicError("cannot set owner/mode on %s: %s" % (path, e.strerror))


def discard(tmp):
    if not tmp:
        return
    try:
        if os.path.isdir(tmp) and not os.path.islink(tmp):
            shutil.rmtree(tmp)
        else:
            os.unlink(tmp)
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise


def validate(tmp, command, run):
    """Run the user's validate command on the candidate ('%s' is its path).

    run(argv, timeout=None) -> (rc, stdout, stderr) runs it: on a host that is
    the module's run_command (see _settings_engine.module_runner).
    """
    if "%s" not in command:
        raise AtomicError("validate must contain %s, the place of the candidate file's path")
    argv = [a.replace("%s", tmp) for a in shlex.split(command)]
    rc, _out, _err = run(argv, timeout=VALIDATE_TIMEOUT)
    if rc != 0:
        # The candidate holds secrets; its content must not reach the message,
        # and the tool's own output is cut short for the same reason.
        raise AtomicError("validate command failed with rc=%d; the file was left untouched" % rc)


def backup(path):
    if not os.path.exists(path):
        return None
    dest = "%s.%d.%s~" % (path, os.getpid(), time.strftime("%Y-%m-%d@%H:%M:%S"))
    shutil.copy2(path, dest)
    st = os.stat(path)
    try:
        os.chown(dest, st.st_uid, st.st_gid)
    except OSError:
        pass
    return dest


def remove(path):
    """Unlink path under its directory's lock (as writers hold it), then fsync the directory.

    A path already gone is not an error: another run may have removed it first.
    """
    d = os.path.dirname(os.path.abspath(path))
    with DirLock(d):
        try:
            os.unlink(path)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise AtomicError("cannot remove %s: %s (become: true?)" % (path, e.strerror))
    _fsync_dir(d)


def commit(tmp, path):
    os.rename(tmp, path)
    _fsync_dir(os.path.dirname(os.path.abspath(path)))


def write_file(path, data, mode=None, owner=None, group=None, default_mode=0o600,
               validate_cmd=None, make_backup=False, run=None):
    """Replace path with data atomically; return the backup path or None.

    validate_cmd needs run, the command runner validate() takes.
    """
    want_mode, uid, gid = target_attrs(path, mode, owner, group, default_mode)
    with DirLock(os.path.dirname(os.path.abspath(path))):
        return _write_locked(path, data, want_mode, uid, gid, validate_cmd, make_backup, run)


def _write_locked(path, data, want_mode, uid, gid, validate_cmd, make_backup, run):
    cleanup_stale(path)
    tmp = stage(path, data, want_mode, uid, gid)
    try:
        if validate_cmd:
            validate(tmp, validate_cmd, run)
        backup_file = backup(path) if make_backup else None
        commit(tmp, path)
    except Exception:
        discard(tmp)
        raise
    return backup_file
