"""A read-only web console on the stub: what a QA engineer checks while a scenario runs.

`GET /console` is one self-contained page (inline CSS and JS): the org tree, the users, the devices with
their online state and last login, every token with its state (masked: never whole), and the event
journal, live (the page polls). It reads two routes:

* `GET /api/v1/lab/console/state` -> `{"orgs", "users", "devices", "tokens"}` (tokens masked);
* `GET /api/v1/lab/console/events?after=N` -> `{"events", "last"}` (the journal masks its secrets).

Both need a bearer: a session of an Admin of the root org (the page logs in with the admin's email and
password) or the stub's console key (`provlab cloud serve` prints the console's address with it, after
`#key=`, which the browser never sends to a server). Nothing here changes the stub.
"""

from __future__ import annotations

import hmac
import json
import time
from typing import Any

from aiohttp import web

from provlab.cloud.lab_api import LAB_KEY, LabSurface
from provlab.cloud.records import IssuedToken
from provlab.cloud.tenancy_api import user_of
from provlab.protocol.numbers import ascii_decimal
from provlab.protocol.serial_log import mask_secret

CONSOLE_KEY = web.AppKey("console_key", str)
JSON = "application/json"


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(data), content_type="application/json")


def _reader(request: web.Request) -> LabSurface:
    """The stub, if the bearer is the console key or a root-org Admin's session; the HTTP error otherwise."""
    lab = request.app[LAB_KEY]
    auth = request.headers.get("Authorization", "")
    bearer = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
    if bearer and hmac.compare_digest(bearer, request.app[CONSOLE_KEY]):
        return lab
    user = user_of(request)
    if user is None:
        raise web.HTTPUnauthorized(text=_error("Login required (admin or console key)."), content_type=JSON)
    if user.role != "Admin" or user.org_id != lab.admin().org_id:
        raise web.HTTPForbidden(text=_error("The console is for the root org's Admins."), content_type=JSON)
    return lab


def _error(message: str) -> str:
    return json.dumps({"error": {"message": message}})


def token_state(issued: IssuedToken, now: float) -> str:
    if issued.revoked:
        return "revoked"
    if issued.activated:
        return "activated"
    return "expired" if issued.expired(now) else "waiting"


def state(lab: LabSurface) -> dict[str, Any]:
    """Everything the page shows but the journal, secrets masked."""
    store = lab.store
    parents = store.orgs.parents()
    orgs = [org for org in (store.orgs.get(org_id) for org_id in sorted(parents)) if org is not None]
    users = store.users.in_orgs(list(parents))
    emails = {user.id: user.email for user in users}
    last_login: dict[int, float] = {}
    for _, event in store.events.numbered("device_online"):
        if event.get("device_id") is not None:
            last_login[int(event["device_id"])] = float(event["ts"])
    now = time.time()
    return {
        "orgs": [{"id": o.id, "name": o.name, "parent": o.parent_id} for o in orgs],
        "users": [{"id": u.id, "email": u.email, "org": u.org_id, "role": u.role, "active": u.active} for u in users],
        "devices": [
            {
                "id": d.id,
                "name": d.name,
                "org": d.org_id,
                "owner": emails.get(d.owner_id, "") if d.owner_id is not None else "",
                "template": d.template_id,
                "online": lab.is_online(d.id),
                "last_login": last_login.get(d.id),
                "token": mask_secret(d.token) if d.token else "",
            }
            for d in store.devices.all()
        ],
        "tokens": [
            {
                "token": mask_secret(t.token),
                "kind": t.kind.value,
                "state": token_state(t, now),
                "user": emails.get(t.user_id, str(t.user_id)),
                "org": t.org_id,
                "device": t.device_id,
                "issued": t.issued_at,
            }
            for t in store.tokens.all()
        ],
    }


async def page(request: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html", headers={"Cache-Control": "no-store"})


async def console_state(request: web.Request) -> web.Response:
    return _json(state(_reader(request)))


async def console_events(request: web.Request) -> web.Response:
    lab = _reader(request)
    after = ascii_decimal(request.query.get("after", "0"))
    if after is None:  # `int()` took "١" and 2^63 (an OverflowError 500 in SQLite): plain decimal, as lab_api
        return _json({"error": {"message": "after must be an event number (ASCII digits, below 2^63)"}}, 400)
    numbered = lab.store.events.numbered(after_id=after)
    last = max([after, *(number for number, _ in numbered)])
    return _json({"events": [{"id": number, **event} for number, event in numbered[-500:]], "last": last})


def add_routes(app: web.Application, key: str) -> None:
    """The console's page and its two read-only routes (after `lab_api.add_routes`, which sets the stub)."""
    app[CONSOLE_KEY] = key
    app.router.add_get("/console", page)
    app.router.add_get("/api/v1/lab/console/state", console_state)
    app.router.add_get("/api/v1/lab/console/events", console_events)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>provlab cloud console</title>
<link rel="icon" href="data:,">
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.2em; color: #202124; }
h1 { font-size: 1.3em; margin: 0 0 .4em; } h2 { font-size: 1.05em; margin: 1em 0 .3em; }
#grid { display: grid; grid-template-columns: minmax(220px, 1fr) 3fr; gap: 0 24px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
td, th { padding: 3px 8px; border-bottom: 1px solid #e0e0e0; text-align: left; vertical-align: top; }
th { background: #f1f3f4; }
ul.tree, ul.tree ul { list-style: none; padding-left: 1.1em; margin: 0; }
.mono { font-family: ui-monospace, monospace; }
.online { color: #188038; font-weight: 600; } .offline { color: #5f6368; }
.revoked, .expired { color: #c5221f; } .activated { color: #188038; } .waiting { color: #b06000; }
#journal { max-height: 24em; overflow: auto; border: 1px solid #e0e0e0; }
#login { display: none; margin: 1em 0; } #login input { margin-right: 6px; }
#status { color: #5f6368; font-size: 12px; } .k { color: #5f6368; }
</style></head><body>
<h1>provlab cloud console <span id="status"></span></h1>
<form id="login"><b>Admin login</b> <input id="email" type="email" placeholder="email" autocomplete="username">
<input id="password" type="password" placeholder="password" autocomplete="current-password">
<button type="submit">log in</button> <span id="login-error" class="revoked"></span></form>
<div id="grid">
<div><h2>Organizations</h2><ul class="tree" id="orgs"></ul>
<h2>Users</h2><table id="users"><thead><tr><th>email</th><th>org</th><th>role</th></tr></thead>
<tbody></tbody></table></div>
<div><h2>Devices</h2><table id="devices"><thead><tr><th>id</th><th>name</th><th>org</th><th>owner</th><th>state</th>
<th>last login</th><th>token</th></tr></thead><tbody></tbody></table>
<h2>Tokens</h2><table id="tokens"><thead><tr><th>token</th><th>kind</th><th>state</th><th>user</th><th>org</th>
<th>device</th><th>issued</th></tr></thead><tbody></tbody></table>
<h2>Event journal (live)</h2><div id="journal"><table><thead><tr><th>#</th><th>time</th><th>kind</th><th>device</th>
<th>detail</th></tr></thead><tbody id="events"></tbody></table></div></div>
</div>
<script>
(function () {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('key');
  if (fromHash) {
    sessionStorage.setItem('provlab-console', fromHash);
    history.replaceState(null, '', location.pathname);  // the key leaves the address bar
  }
  let key = sessionStorage.getItem('provlab-console');
  let last = 0, orgNames = {};
  const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls; return e; };
  const row = (cells) => {
    const tr = el('tr');
    for (const c of cells) tr.appendChild(c instanceof Node ? c : el('td', c));
    return tr;
  };
  const cell = (text, cls) => el('td', text, cls);
  const when = ts => ts ? new Date(ts * 1000).toISOString().replace('T', ' ').slice(0, 23) : '-';
  const readable = v => v && typeof v === 'object'
    ? Object.entries(v).filter(([, x]) => x !== null && x !== '').map(([k, x]) => k + ': ' + readable(x)).join(', ')
    : String(v);
  async function get(path) {
    const r = await fetch(path, { headers: { Authorization: 'Bearer ' + key } });
    if (r.status === 401 || r.status === 403) { throw new Error('login'); }
    if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
    return r.json();
  }
  function showState(s) {
    orgNames = Object.fromEntries(s.orgs.map(o => [o.id, o.name]));
    const tree = document.getElementById('orgs'); tree.textContent = '';
    const add = (parent, into) => { for (const o of s.orgs.filter(o => o.parent === parent)) {
      const li = el('li', o.name + ' (#' + o.id + ')'); li.dataset.org = o.id; const ul = el('ul'); li.appendChild(ul);
      into.appendChild(li); add(o.id, ul); } };
    add(null, tree);
    const fill = (id, rows) => { const body = document.querySelector('#' + id + ' tbody'); body.textContent = '';
      for (const r of rows) body.appendChild(r); };
    fill('users', s.users.map(u => row([u.email, orgNames[u.org] || u.org, u.role + (u.active ? '' : ' (invited)')])));
    fill('devices', s.devices.map(d => { const r = row([String(d.id), d.name, orgNames[d.org] || d.org, d.owner || '-',
      cell(d.online ? 'online' : 'offline', d.online ? 'online' : 'offline'), when(d.last_login),
      cell(d.token, 'mono')]); r.dataset.device = d.id; return r; }));
    fill('tokens', s.tokens.map(t => row([cell(t.token, 'mono'), t.kind, cell(t.state, t.state), t.user,
      orgNames[t.org] || t.org, t.device === null ? '-' : String(t.device), when(t.issued)])));
  }
  function showEvents(page) {
    const body = document.getElementById('events');
    for (const e of page.events) {
      const { id, ts, kind, device_id, ...detail } = e;
      const device = device_id === null ? '-' : String(device_id);
      body.appendChild(row([String(id), when(ts), kind, device, readable(detail)]));
    }
    if (page.events.length) document.getElementById('journal').scrollTop = 1e9;
    last = page.last;
  }
  async function tick() {
    if (!key) { document.getElementById('login').style.display = 'block'; return; }
    try {
      showState(await get('/api/v1/lab/console/state'));
      showEvents(await get('/api/v1/lab/console/events?after=' + last));
      document.getElementById('status').textContent = 'updated ' + new Date().toLocaleTimeString();
      document.getElementById('login').style.display = 'none';
    } catch (err) {
      if (err.message === 'login') { key = null; sessionStorage.removeItem('provlab-console'); }
      document.getElementById('status').textContent = err.message === 'login' ? 'log in to see the stub' : err.message;
    }
    setTimeout(tick, 1000);
  }
  document.getElementById('login').addEventListener('submit', async ev => {
    ev.preventDefault();
    const r = await fetch('/api/v1/auth/login', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: document.getElementById('email').value,
                             password: document.getElementById('password').value }) });
    if (!r.ok) { document.getElementById('login-error').textContent = 'login refused (HTTP ' + r.status + ')'; return; }
    key = (await r.json()).accessToken; sessionStorage.setItem('provlab-console', key);
    document.getElementById('password').value = '';
    tick();
  });
  tick();
})();
</script>
</body></html>
"""
