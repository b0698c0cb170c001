# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bring the lab up and down.

Layout (see docs/lab.md): a bridge in the root namespace with no address; a
controller namespace (stand-ins, OpenBao, ansible-playbook, the integration
tests) and one namespace per fleet host, each holding its own sshd in a private
mount and UTS namespace with overlays over /etc, /var, /opt, /srv, /root and /usr/local.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

from . import naming
from .naming import Identity
from .sysutil import (LabError, in_ns, kill_pids, link_names, netns_list, netns_pids, run,
                      wait_for)

REPO = Path(__file__).resolve().parents[2]
# usr/local too: the refresher (smtp_configure_refresher_dir) installs under it, and
# without its own layer every lab host, and every lab on the machine, shared one copy.
OVERLAID = ("etc", "var", "opt", "srv", "root", "usr/local")
LAYERS_ROOT = Path("/run/mailops-lab")
SYSTEM_PYTHON = "/usr/bin/python3"
PYENV = Path("/root/.pyenv/versions")


def oldest_python(minor: int) -> str:
    """The interpreter for the host that proves target code on the oldest Python."""
    found = sorted(PYENV.glob(f"3.{minor}.*/bin/python3.{minor}"))
    if not found:
        raise LabError(f"Python 3.{minor} is needed for the old-Python host; "
                       f"none under {PYENV} (install it with pyenv)")
    return str(found[-1])


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, mode)


def remote_tmp(prefix: str) -> str:
    """Ansible's remote temp directory on the lab's hosts (and the controller's local tasks).

    One per lab: the hosts' /var overlays show the machine's own /var/tmp through, where the
    controller's local tasks write, so under a shared name one lab's tasks would show up on
    every other lab's hosts (and in their leak checks).
    """
    return f"/var/tmp/.ansible-{prefix}"


def upper_layer(prefix: str, host: str, path: str) -> Path:
    """Where a host's writes under an overlaid `path` land: its overlay's upper layer.

    Everything a host creates, changes or deletes (a whiteout) there is in that layer,
    and nothing else is, so a test can see what a run changed without reading the
    machine's own, possibly huge, lower trees.
    """
    tops = sorted(OVERLAID, key=len, reverse=True)
    top = next((t for t in tops if path == "/" + t or path.startswith("/" + t + "/")), None)
    if top is None:
        raise ValueError(f"{path} is not under an overlaid tree ({', '.join(OVERLAID)})")
    return LAYERS_ROOT / prefix / host / "upper" / path.lstrip("/")


class Lab:
    def __init__(self, state_dir: Path | None = None):
        self.ident: Identity = naming.identity_for(Path(state_dir or REPO / ".lab"))
        self.dir = self.ident.state_dir
        self.layers_dir = LAYERS_ROOT / self.ident.prefix

    # ---------------------------------------------------------------- state
    @property
    def state_file(self) -> Path:
        return self.dir / "lab.json"

    def load(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except FileNotFoundError:
            raise LabError(f"no lab is up for {self.dir} (run `make lab-up`)") from None

    # ---------------------------------------------------------------- up
    def up(self, hosts: int = 3, *, postfix: bool = True, standins: bool = True,
           old_python_minor: int = 9) -> dict:
        if os.geteuid() != 0:
            raise LabError("the lab needs root (network namespaces, mounts)")
        if str(self.dir).startswith("/run/"):
            raise LabError(f"the lab state dir {self.dir} lies under /run, which each lab host replaces; "
                           "clone the repository elsewhere")
        started = time.monotonic()
        self.down(quiet=True)
        # Kept for good, also after teardown: nothing addressed to the lab range
        # may ever follow the default route out of the machine.
        run(["ip", "route", "replace", "blackhole", str(naming.LAB_RANGE)])
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        ident = self.ident
        state: dict = {
            "prefix": ident.prefix, "subnet": str(ident.subnet), "state_dir": str(self.dir),
            "repo": str(REPO), "ctl_ns": ident.ctl_ns, "bridge": ident.bridge,
            "addresses": {r: ident.addr(r) for r in naming.ROLE_OCTETS},
            "tenant_domain": naming.TENANT_DOMAIN, "connector_host": naming.CONNECTOR_HOST,
            "hosts": [],
        }
        self._network(hosts)
        self._names(state, hosts)
        from .pki import CA, exchange_online_leaf
        state["pki"] = self._pki(CA, exchange_online_leaf)
        self._ssh_keys()
        py_old = oldest_python(old_python_minor)
        for n in range(1, hosts + 1):
            state["hosts"].append(self._start_host(n, py_old if n == hosts else SYSTEM_PYTHON))
        state["old_python_host"] = state["hosts"][-1]["name"]
        state["vault"] = self._start_vault(state)
        self._write_ansible(state)
        self._write_ctl_exec(state)
        self._save(state)
        self._wait_sshd(state)
        if postfix:
            from .apps import start_postfix
            for h in state["hosts"]:
                start_postfix(h)
        if standins and (REPO / "tests/lab/standins/server.py").exists():
            from .standins_launch import start_standins
            state["standins"] = start_standins(self, state)
            self._save(state)
            # The stand-in credentials in OpenBao and .lab/vars.yml, as an operator would set them up.
            run([str(self.dir / "ctl-exec"), sys.executable, "-m", "tests.lab", "--state-dir", str(self.dir),
                 "seed-vault"], timeout=60)
        state["up_seconds"] = round(time.monotonic() - started, 2)
        self._save(state)
        return state

    def _save(self, state: dict) -> None:
        _write(self.state_file, json.dumps(state, indent=2) + "\n", 0o600)

    def _network(self, hosts: int) -> None:
        ident = self.ident
        run(["ip", "link", "add", ident.bridge, "type", "bridge"])
        run(["ip", "link", "set", ident.bridge, "up"])
        # The controller namespace: loopback and the bridge, nothing else, so
        # nothing in it can reach outside the machine even by mistake.
        self._add_ns_on_bridge(ident.ctl_ns, *ident.ctl_veth,
                               [ident.addr(r) for r in naming.ROLE_OCTETS])
        for n in range(1, hosts + 1):
            self._add_ns_on_bridge(ident.host_ns(n), *ident.host_veth(n), [ident.host_addr(n)])

    def _add_ns_on_bridge(self, ns: str, inner: str, outer: str, addrs: list[str]) -> None:
        run(["ip", "netns", "add", ns])
        run(["ip", "link", "add", inner, "type", "veth", "peer", "name", outer])
        run(["ip", "link", "set", inner, "netns", ns])
        run(["ip", "link", "set", outer, "master", self.ident.bridge])
        run(["ip", "link", "set", outer, "up"])
        batch = ["link set lo up", f"link set {inner} up"]
        batch += [f"addr add {a}/24 dev {inner}" for a in addrs]
        run(in_ns(ns, ["ip", "-batch", "-"]), input="\n".join(batch) + "\n")

    def _names(self, state: dict, hosts: int) -> None:
        a = state["addresses"]
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
                 f"{a['controller']}\tcontroller.lab.test controller",
                 f"{a['smtp']}\tsmtp.office365.com",
                 f"{a['entra']}\tlogin.microsoftonline.com",
                 f"{a['vault']}\t{naming.VAULT_NAME}",
                 f"{a['connector']}\t{naming.CONNECTOR_HOST}",
                 f"{a['graph']}\t{naming.GRAPH_HOST}"]
        lines += [f"{self.ident.host_addr(n)}\thost{n}.lab.test host{n}" for n in range(1, hosts + 1)]
        state["hosts_file"] = "\n".join(lines) + "\n"
        _write(self.dir / "ctl" / "hosts", state["hosts_file"])
        # No name server: a name missing from the hosts file fails at once.
        _write(self.dir / "ctl" / "resolv.conf", "# mailops lab: names come from /etc/hosts only\n")

    def _pki(self, CA, exchange_online_leaf) -> dict:
        ca = CA(self.dir / "pki")
        a = self.ident
        issued = {
            "smtp": exchange_online_leaf(ca),
            "entra": ca.issue("login.microsoftonline.com", ["login.microsoftonline.com"]),
            "vault": ca.issue("vault", [naming.VAULT_NAME, a.addr("vault")]),
            "connector": ca.issue("connector", [naming.CONNECTOR_HOST]),
            "graph": ca.issue(naming.GRAPH_HOST, [naming.GRAPH_HOST]),
            "client": ca.issue("client", ["relay.contoso.com", "host1.lab.test"], client=True),
        }
        out = {"ca": str(ca.cert_path), "ca_key": str(ca.key_path), "dir": str(ca.dir)}
        for k, v in issued.items():
            out[k] = {"cert": str(v.cert), "key": str(v.key)}
        return out

    def _ssh_keys(self) -> None:
        d = self.dir / "ssh"
        d.mkdir(parents=True, exist_ok=True)
        for name in ("id_ed25519", "host_ed25519"):
            if not (d / name).exists():
                run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"mailops-lab-{name}",
                     "-f", str(d / name)])
        shutil.copy(d / "id_ed25519.pub", d / "authorized_keys")

    def _start_host(self, n: int, python: str) -> dict:
        ident = self.ident
        name, ns, ip = f"host{n}", ident.host_ns(n), ident.host_addr(n)
        hdir = self.dir / "hosts" / name
        hdir.mkdir(parents=True, exist_ok=True)
        # The overlays' upper and work layers live outside every overlaid tree:
        # a checkout under /root or /srv would otherwise make the layers overlap.
        layers = self.layers_dir / name
        for top in OVERLAID:
            (layers / "upper" / top).mkdir(parents=True, exist_ok=True)
            (layers / "work" / top).mkdir(parents=True, exist_ok=True)
        # Files the host sees in its own /etc, written into its overlay's upper layer.
        hosts_text = (self.dir / "ctl" / "hosts").read_text().replace(
            f"{ip}\thost{n}.lab.test host{n}", f"{ip}\thost{n}.lab.test host{n}\n127.0.1.1\t{name}")
        _write(layers / "upper/etc/hosts", hosts_text)
        _write(layers / "upper/etc/resolv.conf", "# mailops lab: names come from /etc/hosts only\n")
        _write(layers / "upper/etc/hostname", f"{name}\n")
        _write(layers / "upper/etc/mailname", f"{name}.lab.test\n")
        ssh = self.dir / "ssh"
        _write(hdir / "sshd_config", "\n".join([
            f"ListenAddress {ip}", "Port 22",
            f"HostKey {ssh / 'host_ed25519'}",
            f"AuthorizedKeysFile {ssh / 'authorized_keys'}",
            f"PidFile {hdir / 'sshd.pid'}",
            "PermitRootLogin prohibit-password", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "StrictModes no", "UsePAM no", "UseDNS no",
            "MaxStartups 200:30:400", "MaxSessions 200", "PrintMotd no",
            "Subsystem sftp /usr/lib/openssh/sftp-server", ""]))
        mounts = "\n".join(
            f"mount -t overlay overlay -o lowerdir=/{t},upperdir={layers}/upper/{t},workdir={layers}/work/{t} /{t}"
            for t in OVERLAID)
        script = f"""set -e
{mounts}
mount -t tmpfs -o mode=0755,size=64m lab-run /run
mkdir -p /run/sshd /run/lock
hostname {name}
exec /usr/sbin/sshd -D -f {hdir}/sshd_config -E {hdir}/sshd.log
"""
        log = open(hdir / "start.log", "w")
        proc = subprocess.Popen(
            in_ns(ns, ["unshare", "--uts", "--mount", "--propagation", "private", "--",
                       "/bin/sh", "-c", script]),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return {"name": name, "ns": ns, "ip": ip, "pid": proc.pid, "dir": str(hdir),
                "python": python, "veth": ident.host_veth(n)[0]}

    def _wait_sshd(self, state: dict) -> None:
        def listening(h):
            out = run(in_ns(h["ns"], ["ss", "-Hltn", "sport", "=", ":22"]), check=False).stdout
            return h["ip"] in out

        pending = list(state["hosts"])

        def all_up():
            pending[:] = [h for h in pending if not listening(h)]
            for h in pending:
                if subprocess.run(["kill", "-0", str(h["pid"])], capture_output=True, check=False).returncode:
                    log = (Path(h["dir"]) / "start.log").read_text()[-2000:]
                    raise LabError(f"{h['name']}: sshd did not start: {log}")
            return not pending

        wait_for(all_up, 30, "every lab host's sshd")

    def _start_vault(self, state: dict) -> dict:
        vdir = self.dir / "vault"
        home = vdir / "home"
        home.mkdir(parents=True, exist_ok=True)
        addr = state["addresses"]["vault"]
        pki = state["pki"]
        _write(vdir / "dev.hcl", f"""
listener "tcp" {{
  address       = "{addr}:8201"
  tls_cert_file = "{pki['vault']['cert']}"
  tls_key_file  = "{pki['vault']['key']}"
}}
# The API refuses to enable audit devices; tests count requests from this log.
audit "file" "lab" {{
  options {{ file_path = "{vdir / 'audit.log'}" }}
}}
""")
        bao = Path(sys.executable).parent / "bao"
        # The dev server prints its root token; the filter keeps it out of the log.
        # HOME is private: the server writes the token to $HOME/.vault-token, the
        # lab moves it to .lab/vault-token and nothing else ever holds it.
        inner = (f"cd {vdir} && exec env -i HOME={home} PATH=/usr/bin:/bin {bao} server -dev "
                 f"-dev-listen-address={addr}:8200 -config={vdir / 'dev.hcl'} 2>&1 "
                 f"| grep --line-buffered -v -E 'Root Token|Unseal Key' > {vdir / 'server.log'}")
        subprocess.Popen(in_ns(self.ident.ctl_ns, ["/bin/sh", "-c", inner]),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
        token_src = home / ".vault-token"
        wait_for(token_src.exists, 20, "OpenBao dev server to write its root token")
        token_file = self.dir / "vault-token"
        _write(token_file, token_src.read_text().strip(), 0o600)
        token_src.unlink()
        return {"http": f"http://{addr}:8200", "https": f"https://{naming.VAULT_NAME}:8201",
                "https_ip": f"https://{addr}:8201", "token_file": str(token_file),
                "audit_log": str(vdir / "audit.log"), "ca": pki["ca"]}

    def _write_ansible(self, state: dict) -> None:
        d = self.dir
        collections = REPO / ".build" / "collections"
        key = d / "ssh" / "id_ed25519"
        for label, minor in (("inventory", 9), ("inventory-219", 8)):
            hosts = {}
            for h in state["hosts"]:
                hv = {"ansible_host": h["ip"]}
                if h["name"] == state["hosts"][-1]["name"]:
                    hv["ansible_python_interpreter"] = oldest_python(minor)
                hosts[h["name"]] = hv
            inv = {"all": {"vars": {"ansible_user": "root",
                                    "ansible_ssh_private_key_file": str(key)},
                           "children": {"fleet": {"hosts": hosts}}}}
            _write(d / f"{label}.yml", json.dumps(inv, indent=2) + "\n")
        (d / "cp").mkdir(exist_ok=True)
        _write(d / "ansible.cfg", f"""# Written by `make lab-up`; for the lab only.
[defaults]
inventory = {d / 'inventory.yml'}
interpreter_python = {SYSTEM_PYTHON}
remote_tmp = {remote_tmp(self.ident.prefix)}
local_tmp = {d / 'ansible-local'}
host_key_checking = False
collections_path = {collections}
retry_files_enabled = False
forks = 10
timeout = 20

[ssh_connection]
pipelining = True
control_path_dir = {d / 'cp'}
ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o LogLevel=ERROR -o ConnectTimeout=10
""")
        _write(d / "env", "\n".join([
            f"ANSIBLE_CONFIG={d / 'ansible.cfg'}",
            f"ANSIBLE_COLLECTIONS_PATH={collections}",
            f"MAILOPS_LAB_STATE={d}",
            f"VAULT_ADDR={state['vault']['http']}",
            f"MAILOPS_LAB_CA={state['pki']['ca']}", ""]))

    def _write_ctl_exec(self, state: dict) -> None:
        ctl = self.dir / "ctl"
        _write(self.dir / "ctl-exec", f"""#!/bin/sh
# Run a command inside this lab's controller namespace, with the lab's hosts file.
exec ip netns exec {self.ident.ctl_ns} unshare --mount --propagation private -- /bin/sh -c \\
  'mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf && shift 2 && exec "$@"' \\
  ctl-exec {ctl / 'hosts'} {ctl / 'resolv.conf'} "$@"
""", 0o755)

    # ---------------------------------------------------------------- down
    def leftovers(self) -> dict:
        p = self.ident.prefix
        ns = [n for n in netns_list() if n.startswith(p + "-")]
        links = [n for n in link_names() if n.startswith(p)]
        pids = sorted({pid for n in ns for pid in netns_pids(n)})
        mounts = [line for line in Path("/proc/self/mountinfo").read_text().splitlines()
                  if str(self.dir) + "/" in line or str(self.layers_dir) + "/" in line]
        return {"namespaces": ns, "links": links, "pids": pids, "mounts": mounts}

    def down(self, quiet: bool = False) -> dict:
        """Tear down in the order that keeps every packet inside the machine."""
        before = self.leftovers()
        # 1. SSH control masters, then every daemon of the lab.
        cp = self.dir / "cp"
        if cp.is_dir():
            for sock in cp.iterdir():
                if stat.S_ISSOCK(sock.lstat().st_mode):
                    run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "lab"],
                        check=False, timeout=10)
        for ns in before["namespaces"]:
            kill_pids(netns_pids(ns))
        # 2. Sockets still open in the lab's namespaces.
        for ns in before["namespaces"]:
            run(in_ns(ns, ["ss", "-K"]), check=False)
        run(["ss", "-K", "dst", str(self.ident.subnet)], check=False)
        # 3. The namespaces (their veth ends go with them), 4. then the bridge.
        for ns in before["namespaces"]:
            run(["ip", "netns", "del", ns], check=False)
        for link in link_names():
            if link.startswith(self.ident.prefix) and link != self.ident.bridge:
                run(["ip", "link", "del", link], check=False)
        if self.ident.bridge in link_names():
            run(["ip", "link", "del", self.ident.bridge], check=False)
        shutil.rmtree(self.layers_dir, ignore_errors=True)
        if self.dir.exists():
            for sub in ("hosts", "cp", "ctl", "vault", "standins", "ansible-local", "delay"):
                shutil.rmtree(self.dir / sub, ignore_errors=True)
            for f in ("vault-token", "lab.json", "vars.yml", "standins.json"):
                (self.dir / f).unlink(missing_ok=True)
        after = self.leftovers()
        if any(after.values()):
            raise LabError(f"lab teardown left things behind: {after}")
        return before
