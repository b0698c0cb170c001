# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Build the collection tarball and install it the way users do, isolated from the checkout.

Shared by tests/unit/test_packaging.py (no lab) and the lab tests beside this file.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


def galaxy_info() -> dict:
    return yaml.safe_load((REPO / "galaxy.yml").read_text())


def tarball_name() -> str:
    info = galaxy_info()
    return f"{info['namespace']}-{info['name']}-{info['version']}.tar.gz"


def isolated_env(collections_dir: Path | None, base: dict | None = None) -> dict:
    """An environment in which Ansible sees no collection but the ones in collections_dir.

    Every ANSIBLE_* setting of the caller is dropped (the checkout's own
    `.build/collections` must not leak in) except what `base` sets again.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(base or {})
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    env.pop("ANSIBLE_COLLECTIONS_PATHS", None)
    if collections_dir is not None:
        env["ANSIBLE_COLLECTIONS_PATH"] = str(collections_dir)
    # sys.path may hold an ansible_collections tree too (tests/conftest.py puts one there).
    env["ANSIBLE_COLLECTIONS_SCAN_SYS_PATH"] = "false"
    env["ANSIBLE_NOCOLOR"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run(cmd: list[str], *, env: dict, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, cwd=str(cwd),
                          timeout=timeout, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(str(c) for c in cmd[:4])} ... exited {proc.returncode}\n"
                             f"stdout (tail):\n{proc.stdout[-4000:]}\nstderr (tail):\n{proc.stderr[-4000:]}")
    return proc


def empty_config(where: Path) -> Path:
    """An empty ansible.cfg, so neither /etc/ansible nor ~/.ansible.cfg can steer a run."""
    cfg = where / "ansible.cfg"
    cfg.write_text("[defaults]\n")
    return cfg


def build(out_dir: Path) -> Path:
    """`ansible-galaxy collection build` of the checkout; returns the tarball."""
    out_dir.mkdir(parents=True, exist_ok=True)
    env = isolated_env(None)
    env["ANSIBLE_CONFIG"] = str(empty_config(out_dir))
    run([BIN / "ansible-galaxy", "collection", "build", "--output-path", out_dir, REPO], env=env, cwd=out_dir)
    tarball = out_dir / tarball_name()
    assert tarball.is_file(), f"the build made no {tarball.name} in {out_dir}"
    return tarball


def install(tarball: Path, dest: Path) -> Path:
    """Install the tarball, offline, into dest (a fresh collections dir); returns dest."""
    dest.mkdir(parents=True, exist_ok=True)
    env = isolated_env(dest)
    env["ANSIBLE_CONFIG"] = str(empty_config(dest.parent))
    run([BIN / "ansible-galaxy", "collection", "install", "--offline", "-p", dest, tarball], env=env,
        cwd=dest.parent)
    return dest


def installed_root(collections_dir: Path) -> Path:
    info = galaxy_info()
    return collections_dir / "ansible_collections" / info["namespace"] / info["name"]


def members(tarball: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(tarball, "r:gz") as tf:
        return {m.name.rstrip("/"): m for m in tf.getmembers()}


def read_member(tarball: Path, name: str) -> bytes:
    with tarfile.open(tarball, "r:gz") as tf:
        fh = tf.extractfile(name)
        assert fh is not None, f"{name} is not a file in {tarball.name}"
        return fh.read()


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under root (bytecode caches aside) and its sha256."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for f in filenames:
            p = Path(dirpath) / f
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def collection_list(env: dict, cwd: Path) -> dict:
    proc = run([BIN / "ansible-galaxy", "collection", "list", "--format", "json"], env=env, cwd=cwd)
    return json.loads(proc.stdout)


def doc_example(doc: Path, name: str) -> str:
    """The fenced block after `<!-- example: name -->` in a Markdown doc."""
    text = doc.read_text()
    marker = f"<!-- example: {name} -->"
    assert text.count(marker) == 1, f"{doc.name} has no single example {name!r}"
    after = text.split(marker, 1)[1].lstrip("\n")
    assert after.startswith("```"), f"example {name!r} in {doc.name} is not followed by a fenced block"
    body = after.split("\n", 1)[1]
    return body.split("\n```", 1)[0] + "\n"
