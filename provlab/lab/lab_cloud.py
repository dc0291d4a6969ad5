"""The lab's cloud as the lab sees it: one interface, whether the stub runs in this process or elsewhere.

`EmbeddedCloud` starts a `CloudStub` on the lab's loop; `RemoteLabCloud` talks to a running
`provlab cloud serve` through provlab's lab API. The `Lab` asks either the same questions (journal, users,
devices, presence, mail) and never branches on which one it has; what only an embedded stub can do (its
store, fault knobs, restarts) comes from `stub()`, which a remote cloud answers with `NeedsEmbeddedCloud`
(reported as a skip).
"""

from __future__ import annotations

import json
import secrets
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from provlab.clock.base import LabClock
from provlab.clock.loop_thread import LoopThread
from provlab.cloud.credentials import CredentialLimits
from provlab.cloud.records import Device, User
from provlab.cloud.stub import CloudStub, Endpoints
from provlab.lab.capabilities import NeedsEmbeddedCloud
from provlab.lab.config import LabConfig, SeedOrg
from provlab.lab.journal import mask_value
from provlab.lab.phone import OAuthClient
from provlab.lab.remote_cloud import RemoteCloud, RemoteCloudError
from provlab.lab.runtime import LAB_CALL_BUDGET_S


def _templates_of(config: LabConfig, org: SeedOrg) -> tuple[str, ...]:
    return org.templates if org.templates is not None else (config.template_id,)


class LabCloud(ABC):
    """What the lab asks of its cloud (see the module docstring)."""

    endpoints: Endpoints
    """Where it listens (HTTP API, device ports)."""
    ca_file: Path | None
    """The CA its TLS ports' certificates come from (boards trust it)."""
    admin: User
    """The admin the lab logs in as."""

    @abstractmethod
    def describe(self) -> str:
        """For messages: 'the embedded cloud stub' or 'the cloud stub at URL'."""

    @abstractmethod
    def stub(self) -> CloudStub:
        """The stub object in this process (`NeedsEmbeddedCloud` when it runs elsewhere)."""

    @abstractmethod
    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The journal (this lab's part of it), oldest first."""

    @abstractmethod
    def user(self, email: str) -> User | None: ...

    @abstractmethod
    def device_for_token(self, token: str) -> Device | None:
        """The device a token activated (None before it logged in)."""

    @abstractmethod
    def is_online(self, device_id: int) -> bool: ...

    @abstractmethod
    def mail_bodies(self, recipient: str) -> list[str]:
        """The bodies of the mails its sink holds for `recipient`."""

    @abstractmethod
    def admin_oauth_client(self) -> OAuthClient:
        """New OAuth2 client credentials owned by the admin, as an Admin makes them once in the cloud's console
        for automation (`POST /api/v1/oauth/clients`); whoever uses them needs no one's password."""

    @abstractmethod
    def revoke_oauth_client(self, client_id: str) -> None:
        """Revoke an OAuth2 client the admin owns, as its console does (`DELETE /api/v1/oauth/clients/{id}`): it
        mints no more bearers and the ones it minted answer 401."""

    @abstractmethod
    def restart(self) -> None:
        """Stop and start again on the same ports, database and certificates (C12)."""

    @abstractmethod
    def close(self) -> None: ...

    def dump_events(self, path: Path) -> None:
        """Write the journal, masked, as JSON lines (the evidence's `cloud.jsonl`)."""
        events = self.events()
        with path.open("w", encoding="utf-8") as out:
            for event in events:
                out.write(json.dumps(mask_value("", event), ensure_ascii=False) + "\n")


class EmbeddedCloud(LabCloud):
    """A `CloudStub` on the lab's loop, seeded from the lab config; its timers run on the lab clock."""

    def __init__(self, config: LabConfig, folder: Path, loop: LoopThread, clock: LabClock) -> None:
        self._folder = folder
        self._loop = loop
        self._clock = clock
        self._mqtt_broker = config.mqtt_broker
        self._database = self._database_for(config, folder)
        self._limits = CredentialLimits(session_ttl_s=config.session_ttl_s, bearer_ttl_s=config.bearer_ttl_s)
        stub = CloudStub(
            self._database,
            time_scale=clock.scale,
            certs=folder / "certs",
            mqtt_broker=config.mqtt_broker,
            credential_limits=self._limits,
        )
        self._stub = stub
        self.admin = stub.seed(
            admin_email=config.cloud_admin_email,
            admin_password=config.cloud_admin_password,
            templates={config.template_id: config.template_name},
        )
        for org in config.seed_orgs:
            stub.seed_org(org.name, org.parent, _templates_of(config, org))
        for user in config.seed_users:
            stub.seed_user(user.email, user.password, user.org, user.role)
        self.endpoints = loop.run(stub.start(), 30)
        self.ca_file = stub.certs.ca_file

    @staticmethod
    def _database_for(config: LabConfig, folder: Path) -> Path | str:
        """`cloud.db` in the folder, or a schema of this lab's own in the PostgreSQL of `cloud.db`."""
        if config.cloud_db is None:
            return folder / "cloud.db"
        from provlab.cloud.store.postgres_backend import with_schema  # psycopg is optional: imported on use

        return with_schema(config.cloud_db, f"provlab_lab_{secrets.token_hex(6)}")

    def describe(self) -> str:
        return "the embedded cloud stub"

    def stub(self) -> CloudStub:
        return self._stub

    def _call(self, fn: Any) -> Any:
        return self._loop.call(fn, LAB_CALL_BUDGET_S)

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        stub = self._stub
        return list(self._call(lambda: [dict(e) for e in stub.events(kind)]))

    def user(self, email: str) -> User | None:
        found: User | None = self._stub.store.users.by_email(email)
        return found

    def device_for_token(self, token: str) -> Device | None:
        stub = self._stub
        found: Device | None = self._call(lambda: stub.device_for_token(token))
        return found

    def is_online(self, device_id: int) -> bool:
        stub = self._stub
        return bool(self._call(lambda: stub.presence.is_online(device_id)))

    def mail_bodies(self, recipient: str) -> list[str]:
        stub = self._stub
        return list(self._call(lambda: [m.body for m in stub.mailbox(recipient)]))

    def admin_oauth_client(self) -> OAuthClient:
        stub, admin = self._stub, self.admin
        client_id, secret = self._call(lambda: stub.invitations.create_client(admin))  # the console's action
        return OAuthClient(client_id, secret)

    def revoke_oauth_client(self, client_id: str) -> None:
        stub, admin = self._stub, self.admin
        self._call(lambda: stub.credentials.revoke_client(admin, client_id))  # what the DELETE route does

    def restart(self) -> None:
        old = self._stub
        endpoints = old.endpoints
        assert endpoints is not None
        self._loop.run(old.stop(), 30)
        stub = CloudStub(
            self._database,
            time_scale=self._clock.scale,
            certs=old.certs,
            mqtt_broker=self._mqtt_broker,
            credential_limits=self._limits,
        )
        self._stub = stub
        self._loop.run(stub.start(endpoints.binary_port, endpoints.http_port, tls_port=endpoints.tls_port), 30)

    def close(self) -> None:
        try:
            if self._loop.alive:
                self._loop.run(self._stub.stop(), 30)
        finally:
            if isinstance(self._database, str):  # the lab's own PostgreSQL schema: its journal is in cloud.jsonl
                from provlab.cloud.store.postgres_backend import drop_schema

                drop_schema(self._database)


class RemoteLabCloud(LabCloud):
    """A running `provlab cloud serve` (loopback), through provlab's lab API: each lab sees its own part of
    the journal; what needs the stub's objects is refused with `NeedsEmbeddedCloud`."""

    def __init__(self, config: LabConfig, folder: Path) -> None:
        assert config.cloud_url is not None
        remote = RemoteCloud(config.cloud_url, config.cloud_admin_email, config.cloud_admin_password, folder)
        self._remote = remote
        templates = remote.info.get("templates", {})
        if config.template_id not in templates:
            remote.close()
            raise RemoteCloudError(
                f"the cloud at {config.cloud_url} has no template {config.template_id} (it has "
                f"{', '.join(templates) or 'none'}); start it with that template or set template.id"
            )
        orgs = [
            {"name": o.name, "parent": o.parent, "templates": list(_templates_of(config, o))} for o in config.seed_orgs
        ]
        users = [{"email": u.email, "password": u.password, "org": u.org, "role": u.role} for u in config.seed_users]
        remote.seed(orgs, users)
        admin = remote.user(config.cloud_admin_email)
        binary = remote.port("binaryPort")
        if admin is None or binary is None:
            remote.close()
            missing = "no binary-protocol port" if binary is None else f"no user {config.cloud_admin_email}"
            raise RemoteCloudError(f"the cloud at {config.cloud_url} has {missing}")
        self.admin = admin
        self.ca_file = remote.ca_file
        self.endpoints = Endpoints(
            str(remote.info.get("host", "127.0.0.1")),
            binary,
            urlsplit(remote.url).port or 80,
            tls_port=remote.port("tlsPort"),
            mqtt_port=remote.port("mqttPort"),
            mqtts_port=remote.port("mqttsPort"),
        )

    def describe(self) -> str:
        return f"the cloud stub at {self._remote.url}"

    def stub(self) -> CloudStub:
        raise NeedsEmbeddedCloud(
            f"this lab uses the cloud stub at {self._remote.url}; the step needs the stub in this process "
            "(its store, fault knobs or control calls). Run without cloud.url to include it."
        )

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        return self._remote.events(kind)

    def user(self, email: str) -> User | None:
        return self._remote.user(email)

    def device_for_token(self, token: str) -> Device | None:
        found = self._remote.device_for_token(token)
        return found[0] if found is not None else None

    def is_online(self, device_id: int) -> bool:
        found = self._remote.device(device_id)
        return found is not None and found[1]

    def mail_bodies(self, recipient: str) -> list[str]:
        return self._remote.mail_bodies(recipient)

    def admin_oauth_client(self) -> OAuthClient:
        return OAuthClient(*self._remote.create_oauth_client())

    def revoke_oauth_client(self, client_id: str) -> None:
        self._remote.revoke_oauth_client(client_id)

    def restart(self) -> None:
        self.stub()  # raises: a stub elsewhere is restarted by whoever runs it

    def close(self) -> None:
        self._remote.close()


def open_lab_cloud(config: LabConfig, folder: Path, loop: LoopThread, clock: LabClock) -> LabCloud:
    """The cloud the config names: a stub running elsewhere (`cloud.url`), else an embedded one."""
    return RemoteLabCloud(config, folder) if config.cloud_url else EmbeddedCloud(config, folder, loop, clock)
