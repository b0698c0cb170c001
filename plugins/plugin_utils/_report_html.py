# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""report.html: one self-contained page for people who have never heard of Ansible.

Internal use only. Inline CSS and a little inline JavaScript (sort and filter);
nothing is fetched from the network, and a Content-Security-Policy makes sure
of it. Every value from the report is HTML-escaped: server replies are
untrusted text.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from html import escape

from ansible_collections.mailops.smtp.plugins.plugin_utils._report import STATUS_ORDER
from ansible_collections.mailops.smtp.plugins.plugin_utils._report_relay import check_rows, path_rows

STAGE_LABEL = {"dns": "DNS", "connect": "Connect", "tls": "TLS", "banner": "Banner", "ehlo": "EHLO",
               "starttls": "STARTTLS", "ehlo_tls": "EHLO (TLS)", "auth": "Login", "send": "Send"}
STAGE_HELP = {"dns": "looking up the mail server's address", "connect": "opening the connection",
              "tls": "setting up encryption", "banner": "the server's greeting", "ehlo": "asking what the server offers",
              "starttls": "asking to switch to encryption", "ehlo_tls": "asking again, encrypted (login methods)",
              "auth": "logging in", "send": "sending a test message"}
STATUS_LABEL = {"pass": "Works", "warn": "Warning", "info": "Not offered", "fail": "Fails",
                "unreachable": "Unreachable"}
STATUS_HELP = {"pass": "works", "warn": "works, with a warning", "info": "not offered by the server, as expected",
               "fail": "fails", "unreachable": "the host could not be reached to run the check"}
READY_PILL = {"ready": ("yes", "Ready"), "blocked": ("no", "Not ready"), "not_applicable": ("info", "Not applicable")}
SEVERITY_LABEL = {"fail": "Needs fixing", "warning": "Warning", "info": "For information"}


def _readiness_help(endpoint):
    """What "ready" means for the endpoint that was probed: its token authority and its applications' port."""
    authority = re.sub(r"^[a-z]+://", "", endpoint["oauth_authority"] or "").split("/")[0]
    port = endpoint["apps_port"]
    return (
        ("Token endpoint", "the host can reach the sign-in service (%s, port 443) to fetch OAuth 2.0 tokens"
         % authority),
        ("Port %s with XOAUTH2" % port, "the mail server answers on port %s, the applications' port, sets up "
                                        "encryption, and then offers the XOAUTH2 login" % port),
        ("Applications", "every application configured on the host can log in with OAuth 2.0"),
    )


GLOSSARY = (
    ("Port 587 and STARTTLS", "The port on which applications hand mail to Microsoft 365. The connection starts "
                              "unencrypted and switches to encryption (STARTTLS) before anything secret is sent."),
    ("Port 465", "An older port that starts encrypted right away. Microsoft 365 does not offer it for "
                 "application mail, so a silent 465 is expected."),
    ("XOAUTH2 (OAuth 2.0)", "Logging in to the mail server with a short-lived token instead of a password. "
                            "Microsoft disables password logins (basic authentication) for SMTP by default at the "
                            "end of December 2026."),
    ("Token endpoint", "Microsoft's sign-in service that hands out those tokens."),
    ("Connector path", "Sending through the organisation's own Microsoft 365 address on port 25, accepted by "
                       "IP address or certificate, without any mailbox login: the way out for applications "
                       "that cannot use OAuth 2.0."),
    ("Silently dropped / refused", "A firewall that drops traffic makes the connection wait until it gives up "
                                   "(timeout); one that rejects it answers at once (refused)."),
)

CSS = """
:root{--ok:#1a7f37;--ok-bg:#dafbe1;--fail:#c62828;--fail-bg:#ffe4e4;--warn:#9a6700;--warn-bg:#fff3c4;
--info:#4a5a70;--info-bg:#e8eef6;--unr:#6e40c9;--unr-bg:#efe6ff;--line:#d8dee4;--muted:#57606a;--ink:#1f2328;
--paper:#f6f8fa;--accent:#0b5cad}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--ink);background:var(--paper)}
header{background:#12355b;color:#fff;padding:22px 56px 18px}
header h1{margin:0;font-size:24px;font-weight:600}
header p{margin:4px 0 0;color:#c9d6e6;font-size:14px}
main{max-width:1480px;margin:0 auto;padding:24px 32px 48px}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:20px 24px;margin:0 0 22px}
h2{margin:0 0 6px;font-size:19px}
.lead{margin:0 0 14px;color:var(--muted)}
.headline{font-size:26px;font-weight:650;margin:0 0 2px}
.bar{display:flex;height:16px;border-radius:8px;overflow:hidden;margin:14px 0 8px;background:var(--line)}
.bar span{display:block;height:100%}
.legend{display:flex;flex-wrap:wrap;gap:18px;font-size:13px;color:var(--muted)}
.legend i{display:inline-block;width:11px;height:11px;border-radius:3px;margin-right:6px;vertical-align:-1px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(200px,1fr));gap:14px;margin-top:18px}
.card{border:1px solid var(--line);border-radius:8px;padding:12px 14px}
.card b{display:block;font-size:22px}
.card span{color:var(--muted);font-size:13px}
.verdict-pass{border-color:var(--ok);background:var(--ok-bg)}
.verdict-fail{border-color:var(--fail);background:var(--fail-bg)}
.finding{border:1px solid var(--line);border-left:6px solid var(--fail);border-radius:8px;padding:12px 16px;
margin:0 0 12px}
.finding.warning{border-left-color:var(--warn)}
.finding.info{border-left-color:var(--info)}
.finding h3{margin:2px 0 6px;font-size:16px}
.finding p{margin:4px 0}
.meta{font-size:13px;color:var(--muted)}
.count{display:inline-block;font-weight:700;color:#fff;background:var(--fail);border-radius:10px;padding:0 9px;
margin-right:6px}
.warning .count{background:var(--warn)}
.info .count{background:var(--info)}
.label{font-weight:600}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--paper);
border:1px solid var(--line);border-radius:4px;padding:0 4px}
.chip{display:inline-block;border:1px solid var(--line);background:var(--paper);border-radius:12px;
padding:0 9px;margin:2px 4px 2px 0;font-size:13px;cursor:pointer;color:var(--ink)}
.chip:hover{border-color:var(--accent);color:var(--accent)}
table{border-collapse:collapse;width:100%;font-size:14px}
#records{font-size:13.5px}
#records th{padding:7px 6px;font-size:12.5px}
td.problem{min-width:200px}
th,td{text-align:left;padding:7px 9px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--paper);font-weight:600;white-space:nowrap;position:sticky;top:0}
th.sortable{cursor:pointer;user-select:none}
th.sortable:after{content:" \\2195";color:#8c959f;font-size:11px}
th[aria-sort=ascending]:after{content:" \\25B2";color:var(--ink)}
th[aria-sort=descending]:after{content:" \\25BC";color:var(--ink)}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.st{text-align:center;font-size:12.5px;white-space:nowrap;font-variant-numeric:tabular-nums;padding:7px 5px}
td.st.ok{background:var(--ok-bg);color:var(--ok)}
td.st.bad{background:var(--fail-bg);color:var(--fail);font-weight:600}
td.st.note{background:var(--info-bg);color:var(--info)}
td.st.none{color:#afb8c1}
.pill{display:inline-block;border-radius:10px;padding:0 9px;font-size:13px;font-weight:600;white-space:nowrap}
.pill.pass,.pill.yes{background:var(--ok-bg);color:var(--ok)}
.pill.fail,.pill.no{background:var(--fail-bg);color:var(--fail)}
.pill.warn{background:var(--warn-bg);color:var(--warn)}
.pill.info{background:var(--info-bg);color:var(--info)}
.pill.unreachable{background:var(--unr-bg);color:var(--unr)}
.days-bad{color:var(--fail);font-weight:600}.days-warn{color:var(--warn);font-weight:600}
.controls{display:flex;flex-wrap:wrap;gap:12px;align-items:center;margin:0 0 12px}
.controls input,.controls select{font:inherit;padding:6px 10px;border:1px solid var(--line);border-radius:6px}
.controls input{min-width:300px}
#shown{color:var(--muted);font-size:13px}
.scroll{overflow-x:auto}
ul.reasons{margin:0;padding-left:18px}
details summary{cursor:pointer;color:var(--accent);margin:6px 0}
dl.gloss dt{font-weight:600;margin-top:8px}dl.gloss dd{margin:0 0 0 0;color:var(--muted)}
footer{color:var(--muted);font-size:13px;text-align:center;padding:0 0 30px}
a{color:var(--accent)}
"""

JS = """
(function(){
  var table=document.getElementById('records');
  var body=table.tBodies[0];
  var rows=Array.prototype.slice.call(body.rows);
  var q=document.getElementById('q'), st=document.getElementById('status'), shown=document.getElementById('shown');
  function apply(){
    var text=q.value.trim().toLowerCase(), want=st.value, n=0, hosts={};
    rows.forEach(function(r){
      var okText=!text||r.textContent.toLowerCase().indexOf(text)>=0;
      var okStatus=!want||(want==='problems'?(r.dataset.status==='fail'||r.dataset.status==='unreachable'||
        r.dataset.status==='warn'):(want==='notready'?r.dataset.ready==='no':r.dataset.status===want));
      var vis=okText&&okStatus; r.hidden=!vis;
      if(vis){n++;hosts[r.dataset.host]=1;}
    });
    shown.textContent='Showing '+n+' of '+rows.length+' rows ('+Object.keys(hosts).length+' hosts)';
  }
  function key(r,i){var c=r.cells[i];return c.hasAttribute('data-v')?c.getAttribute('data-v'):c.textContent;}
  Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th,i){
    if(!th.classList.contains('sortable'))return;
    th.addEventListener('click',function(){
      var asc=th.getAttribute('aria-sort')!=='ascending';
      Array.prototype.forEach.call(table.tHead.rows[0].cells,function(o){o.removeAttribute('aria-sort');});
      th.setAttribute('aria-sort',asc?'ascending':'descending');
      rows.sort(function(a,b){
        var x=key(a,i),y=key(b,i),nx=parseFloat(x),ny=parseFloat(y),c;
        c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y,undefined,{numeric:true});
        return asc?c:-c;
      });
      rows.forEach(function(r){body.appendChild(r);});
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll('.chip[data-host]'),function(c){
    c.addEventListener('click',function(){q.value=c.dataset.host;st.value='';apply();
      table.scrollIntoView({behavior:'smooth'});});
  });
  q.addEventListener('input',apply); st.addEventListener('change',apply);
  apply();
  document.body.setAttribute('data-js','ready');
})();
"""


def e(value):
    return escape("" if value is None else str(value), quote=True)


def _pct(part, whole):
    return 0.0 if not whole else 100.0 * part / whole


def _summary(report):
    s = report["summary"]
    n = s["hosts"]
    hosts = report["hosts"]
    ready = sum(1 for h in hosts if h["readiness"]["ready"])
    unreachable = sum(1 for h in hosts if h["status"] == "unreachable")
    failed = sum(1 for h in hosts if not h["ok"] and h["status"] != "unreachable")
    na_ok = sum(1 for h in hosts if h["ok"] and h["readiness"]["status"] == "not_applicable")
    blocked_ok = n - ready - unreachable - failed - na_ok
    segments = [(ready, "var(--ok)", "ready for XOAUTH2"), (na_ok, "var(--ok)", "connects (XOAUTH2 not applicable)"),
                (blocked_ok, "var(--warn)", "connects, but not ready"),
                (failed, "var(--fail)", "connection check fails"), (unreachable, "var(--unr)", "not reachable")]
    segs = "".join('<span style="width:%.3f%%;background:%s" title="%d %s"></span>' % (_pct(c, n), col, c, e(t))
                   for c, col, t in segments if c)
    legend = "".join('<span><i style="background:%s"></i>%d %s</span>' % (col, c, e(t)) for c, col, t in segments)
    days = s["cert_min_days_left"]
    verdict = "pass" if s["passed"] else "fail"
    cards = [
        ('<b>%d of %d</b><span>hosts passed the connection check</span>' % (s["hosts_ok"], n), ""),
        ('<b>%d</b><span>hosts failed%s</span>' % (s["hosts_failed"], " (%d not reachable)" % unreachable
                                                   if unreachable else ""), ""),
        ('<b>%s</b><span>%s%% of hosts failed; %s%% allowed</span>' % (
            "Passed" if s["passed"] else "Failed", _num(s["fail_percentage"]), _num(s["max_fail_percentage"])),
         " verdict-" + verdict),
        ('<b>%s</b><span>earliest server certificate expiry</span>' % (
            "%d days" % days if days is not None else "none seen"), ""),
    ]
    cred = report.get("credential")
    if cred is not None and not cred["ok"]:
        cards.insert(0, ('<b>Not fetched</b><span>the credential, so no login was checked: %s</span>'
                         % e(cred["diagnosis"]["cause"]), " verdict-fail"))
    cause = ('<p class="lead"><span class="label">Cause:</span> %s</p>' % _prose(s["cause"])
             if s.get("cause") else "")
    return ('<section id="summary"><p class="headline">%s</p>%s<p class="lead"><b>XOAUTH2 readiness: %s.</b> '
            '&ldquo;Ready&rdquo; means the host can send mail through Microsoft 365 with OAuth 2.0 '
            '(XOAUTH2), which keeps working after password logins for SMTP are switched off.</p>'
            '<div class="bar" role="img" aria-label="%s">%s</div><div class="legend">%s</div>'
            '<div class="cards">%s</div></section>') % (
        e(s["verdict"]), cause, e(s["headline"]), e(s["headline"]), segs, legend,
        "".join('<div class="card%s">%s</div>' % (cls, body) for body, cls in cards))


def _prose(text):
    """Escaped catalogue text, with its `backtick` spans set as code."""
    parts = e(text).split("`")
    if len(parts) % 2 == 0:
        return e(text)
    return "".join(("<code>%s</code>" % p) if i % 2 else p for i, p in enumerate(parts))


def _num(v):
    return ("%.2f" % v).rstrip("0").rstrip(".")


def _chips(hosts):
    return "".join('<button type="button" class="chip" data-host="%s">%s</button>' % (e(h), e(h)) for h in hosts)


def _finding(f):
    ports = ", ".join(str(p) for p in f["ports"])
    ref = ('<p class="meta">Reference: <a href="%s" rel="noreferrer">%s</a></p>' % (e(f["reference"]),
                                                                                    e(f["reference"]))
           if f["reference"] else "")
    return ('<div class="finding %s" data-code="%s"><div class="meta"><span class="count">%d host%s</span>'
            '%s <code>%s</code> &middot; %s</div><h3>%s</h3>'
            '<p><span class="label">Why:</span> %s</p><p><span class="label">What to do:</span> %s</p>'
            '<p class="meta">Hosts: %s</p>%s</div>') % (
        e(f["severity"]), e(f["code"]), f["host_count"], "" if f["host_count"] == 1 else "s",
        ("port%s %s &middot;" % ("" if len(f["ports"]) == 1 else "s", e(ports))) if ports else "", e(f["code"]), e(SEVERITY_LABEL[f["severity"]]),
        _prose(f["title"]), _prose(f["cause"]), _prose(f["fix"]), _chips(f["hosts"]), ref)


def _findings(report):
    main = [f for f in report["findings"] if f["severity"] != "info"]
    info = [f for f in report["findings"] if f["severity"] == "info"]
    body = "".join(_finding(f) for f in main) or '<p class="lead">Nothing to fix: every check passed.</p>'
    if info:
        body += ('<details><summary>%d informational finding%s (nothing to fix)</summary>%s</details>'
                 % (len(info), "" if len(info) == 1 else "s", "".join(_finding(f) for f in info)))
    return ('<section id="findings"><h2>What needs fixing</h2><p class="lead">Problems grouped by cause, '
            'most hosts first. Click a host to see its rows below.</p>%s</section>') % body


def _app(app):
    kind = "yes" if app["oauth"] else "no"
    return '%s <span class="pill %s">%s</span>' % (e(app["name"]), kind, "OAuth" if app["oauth"] else "no OAuth")


def _readiness(report):
    rows = []
    for h in report["hosts"]:
        rd = h["readiness"]
        reasons = ('<ul class="reasons">%s</ul>' % "".join("<li>%s</li>" % e(r["text"]) for r in rd["reasons"])
                   if rd["reasons"] else ("Nothing" if rd["ready"] else
                                          "The endpoint has no OAuth token authority: XOAUTH2 does not apply"))
        if rd["apps"] is None:
            apps = '<span class="meta">not known</span>'
        else:
            apps = ", ".join(_app(a) for a in rd["apps"]) or '<span class="meta">none</span>'
        conn = rd["connector"]
        if conn is None:
            conn_html = '<span class="meta">not checked</span>'
        else:
            conn_html = '<span class="pill %s">%s</span> <span class="meta">%s</span>' % (
                "yes" if conn["reachable"] else "no", "reachable" if conn["reachable"] else "not reachable",
                e(conn["summary"]))
        rows.append('<tr data-host="%s"><td>%s</td><td><span class="pill %s">%s</span></td><td>%s</td>'
                    '<td>%s</td><td>%s</td></tr>' % (
                        e(h["host"]), e(h["host"]), READY_PILL[rd["status"]][0], READY_PILL[rd["status"]][1],
                        reasons, apps, conn_html))
    applicable = [h["endpoint"] for h in report["hosts"] if h["endpoint"]["oauth_authority"]]
    if applicable:
        helps = ('<p class="lead">A host is ready when all of these hold:</p><ul class="meta">%s</ul>' % "".join(
            "<li><b>%s</b>: %s</li>" % (e(a), e(b)) for a, b in _readiness_help(applicable[0])))
    else:
        helps = ('<p class="lead">The endpoint has no OAuth 2.0 token authority, so XOAUTH2 readiness does not '
                 'apply to it.</p>')
    return ('<section id="readiness"><h2>Ready for OAuth 2.0 (XOAUTH2)?</h2>%s'
            '<div class="scroll"><table id="ready-table"><thead><tr><th>Host</th><th>Ready</th>'
            '<th>What stands in the way</th><th>Applications</th><th>Connector path (port 25)</th></tr></thead>'
            '<tbody>%s</tbody></table></div></section>') % (helps, "".join(rows))


def _word_pill(word):
    return '<span class="pill %s">%s</span>' % ({"yes": "yes", "ok": "yes", "no": "no"}.get(word, "meta"), e(word))


def _paths(report):
    """Each application's path, whether it works now and survives the retirement, and the relay checks."""
    rows = path_rows(report)
    checks = check_rows(report)
    if not rows and not checks:
        return ""
    body = ""
    if rows:
        # The observed column only when validate read the hosts' files (issue 21).
        seen = any(r["observed"] != "not read" for r in rows)
        cells = "".join(
            '<tr data-host="%s"><td>%s</td><td>%s</td>%s<td>%s</td><td>%s</td><td>%s</td></tr>' % (
                e(r["host"]), e(r["host"]), e(r["app"]), ("<td>%s</td>" % e(r["observed"])) if seen else "",
                e(r["path"]), _word_pill(r["works_now"]), _word_pill(r["survives"])) for r in rows)
        body += ('<div class="scroll"><table id="paths-table"><thead><tr><th>Host</th><th>Application</th>%s'
                 '<th>Path</th><th>Works now</th><th>Survives the retirement</th></tr></thead><tbody>%s</tbody>'
                 '</table></div>') % ("<th>Observed</th>" if seen else "", cells)
    if checks:
        body += ('<h3>Relays</h3><div class="scroll"><table id="relay-table"><thead><tr><th>Host</th><th>Check</th>'
                 '<th>Result</th><th>Details</th></tr></thead><tbody>%s</tbody></table></div>') % "".join(
            '<tr data-host="%s"><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>' % (
                e(c["host"]), e(c["host"]), e(c["name"]),
                _word_pill("ok" if c["ok"] else ("not checked" if c["ok"] is None else "no")),
                e(("%s: " % c["diagnosis"]["code"] if c["diagnosis"] else "") + (c["text"] or ""))) for c in checks)
    return ('<section id="paths"><h2>Each application&#39;s way to Microsoft 365</h2><p class="lead">Direct, or '
            'through a relay of our own; whether it works now, and whether it still will once basic '
            'authentication is retired.</p>%s</section>') % body


def _stage_cell(r, name):
    found = [s for s in r["stages"] if s["name"] == name]
    if name == "auth" and not r.get("auth"):
        # No login was tried on this port (none asked, or another port logged in for it).
        why = found[-1]["detail"] if found else "no login was tried on this port"
        return '<td class="st none" data-v="" title="%s">&ndash;</td>' % e("Login: " + why)
    if not found:
        return '<td class="st none" data-v="">&ndash;</td>'
    s = found[-1]
    ms = "" if s["ms"] is None else "{:,}".format(s["ms"])
    if s["ok"]:
        cls, mark = "ok", "&#10003; "
    elif r["status"] == "info":
        cls, mark = "note", "&ndash; "
    else:
        cls, mark = "bad", "&#10007; "
    return '<td class="st %s" data-v="%s" title="%s">%s%s</td>' % (
        cls, "" if s["ms"] is None else s["ms"], e("%s: %s" % (STAGE_LABEL.get(name, name), s["detail"])),
        mark, e(ms))


def _cert_cell(r):
    cert = (r["tls"] or {}).get("cert")
    if not cert:
        return '<td data-v="">&ndash;</td>'
    days = cert.get("days_left")
    cls = "" if days is None else ("days-bad" if days < 7 else ("days-warn" if days < 30 else ""))
    notes = []
    if cert.get("chain_trusted") is False:
        notes.append("not trusted")
    if cert.get("hostname_match") is False:
        notes.append("wrong name")
    return '<td data-v="%s" title="%s"><span class="%s">%s</span>%s</td>' % (
        "" if days is None else days,
        e("%s, issued by %s, expires %s" % (cert.get("subject"), cert.get("issuer"), cert.get("not_after"))),
        cls, e("%s days" % days if days is not None else "?"),
        (" <span class=\"days-bad\">(%s)</span>" % e(", ".join(notes))) if notes else "")


def _records(report):
    used = set(s["name"] for r in report["records"] for s in r["stages"])
    # The login column is always shown: "-" where no login was tried says as much as a result.
    stages = [n for n in ("dns", "connect", "banner", "ehlo", "starttls", "tls", "ehlo_tls", "auth", "send")
              if n in used or n == "auth"]
    head = ('<tr><th class="sortable">Host</th><th class="sortable">Port</th><th class="sortable">Result</th>%s'
            '<th class="sortable">TLS</th><th class="sortable">Certificate</th>'
            '<th class="sortable">Problem</th><th class="sortable">Time</th></tr>') % "".join(
        '<th class="sortable" title="%s">%s</th>' % (e(STAGE_HELP.get(n, n)), e(STAGE_LABEL.get(n, n)))
        for n in stages)
    rows = []
    for r in report["records"]:
        d = r["diagnosis"]
        problem = ('%s <div class="meta"><code>%s</code></div>' % (_prose(d["title"]), e(d["code"])) if d else "")
        hint = "Fix: %s" % d["fix"] if d else ""
        if r.get("message"):
            hint = "%s\n\n%s" % (r["message"], hint)
        tls = r["tls"] or {}
        rows.append(
            '<tr data-host="%s" data-status="%s" data-ready="%s"><td>%s</td><td class="num">%s</td>'
            '<td data-v="%d" title="%s"><span class="pill %s">%s</span></td>%s<td title="%s">%s</td>%s'
            '<td class="problem" title="%s">%s</td><td class="num" data-v="%d">%s&nbsp;ms</td></tr>' % (
                e(r["host"]), e(r["status"]), "yes" if r["ready"] else "no", e(r["host"]),
                "" if r["port"] is None else r["port"], STATUS_ORDER.index(r["status"]),
                e(STATUS_HELP[r["status"]]), e(r["status"]), e(STATUS_LABEL[r["status"]]),
                "".join(_stage_cell(r, n) for n in stages), e(tls.get("cipher") or ""),
                e(tls.get("version") or "\u2013"), _cert_cell(r), e(hint), problem, r["elapsed_ms"],
                "{:,}".format(r["elapsed_ms"])))
    options = "".join('<option value="%s">%s</option>' % (v, e(t)) for v, t in (
        ("", "All rows"), ("problems", "Only problems"), ("notready", "Only hosts not ready"), ("fail", "Fails"),
        ("unreachable", "Host not reachable"), ("warn", "Works, with a warning"), ("pass", "Works"),
        ("info", "Not offered by the server (expected)")))
    return ('<section id="table"><h2>Every host and port</h2><p class="lead">Each row is one host talking to '
            'one port of the mail server. The coloured cells are the steps of the conversation, with the time '
            'each took in milliseconds; hover over a cell for what the server said. Click a column title to '
            'sort.</p>'
            '<div class="controls"><input id="q" type="search" placeholder="Filter: host, port, problem..." '
            'aria-label="Filter rows"><select id="status" aria-label="Show">%s</select>'
            '<span id="shown">Showing %d rows</span></div>'
            '<div class="scroll"><table id="records"><thead>%s</thead><tbody>%s</tbody></table></div>'
            '</section>') % (options, len(rows), head, "".join(rows))


def _certificates(report):
    certs = {}
    for r in report["records"]:
        cert = (r["tls"] or {}).get("cert")
        if not cert:
            continue
        key = (cert.get("subject"), cert.get("issuer"), cert.get("not_after"))
        entry = certs.setdefault(key, {"cert": cert, "seen": []})
        entry["seen"].append("%s:%s" % (r["host"], r["port"]))
    if not certs:
        return ""
    rows = []

    def soonest(entry):
        days = entry["cert"].get("days_left")
        return (days is None, days or 0)

    for entry in sorted(certs.values(), key=soonest):
        c = entry["cert"]
        days = c.get("days_left")
        cls = "" if days is None else ("days-bad" if days < 7 else ("days-warn" if days < 30 else ""))
        rows.append('<tr><td>%s</td><td>%s</td><td>%s</td><td class="num"><span class="%s">%s</span></td>'
                    '<td>%s</td><td>%s</td><td class="meta">%s</td></tr>' % (
                        e(c.get("subject")), e(c.get("issuer")), e(c.get("not_after")), cls,
                        e(days if days is not None else "?"), _yes_no(c.get("chain_trusted")),
                        _yes_no(c.get("hostname_match")), e(", ".join(entry["seen"]))))
    return ('<section id="certificates"><h2>Server certificates</h2><p class="lead">The certificates the mail '
            'server presented. One that is not trusted, or that differs between hosts, can mean a proxy '
            'intercepts the traffic.</p><div class="scroll"><table><thead><tr><th>Subject</th><th>Issuer</th>'
            '<th>Expires</th><th>Days left</th><th>Trusted</th><th>Name matches</th><th>Seen on</th></tr>'
            '</thead><tbody>%s</tbody></table></div></section>') % "".join(rows)


def _yes_no(v):
    if v is None:
        return '<span class="meta">not checked</span>'
    return '<span class="pill %s">%s</span>' % ("yes" if v else "no", "yes" if v else "no")


def render(report):
    s = report["summary"]
    gloss = "".join("<dt>%s</dt><dd>%s</dd>" % (e(a), e(b)) for a, b in GLOSSARY)
    return "".join((
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; '
        'script-src \'unsafe-inline\'; img-src data:; base-uri \'none\'; form-action \'none\'">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        "<title>%s</title><style>%s</style></head><body>" % (e(report["title"]), CSS),
        "<header><h1>%s</h1><p>Checked from %d host%s on port%s %s &middot; generated %s</p></header><main>" % (
            e(report["title"]), s["hosts"], "" if s["hosts"] == 1 else "s",
            "" if len(report["ports"]) == 1 else "s", e(", ".join(str(p) for p in report["ports"]) or "-"),
            e(report["generated"])),
        _summary(report), _findings(report), _readiness(report), _paths(report), _records(report),
        _certificates(report),
        '<section id="glossary"><details><summary>What do these words mean?</summary><dl class="gloss">%s</dl>'
        '</details></section>' % gloss,
        "</main><footer>Written by the mailops.smtp fleet report. This page is self-contained: it loads "
        "nothing from the network. The same data is in report.json.</footer>",
        "<script>%s</script></body></html>\n" % JS,
    ))
