#!/usr/bin/env python
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark of the load on Vault: fetch-once (our action) beside a hashi_vault lookup in group_vars.

    .venv/bin/python bench/vault_bench.py [--hosts 1,10,30] [--runs 3] [--state-dir .lab-bench-vault]
                                          [--keep-lab] [--update-doc]

Brings up a lab of max(--hosts) hosts under --state-dir (unless one is already up there) and
builds .venv-ansible-pkg from a pinned `ansible` package (it ships community.hashi_vault and
pins its own ansible-core, hence a venv of its own). Then, for each N in --hosts, it runs a play
over N lab hosts in which every host uses the SMTP password, four ways:
  action-approle   mailops.smtp.vault_credentials with run_once, AppRole login
  action-token     the same with a supplied token
  lookup-approle   community.hashi_vault.hashi_vault lookup in group_vars, AppRole login
  lookup-token     the same with a token
It counts the play's requests in OpenBao's audit log and times the whole ansible-playbook
process; medians of --runs runs. The report goes to stdout and bench/results/vault.json;
--update-doc writes the table into the Vault section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The `ansible` package venv (bench/requirements-ansible-pkg.txt) brings community.hashi_vault and hvac.
from _common import (REPO, add_lab_options, dispatch, pkg_requirements, pkg_tool,
                     update_doc_block, write_private)

SECRET_PATH = "smtp/bench-mailer"
VARIANTS = ("action-approle", "action-token", "lookup-approle", "lookup-token")

ACTION_PLAY = """
- name: Fetch once (mailops.smtp.vault_credentials, run_once)
  hosts: fleet
  gather_facts: false
  tasks:
    - name: Fetch the mailer credential once for the whole play
      mailops.smtp.vault_credentials:
        path: {path}
        mount: "{{{{ bench_mount }}}}"
        url: "{{{{ bench_url }}}}"
        ca_path: "{{{{ bench_ca }}}}"
        auth: "{{{{ bench_auth }}}}"
      run_once: true
      register: smtp_cred

    - name: Every host uses the password
      ansible.builtin.debug:
        msg: "password length {{{{ smtp_cred.credential.password | length }}}}"
"""

LOOKUP_PLAY = """
- name: A hashi_vault lookup in group_vars
  hosts: fleet
  gather_facts: false
  tasks:
    - name: Every host uses the password
      ansible.builtin.debug:
        msg: "password length {{ smtp_password | length }}"
"""

# What many playbooks do: the lookup sits in group_vars and is evaluated wherever the
# variable is used, i.e. once per host (in that host's forked worker).
LOOKUP_GROUP_VARS = {
    "approle": ("smtp_password: \"{{ lookup('community.hashi_vault.hashi_vault', "
                "'secret=' ~ bench_mount ~ '/data/" + SECRET_PATH + ":password', url=bench_url, "
                "ca_cert=bench_ca, auth_method='approle', mount_point=bench_approle_mount, "
                "role_id=bench_role_id, secret_id=bench_secret_id) }}\"\n"),
    "token": ("smtp_password: \"{{ lookup('community.hashi_vault.hashi_vault', "
              "'secret=' ~ bench_mount ~ '/data/" + SECRET_PATH + ":password', url=bench_url, "
              "ca_cert=bench_ca, auth_method='token', token=bench_token) }}\"\n"),
}


# -- inside the lab --------------------------------------------------------------------------------

class BenchVault:
    """This run's mount, policy, AppRole and token in the lab's OpenBao (removed at the end)."""

    def __init__(self, lab):
        import hvac
        self.state = lab.state["vault"]
        self.suffix = secrets.token_hex(3)
        # The root token is read from the lab's token file, never from the environment.
        self.root = hvac.Client(url=self.state["http"], timeout=10)
        self.root.token = Path(self.state["token_file"]).read_text().strip()
        self.mount, self.approle = "bench_kv_%s" % self.suffix, "bench_approle_%s" % self.suffix
        self.policy = "bench_read_%s" % self.suffix
        self.tokens = []

    def setup(self) -> None:
        c = self.root
        c.sys.enable_secrets_engine("kv", path=self.mount, options={"version": "2"})
        for _attempt in range(50):
            try:
                c.secrets.kv.v2.read_configuration(mount_point=self.mount)
                break
            except Exception:  # pylint: disable=broad-except
                time.sleep(0.1)
        c.secrets.kv.v2.create_or_update_secret(path=SECRET_PATH, mount_point=self.mount, secret={
            "username": "bench@contoso.com", "password": "Bench-PW-" + secrets.token_hex(8)})
        c.sys.create_or_update_acl_policy(self.policy, 'path "%s/data/smtp/*" { capabilities = ["read"] }\n'
                                          % self.mount)
        c.sys.enable_auth_method("approle", path=self.approle)
        c.auth.approle.create_or_update_approle("bench", token_policies=[self.policy], token_ttl="10m",
                                                mount_point=self.approle)
        self.role_id = c.auth.approle.read_role_id("bench", mount_point=self.approle)["data"]["role_id"]

    def secret_id(self) -> str:
        return self.root.auth.approle.generate_secret_id("bench", mount_point=self.approle)["data"]["secret_id"]

    def token(self) -> str:
        token = self.root.auth.token.create(policies=[self.policy], ttl="1h")["auth"]["client_token"]
        self.tokens.append(token)
        return token

    def teardown(self) -> None:
        for token in self.tokens:
            try:
                self.root.auth.token.revoke(token)
            except Exception:  # pylint: disable=broad-except
                pass
        self.root.sys.disable_auth_method(self.approle)
        self.root.sys.disable_secrets_engine(self.mount)
        self.root.sys.delete_policy(self.policy)

    def audit_offset(self) -> int:
        return os.path.getsize(self.state["audit_log"])

    def requests_since(self, offset: int) -> list:
        """Paths of this run's requests: on its mounts, or with a token of its policy."""
        from tests.lab.vault_audit import audit_entries
        out = []
        for entry in audit_entries(self.state["audit_log"], offset):
            if entry.get("type") != "request":
                continue
            path = (entry.get("request") or {}).get("path") or ""
            policies = (entry.get("auth") or {}).get("policies") or []
            if self.suffix in path or self.policy in policies:
                out.append(path)
        return out


def run_variant(lab, bv, work: Path, variant: str, hosts: int) -> dict:
    kind, method = variant.split("-")
    run_dir = work / ("%s-%d-%s" % (variant, hosts, secrets.token_hex(2)))
    run_dir.mkdir()
    extra = {"bench_mount": bv.mount, "bench_url": lab.state["vault"]["https"], "bench_ca": lab.ca,
             "bench_approle_mount": bv.approle, "bench_role_id": bv.role_id}
    if method == "approle":
        extra["bench_secret_id"] = bv.secret_id()
    else:
        extra["bench_token"] = bv.token()
    if kind == "action":
        auth = {"method": "approle", "mount": bv.approle, "role_id": bv.role_id,
                "secret_id": extra.get("bench_secret_id")} if method == "approle" else {"token": extra.get("bench_token")}
        extra["bench_auth"] = auth
        (run_dir / "play.yml").write_text(ACTION_PLAY.format(path=SECRET_PATH))
        exe = Path(sys.executable).parent / "ansible-playbook"
    else:
        (run_dir / "group_vars").mkdir()
        (run_dir / "group_vars" / "fleet.yml").write_text(LOOKUP_GROUP_VARS[method])
        (run_dir / "play.yml").write_text(LOOKUP_PLAY)
        exe = pkg_tool()
    vars_file = run_dir / "vars.json"
    write_private(vars_file, json.dumps(extra))
    limit = ",".join(h["name"] for h in lab.hosts[:hosts])
    env = dict(lab.env, ANSIBLE_NOCOLOR="1")
    offset = bv.audit_offset()
    start = time.monotonic()
    proc = subprocess.run([str(exe), "-i", str(lab.inventory), "--limit", limit, "-e", "@%s" % vars_file,
                           str(run_dir / "play.yml")], capture_output=True, text=True, env=env,
                          cwd=str(run_dir), timeout=900, check=False)
    seconds = time.monotonic() - start
    vars_file.unlink()
    if proc.returncode != 0:
        raise SystemExit("bench: %s over %d hosts failed:\n%s" % (variant, hosts, (proc.stdout + proc.stderr)[-3000:]))
    used = proc.stdout.count("password length ")
    if used != hosts:
        raise SystemExit("bench: %s over %d hosts: %d hosts used the password" % (variant, hosts, used))
    paths = bv.requests_since(offset)
    return {"seconds": seconds, "requests": len(paths), "logins": sum(p.endswith("/login") for p in paths),
            "reads": sum("/data/" in p for p in paths), "revokes": sum(p == "auth/token/revoke-self" for p in paths)}


def inner(args) -> int:
    from tests.lab.fixtures import LabHandle

    lab = LabHandle.load()
    if len(lab.hosts) < max(args.hosts):
        raise SystemExit("bench: the lab has %d hosts, --hosts needs %d" % (len(lab.hosts), max(args.hosts)))
    work = Path(tempfile.mkdtemp(prefix="vault-bench-", dir=str(lab.dir)))
    bv = BenchVault(lab)
    bv.setup()
    raw = {}
    t0 = time.monotonic()
    try:
        for hosts in args.hosts:
            for run in range(args.runs):
                for variant in VARIANTS:
                    one = run_variant(lab, bv, work, variant, hosts)
                    raw.setdefault(variant, {}).setdefault(str(hosts), []).append(one)
                    print("bench: %-15s N=%-3d run %d: %5.2f s, %d requests"
                          % (variant, hosts, run + 1, one["seconds"], one["requests"]), flush=True)
    finally:
        bv.teardown()
    report = summarise(raw, args)
    report["seconds"] = round(time.monotonic() - t0, 1)
    text = render(report)
    print(text)
    results = REPO / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "vault.json").write_text(json.dumps(report, indent=1) + "\n")
    if args.update_doc:
        update_doc_block("vault-bench", text, heading="Vault")
    return 0


def summarise(raw: dict, args) -> dict:
    rows = []
    for variant in VARIANTS:
        for hosts in args.hosts:
            runs = raw[variant][str(hosts)]
            counts = sorted(set((r["logins"], r["reads"], r["revokes"], r["requests"]) for r in runs))
            rows.append({"variant": variant, "hosts": hosts, "runs": len(runs),
                         "median_seconds": round(statistics.median(r["seconds"] for r in runs), 2),
                         "requests": [c[3] for c in counts], "logins": [c[0] for c in counts],
                         "reads": [c[1] for c in counts], "revokes": [c[2] for c in counts]})
    pkg = subprocess.run([str(pkg_tool()), "--version"], capture_output=True,
                         text=True, check=False, timeout=60).stdout.splitlines()[:1]
    own = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "--version"],
                         capture_output=True, text=True, check=False, timeout=60).stdout.splitlines()[:1]
    return {"rows": rows, "runs": args.runs, "pkg_requirements": pkg_requirements(),
            "ansible_action": own[0] if own else "?", "ansible_lookup": pkg[0] if pkg else "?",
            "nproc": os.cpu_count()}


def _one(values: list) -> str:
    return "/".join(str(v) for v in values)


def render(report: dict) -> str:
    lines = [
        "Measured by `bench/vault_bench.py` (medians of %d runs; %d CPUs shared with other work; "
        "the action with %s, the lookup with %s from %s)."
        % (report["runs"], report["nproc"], report["ansible_action"], report["ansible_lookup"],
           " + ".join(report["pkg_requirements"])),
        "",
        "| way | hosts | requests to Vault | logins | reads | revoke-self | median wall time |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    names = {"action-approle": "fetch-once action, AppRole", "action-token": "fetch-once action, token",
             "lookup-approle": "hashi_vault lookup in group_vars, AppRole",
             "lookup-token": "hashi_vault lookup in group_vars, token"}
    for row in report["rows"]:
        lines.append("| %s | %d | %s | %s | %s | %s | %.2f s |" % (
            names[row["variant"]], row["hosts"], _one(row["requests"]), _one(row["logins"]),
            _one(row["reads"]), _one(row["revokes"]), row["median_seconds"]))
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(prog="bench/vault_bench.py", description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--hosts", default="1,10,30", type=lambda s: [int(x) for x in s.split(",")])
    ap.add_argument("--runs", type=int, default=3)
    add_lab_options(ap, ".lab-bench-vault", doc_what="the table")
    args = ap.parse_args(argv)
    if not 1 <= args.runs <= 20 or not all(1 <= h <= 60 for h in args.hosts):
        ap.error("--runs is 1-20, each of --hosts 1-60")
    return dispatch(inner, args, argv, __file__, hosts=max(args.hosts), pkg_venv=True)


if __name__ == "__main__":
    sys.exit(main())
