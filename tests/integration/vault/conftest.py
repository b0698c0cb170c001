# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""An OpenBao for the vault_credentials tests, set up entirely by this file.

When the tests run inside a lab's controller namespace (`.lab/ctl-exec`, as under
`make test`), the fixture uses the LAB's OpenBao over HTTP and HTTPS; with no lab,
it starts its own `bao server -dev` on a loopback address (developer convenience).
Either way all setup (mounts, policies, auth methods, secrets) goes through
`setup_vault` with the root token, every name carries a per-run suffix, nothing
is assumed to exist, and on the lab `teardown_vault` removes it all again.

The root token is only ever read from a file (the lab's token file, or the
local server's $HOME/.vault-token); it is never on a command line or in an
environment.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.lab.pki import CA  # noqa: E402
from tests.lab.pki_bad import load_ca  # noqa: E402
from tests.lab.standins.sealed_vault import start_sealed_vault, stop_sealed_vault  # noqa: E402
from tests.lab.vault_audit import audit_entries  # noqa: E402

BAO = REPO / ".venv" / "bin" / "bao"
# Set to /work/main/.venv-219 to run the playbooks with ansible-core 2.19.
ANSIBLE_VENV = Path(os.environ.get("VAULT_TEST_ANSIBLE_VENV", str(REPO / ".venv")))
START_TIMEOUT = 30


def lab_state():
    """The lab's state when this process runs inside a lab's controller namespace, else None.

    MAILOPS_LAB_STATE names a lab explicitly: then running outside its namespace is an
    error, since lab names and addresses mean nothing (or something else) out there.
    """
    from tests.lab.fixtures import in_controller_namespace, require_controller_namespace
    explicit = os.environ.get("MAILOPS_LAB_STATE")
    state_file = Path(explicit or REPO / ".lab") / "lab.json"
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        if explicit:
            raise RuntimeError("MAILOPS_LAB_STATE=%s holds no lab.json: bring the lab up first" % explicit)
        return None
    if explicit:
        require_controller_namespace(state)
    return state if in_controller_namespace(state) else None


def _free_port(host):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _pick_host():
    # A random 127.0.0.x keeps parallel runs (and other engineers) apart.
    return "127.0.0.%d" % random.randint(20, 250)


def _wait_http(url, timeout=START_TIMEOUT, ok=(200, 429, 472, 473, 501, 503), cafile=None):
    import ssl
    ctx = ssl.create_default_context(cafile=cafile) if cafile else None
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2, context=ctx) as resp:
                if resp.status in ok:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code in ok:
                return
            last = exc
        except OSError as exc:
            last = exc
        time.sleep(0.2)
    raise RuntimeError("OpenBao at %s did not come up: %s" % (url, last))


@dataclass
class Vault:
    addr_http: str
    addr_https: str
    ca_path: str
    token_file: str
    audit_log: str
    home: str
    pki: CA
    suffix: str
    info: dict = field(default_factory=dict)
    lab: dict | None = None        # the lab's state when this is the lab's OpenBao

    @property
    def host(self):
        """The address the server listens on (where a throwaway server or a closed port can go)."""
        return self.addr_http.split("//", 1)[1].rsplit(":", 1)[0]

    @property
    def root_token(self):
        return Path(self.token_file).read_text().strip()

    def client(self, token=None, https=False):
        import hvac
        client = hvac.Client(url=self.addr_https if https else self.addr_http,
                             verify=self.ca_path if https else True, timeout=10)
        client.token = token or self.root_token
        return client

    def new_secret_id(self, wrap_ttl=None):
        c = self.client()
        if wrap_ttl:
            resp = c.write_data("auth/%s/role/mailer/secret-id" % self.info["approle_mount"], wrap_ttl=wrap_ttl)
            return resp["wrap_info"]["token"]
        resp = c.auth.approle.generate_secret_id("mailer", mount_point=self.info["approle_mount"])
        return resp["data"]["secret_id"]

    def sign_jwt(self, audience="mailops", subject="mailer-ci"):
        import jwt
        now = int(time.time())
        return jwt.encode({"sub": subject, "aud": audience, "iat": now, "nbf": now - 5, "exp": now + 300},
                          self.info["jwt_key"], algorithm="ES256")

    def audit_offset(self):
        try:
            return os.path.getsize(self.audit_log)
        except FileNotFoundError:
            return 0

    def _mine(self, entry):
        # The lab's OpenBao is shared: count only this run's requests, i.e. those
        # on a suffixed path, or made with a token holding a suffixed policy
        # (revoke-self carries no path of ours, only the token's policies).
        req = entry.get("request") or {}
        if self.suffix in (req.get("path") or ""):
            return True
        policies = (entry.get("auth") or {}).get("policies") or []
        return any(self.suffix in p for p in policies)

    def audit_requests(self, offset):
        """(operation, path) of every request of this run logged after offset."""
        return [((entry.get("request") or {}).get("operation"), (entry.get("request") or {}).get("path"))
                for entry in audit_entries(self.audit_log, offset)
                if entry.get("type") == "request" and self._mine(entry)]

    def wait_audit(self, offset, count, timeout=30.0):
        """The requests after offset, once at least count are logged (or the deadline passed).

        A request the fault proxy delayed reaches OpenBao only after the delay,
        when the client may have given up long ago.
        """
        deadline = time.monotonic() + timeout
        while True:
            seen = self.audit_requests(offset)
            if len(seen) >= count or time.monotonic() > deadline:
                return seen
            time.sleep(0.2)


def _write_config(tmp, host, https_port, leaf, audit_log):
    conf = tmp / "bao.hcl"
    conf.write_text(
        'listener "tcp" {\n'
        '  address = "%s:%d"\n'
        '  tls_cert_file = "%s"\n'
        '  tls_key_file = "%s"\n'
        '}\n'
        'audit "file" "file" {\n'
        '  options {\n'
        '    file_path = "%s"\n'
        '  }\n'
        '}\n' % (host, https_port, leaf.cert, leaf.key, audit_log))
    return conf


def _jwt_keypair(tmp):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return key, pub


def setup_vault(v: Vault):
    """Everything the tests need, created with the root token (idempotent per suffix)."""
    c = v.client()
    s = v.suffix
    kv2, kv1 = "kv2_%s" % s, "kv1_%s" % s
    mounts = c.sys.list_mounted_secrets_engines()["data"]
    if kv2 + "/" not in mounts:
        c.sys.enable_secrets_engine("kv", path=kv2, options={"version": "2"})
    if kv1 + "/" not in mounts:
        c.sys.enable_secrets_engine("kv", path=kv1, options={"version": "1"})
    # KV v2 needs a moment after mounting before writes are accepted.
    for _attempt in range(50):
        try:
            c.secrets.kv.v2.read_configuration(mount_point=kv2)
            break
        except Exception:  # pylint: disable=broad-except
            time.sleep(0.1)

    secrets_v2 = {
        "smtp/basic": {"username": "mailer@contoso.test", "password": "Basic-PW-" + secrets.token_hex(8)},
        "smtp/app": {"username": "app@contoso.test", "tenant_id": "contoso-tenant",
                     "client_id": "client-" + secrets.token_hex(4),
                     "client_secret": "App-Secret-" + secrets.token_hex(8)},
        "smtp/both": {"username": "both@contoso.test", "password": "Both-PW-" + secrets.token_hex(8),
                      "tenant_id": "t", "client_id": "c", "client_secret": "Both-CS-" + secrets.token_hex(8)},
        "smtp/renamed": {"login": "renamed@contoso.test", "app_password": "Renamed-PW-" + secrets.token_hex(8)},
        "smtp/empty": {"username": "empty@contoso.test", "password": ""},
        "smtp/jinja": {"username": "jinja@contoso.test", "password": "{{ lookup('pipe','id') }}"},
        "other/secret": {"username": "other@contoso.test", "password": "Other-PW-" + secrets.token_hex(8)},
    }
    for path, data in secrets_v2.items():
        c.secrets.kv.v2.create_or_update_secret(path=path, secret=data, mount_point=kv2)
    # Three versions; the latest soft-deleted.
    versioned = [{"username": "v@contoso.test", "password": "Versioned-PW-%d-%s" % (i, secrets.token_hex(6))}
                 for i in (1, 2, 3)]
    for data in versioned:
        c.secrets.kv.v2.create_or_update_secret(path="smtp/versioned", secret=data, mount_point=kv2)
    c.secrets.kv.v2.delete_secret_versions(path="smtp/versioned", versions=[3], mount_point=kv2)
    # Two versions; the latest destroyed.
    destroyed = [{"username": "d@contoso.test", "password": "Destroyed-PW-%d-%s" % (i, secrets.token_hex(6))}
                 for i in (1, 2)]
    for data in destroyed:
        c.secrets.kv.v2.create_or_update_secret(path="smtp/destroyed", secret=data, mount_point=kv2)
    c.secrets.kv.v2.destroy_secret_versions(path="smtp/destroyed", versions=[2], mount_point=kv2)
    secrets_v1 = {"smtp/basic": {"username": "v1@contoso.test", "password": "KV1-PW-" + secrets.token_hex(8)}}
    for path, data in secrets_v1.items():
        c.secrets.kv.v1.create_or_update_secret(path=path, secret=data, mount_point=kv1)

    policy_read = "smtp_read_%s" % s
    c.sys.create_or_update_acl_policy(policy_read, (
        'path "%(kv2)s/data/smtp/*" { capabilities = ["read"] }\n'
        'path "%(kv2)s/metadata/smtp/*" { capabilities = ["read"] }\n'
        'path "%(kv1)s/smtp/*" { capabilities = ["read"] }\n') % {"kv2": kv2, "kv1": kv1})
    policy_rotate = "smtp_rotate_%s" % s
    c.sys.create_or_update_acl_policy(policy_rotate, (
        'path "%(kv2)s/data/smtp/rotate*" { capabilities = ["create", "update", "read"] }\n'
        'path "%(kv1)s/smtp/rotate*" { capabilities = ["create", "update", "read"] }\n') % {"kv2": kv2, "kv1": kv1})
    policies = [policy_read, policy_rotate]

    read_token = c.auth.token.create(policies=[policy_read], ttl="2h")["auth"]["client_token"]
    token_dir = Path(v.home) / "tokens"
    token_dir.mkdir(mode=0o700, exist_ok=True)
    read_token_file = token_dir / "read-token"
    read_token_file.write_text(read_token + "\n")
    read_token_file.chmod(0o600)
    rotate_token = c.auth.token.create(policies=policies, ttl="2h")["auth"]["client_token"]

    auths = c.sys.list_auth_methods()["data"]
    approle, userpass, jwtm, certm = ("approle_%s" % s, "userpass_%s" % s, "jwt_%s" % s, "cert_%s" % s)
    for method, path in (("approle", approle), ("userpass", userpass), ("jwt", jwtm), ("cert", certm)):
        if path + "/" not in auths:
            c.sys.enable_auth_method(method, path=path)
    c.auth.approle.create_or_update_approle("mailer", token_policies=[policy_read], token_ttl="10m",
                                            mount_point=approle)
    role_id = c.auth.approle.read_role_id("mailer", mount_point=approle)["data"]["role_id"]

    userpass_pw = "Userpass-PW-" + secrets.token_hex(8)
    c.auth.userpass.create_or_update_user("mailer", userpass_pw, policies=[policy_read], mount_point=userpass)

    jwt_key, jwt_pub = _jwt_keypair(Path(v.home))
    c.write_data("auth/%s/config" % jwtm, data={"jwt_validation_pubkeys": [jwt_pub]})
    c.write_data("auth/%s/role/mailer" % jwtm, data={
        "role_type": "jwt", "user_claim": "sub", "bound_audiences": ["mailops"],
        "token_policies": [policy_read], "token_ttl": "10m"})

    client_leaf = v.pki.issue("vault-client", ["mailer-client"], client=True)
    c.write_data("auth/%s/certs/mailer" % certm, data={
        "certificate": Path(v.ca_path).read_text(), "allowed_common_names": ["mailer-client"],
        "token_policies": [policy_read], "token_ttl": "10m"})

    v.info.update(
        kv2=kv2, kv1=kv1, secrets_v2=secrets_v2, secrets_v1=secrets_v1, versioned=versioned,
        destroyed=destroyed, policy_read=policy_read, read_token_file=str(read_token_file),
        rotate_token=rotate_token, approle_mount=approle, role_id=role_id, userpass_mount=userpass,
        userpass_password=userpass_pw, jwt_mount=jwtm, jwt_key=jwt_key, cert_mount=certm,
        client_cert=str(client_leaf.cert), client_key=str(client_leaf.key),
        created_tokens=[read_token, rotate_token], secret_mounts=[kv2, kv1],
        auth_mounts=[approle, userpass, jwtm, certm], policies=policies)
    if v.lab:
        _setup_lab_secrets(v, c, kv2)


def _setup_lab_secrets(v, c, kv2):
    """Credentials that work on the lab's stand-ins: the mailbox's password and the Entra app."""
    info = v.lab["standins"]
    cfg = json.loads(Path(info["config"]).read_text())
    app = cfg["apps"][info["client_id"]]
    lab_secrets = {
        "smtp/lab-mailer": {"username": info["mailbox"],
                            "password": cfg["mailboxes"][info["mailbox"]]["passwords"][0]},
        "smtp/lab-app": {"username": info["mailbox"], "tenant_id": info["tenant_id"],
                         "client_id": info["client_id"], "client_secret": app["secrets"][0]},
        # Each AADSTS case gets its own broken copy of the app credential.
        "smtp/lab-app-wrong-secret": {"username": info["mailbox"], "tenant_id": info["tenant_id"],
                                      "client_id": info["client_id"],
                                      "client_secret": "Wrong-Secret-" + secrets.token_hex(8)},
        "smtp/lab-app-unknown-app": {"username": info["mailbox"], "tenant_id": info["tenant_id"],
                                     "client_id": "0badc0de-0000-4000-8000-%012d" % random.randint(0, 10 ** 9),
                                     "client_secret": app["secrets"][0]},
        "smtp/lab-app-unknown-tenant": {"username": info["mailbox"], "tenant_id": "nobody.example",
                                        "client_id": info["client_id"], "client_secret": app["secrets"][0]},
        # For an app that the test registers with the stand-in, then expires the secret of.
        "smtp/lab-app-expiring": {"username": info["mailbox"], "tenant_id": info["tenant_id"],
                                  "client_id": "e0e0e0e0-0000-4000-8000-%s" % secrets.token_hex(6),
                                  "client_secret": "Expiring-Secret-" + secrets.token_hex(8)},
    }
    for path, data in lab_secrets.items():
        c.secrets.kv.v2.create_or_update_secret(path=path, secret=data, mount_point=kv2)
    expiring = lab_secrets["smtp/lab-app-expiring"]
    v.info.update(lab_secrets=lab_secrets, expiring_app=(expiring["client_id"], expiring["client_secret"]))


def teardown_vault(v):
    """Remove everything setup_vault made: the lab's OpenBao outlives this run."""
    c = v.client()
    for token in v.info.get("created_tokens", []):
        try:
            c.auth.token.revoke(token)
        except Exception:  # pylint: disable=broad-except
            pass
    for path in v.info.get("auth_mounts", []):
        c.sys.disable_auth_method(path)
    for path in v.info.get("secret_mounts", []):
        c.sys.disable_secrets_engine(path)
    for name in v.info.get("policies", []):
        c.sys.delete_policy(name)


def _lab_vault(state, tmp):
    """The lab's shared OpenBao: root token read from the lab's token file only."""
    home = tmp / "home"
    home.mkdir(mode=0o700)
    pki = load_ca(Path(state["pki"]["ca"]), Path(state["pki"]["ca_key"]), tmp / "pki")
    vs = state["vault"]
    return Vault(addr_http=vs["http"], addr_https=vs["https"], ca_path=vs.get("ca") or state["pki"]["ca"],
                 token_file=vs["token_file"], audit_log=vs["audit_log"], home=str(home), pki=pki,
                 suffix=secrets.token_hex(3), lab=state)


@pytest.fixture(scope="session")
def vault(tmp_path_factory):
    if not BAO.exists():
        pytest.skip("no bao binary at %s" % BAO)
    tmp = tmp_path_factory.mktemp("bao")
    state = lab_state()
    if state is not None:
        v = _lab_vault(state, tmp)
        _wait_http(v.addr_http + "/v1/sys/health")
        _wait_http(v.addr_https + "/v1/sys/health", cafile=v.ca_path)
        try:
            setup_vault(v)
            yield v
        finally:
            teardown_vault(v)
        return
    yield from _local_vault(tmp)


def _local_vault(tmp):
    """A private dev server on a random 127.0.0.x, when no lab is up."""
    home = tmp / "home"
    home.mkdir(mode=0o700)
    host = _pick_host()
    http_port, https_port = _free_port(host), _free_port(host)
    pki = CA(tmp / "pki")
    leaf = pki.issue("vault-server", [host, "localhost"])
    audit_log = tmp / "audit.log"
    conf = _write_config(tmp, host, https_port, leaf, audit_log)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    log = open(tmp / "server.log", "wb")
    proc = subprocess.Popen(
        [str(BAO), "server", "-dev", "-dev-listen-address=%s:%d" % (host, http_port), "-config=%s" % conf],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(tmp))
    try:
        _wait_http("http://%s:%d/v1/sys/health" % (host, http_port))
        token_file = home / ".vault-token"
        deadline = time.monotonic() + START_TIMEOUT
        while not (token_file.exists() and token_file.read_text().strip()):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the dev server wrote no root token; see %s" % (tmp / "server.log"))
            time.sleep(0.1)
        v = Vault(addr_http="http://%s:%d" % (host, http_port), addr_https="https://%s:%d" % (host, https_port),
                  ca_path=str(pki.cert_path), token_file=str(token_file), audit_log=str(audit_log),
                  home=str(home), pki=pki, suffix=secrets.token_hex(3))
        _wait_http(v.addr_https + "/v1/sys/health", cafile=v.ca_path)
        setup_vault(v)
        yield v
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


@pytest.fixture(scope="session")
def sealed_vault(vault):
    """A throwaway OpenBao, initialised and sealed for good, beside the real one."""
    host = vault.host
    proc, url = start_sealed_vault(host, _free_port(host))
    try:
        yield url
    finally:
        stop_sealed_vault(proc)


@pytest.fixture(scope="session")
def closed_port_url(vault):
    """A port on the Vault's own address where nothing listens: connection refused."""
    host = vault.host
    return "http://%s:%d" % (host, _free_port(host))


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    # Access tokens are cached per process; a cached one would hide the
    # token endpoint's answer from the next test.
    from ansible_collections.mailops.smtp.plugins.module_utils.oauth import clear_cache
    clear_cache()


# ---- ansible-playbook runs on localhost -----------------------------------------------------

class Ansible:
    """ansible-playbook on localhost with this checkout as mailops.smtp."""

    def __init__(self, work):
        self.dir = work
        coll = work / "collections" / "ansible_collections" / "mailops"
        coll.mkdir(parents=True)
        (coll / "smtp").symlink_to(REPO)
        home = work / "home"
        home.mkdir()
        self.env = {
            "PATH": "%s:%s" % (ANSIBLE_VENV / "bin", os.environ.get("PATH", "/usr/bin:/bin")),
            "HOME": str(home),
            "ANSIBLE_COLLECTIONS_PATH": str(work / "collections"),
            "ANSIBLE_LOCAL_TEMP": str(work / "ansible-tmp"),
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_PYTHON_INTERPRETER": str(ANSIBLE_VENV / "bin" / "python"),
            "ANSIBLE_CONFIG": str(work / "none.cfg"),
            "NO_PROXY": "*",
            "LANG": "C.UTF-8",
        }

    def inventory(self, hosts):
        inv = self.dir / ("inventory-%d.ini" % len(hosts))
        inv.write_text("[fleet]\n" + "\n".join(
            "%s ansible_connection=local ansible_python_interpreter=%s" % (h, ANSIBLE_VENV / "bin" / "python")
            for h in hosts) + "\n")
        return str(inv)

    def run(self, name, playbook, extra_vars, inventory="localhost,", verbosity=0, check=False):
        """Write and run a playbook; secrets go in a vars file, never on the command line."""
        pb = self.dir / ("%s.yml" % name)
        pb.write_text(playbook)
        vars_file = self.dir / ("%s-vars.json" % name)
        vars_file.write_text(json.dumps(extra_vars))
        vars_file.chmod(0o600)
        cmd = [str(ANSIBLE_VENV / "bin" / "ansible-playbook"), "-i", inventory, "-e", "@%s" % vars_file,
               str(pb)]
        if verbosity:
            cmd.append("-" + "v" * verbosity)
        if check:
            cmd.append("--check")
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=300, cwd=str(self.dir),
                              check=False)


@pytest.fixture(scope="session")
def ansible(tmp_path_factory):
    return Ansible(tmp_path_factory.mktemp("ansible"))


@pytest.fixture
def token_endpoint(vault):
    """A minimal HTTPS client-credentials endpoint on loopback, trusted through the test CA.

    Keeps the access-token path covered without a lab (the lab's Entra stand-in is
    used in test_vault_entra.py); it checks the secret it is given against the one
    stored in Vault.
    """
    import ssl
    import threading
    import urllib.parse
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    expected = vault.info["secrets_v2"]["smtp/app"]
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
            seen.append((self.path, form))
            ok = form.get("client_secret") == [expected["client_secret"]]
            status, body = (200, {"access_token": "AT-" + form["client_id"][0], "expires_in": 3600}) if ok else \
                (401, {"error": "invalid_client", "error_codes": [7000215], "error_description": "AADSTS7000215"})
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    host = _pick_host()
    leaf = vault.pki.issue("token-endpoint", [host])
    httpd = ThreadingHTTPServer((host, 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(leaf.cert), str(leaf.key))
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield {"authority": "https://%s:%d" % (host, httpd.server_address[1]), "seen": seen}
    finally:
        httpd.shutdown()
        httpd.server_close()
