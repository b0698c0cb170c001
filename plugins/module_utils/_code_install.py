# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Install a small tree of code files in one call (mailops.smtp.refresher_code).

Internal use only. Each file is compared with what is on the host (content, mode, owner) and written
atomically only when it differs; its missing parent directories are created 0755. Nothing is removed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

from ansible_collections.mailops.smtp.plugins.module_utils import _atomic

DIR_MODE = 0o755


class CodeInstallError(Exception):
    pass


def _relative_ok(relpath):
    parts = relpath.split("/")
    return bool(relpath) and not relpath.startswith("/") and all(p not in ("", ".", "..") for p in parts)


def _current(path):
    """(bytes, mode, uid, gid) of a regular file, or None when absent; a non-file is refused."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise CodeInstallError("%s exists and is not a regular file: move it away, then run again" % path)
    with open(path, "rb") as fh:
        return fh.read(), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid


def _missing_dirs(dest, relpath):
    """The directories between dest (included) and the file that do not exist yet, outermost first."""
    out = []
    d = os.path.dirname(os.path.join(dest, relpath))
    while not os.path.isdir(d):
        out.append(d)
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    return list(reversed(out))


def plan(dest, files):
    """The files that differ from the host: [(relpath, data bytes, mode)]."""
    if not os.path.isabs(dest):
        raise CodeInstallError("dest must be an absolute path, not %s" % dest)
    uid, gid = os.geteuid(), os.getegid()
    out = []
    for f in files:
        relpath, mode = f["path"], int(f["mode"], 8)
        if not _relative_ok(relpath):
            raise CodeInstallError("%s is not a plain relative path under dest" % relpath)
        data = f["content"].encode("utf-8")
        if _current(os.path.join(dest, relpath)) != (data, mode, uid, gid):
            out.append((relpath, data, mode))
    return out


def install(dest, files, check_mode=False):
    """Write what differs; return the relative paths written (or that would be, in check mode)."""
    todo = plan(dest, files)
    written = [item[0] for item in todo]
    if check_mode:
        return written
    uid, gid = os.geteuid(), os.getegid()
    for relpath, data, mode in todo:
        for d in _missing_dirs(dest, relpath):
            os.mkdir(d, DIR_MODE)
            os.chmod(d, DIR_MODE)  # whatever the umask
        try:
            _atomic.write_file(os.path.join(dest, relpath), data, mode=mode, owner=uid, group=gid)
        except _atomic.AtomicError as e:
            raise CodeInstallError(str(e))
    return written
