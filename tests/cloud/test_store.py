"""The store on a real SQLite file and a real PostgreSQL database (the same tests on both): schema, token
lifecycle (C1, C3, C4, C2), persistence (C12), masking, group commit, a failed flush."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from cloud_helpers import committed_device_tokens
from store_backends import CloudDb, database_at_schema, set_schema_version, table_names, write_lock_held

from provlab.cloud.records import Datastream, DataType, TokenKind, User
from provlab.cloud.store import Store, StoreError, StoreUnavailable, TokenRefusal, TokenRefused
from provlab.cloud.store import devices as store_devices
from provlab.cloud.store import tokens as store_tokens
from provlab.cloud.store.schema import MIGRATIONS

TEMPLATE = "TMPL0PROVLAB"


def seeded(path: CloudDb) -> tuple[Store, User]:
    store = Store(path)
    org = store.orgs.create("Lab Root")
    store.templates.create(TEMPLATE, "Device", org)
    return store, store.users.create("admin@provlab.test", "pw", org)


def test_a_new_database_is_at_the_latest_schema(cloud_db: CloudDb) -> None:
    store, _ = seeded(cloud_db)
    assert store.schema_version == len(MIGRATIONS)
    store.close()
    assert {
        "orgs",
        "users",
        "templates",
        "devices",
        "tokens",
        "events",
        "datastreams",
        "device_log",
    } <= table_names(cloud_db)


def test_a_new_sqlite_file_is_wal(tmp_path: Path) -> None:
    Store(tmp_path / "cloud.db").close()
    db = sqlite3.connect(tmp_path / "cloud.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_foundation_database_migrates_and_keeps_its_rows(cloud_db: CloudDb) -> None:
    database_at_schema(
        cloud_db,
        1,
        (
            "INSERT INTO orgs (name) VALUES ('Old Org')",
            "INSERT INTO templates (id, name, org_id) VALUES ('TMPLOLD', 'Old', 1)",
        ),
    )
    store = Store(cloud_db)
    assert store.schema_version == len(MIGRATIONS)
    template = store.templates.get("TMPLOLD")
    assert template is not None and template.name == "Old" and template.datastreams == ()


def test_a_database_from_a_newer_provlab_is_refused(cloud_db: CloudDb) -> None:
    Store(cloud_db).close()
    set_schema_version(cloud_db, len(MIGRATIONS) + 1)
    with pytest.raises(StoreError, match="newer provlab"):
        Store(cloud_db)


def test_dynamic_tokens_are_32_url_safe_unique_and_unactivated(cloud_db: CloudDb) -> None:
    store, admin = seeded(cloud_db)
    issued = [store.tokens.issue(admin, TEMPLATE) for _ in range(200)]
    tokens = {t.token for t in issued}
    assert len(tokens) == 200
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{32}", t) for t in tokens)
    first = issued[0]
    assert not first.activated and first.device_id is None and first.kind is TokenKind.DYNAMIC
    assert first.expires_at - first.issued_at == pytest.approx(7 * 24 * 3600)


def test_first_login_activates_and_binds_to_the_requesting_user_and_org(cloud_db: CloudDb) -> None:
    store, admin = seeded(cloud_db)
    other_org = store.orgs.create("Customer")
    customer = store.users.create("c@example.test", "pw", other_org, role="User")
    token = store.tokens.issue(customer, TEMPLATE).token
    device = store.devices.login(token)
    assert (device.owner_id, device.org_id, device.template_id) == (customer.id, other_org, TEMPLATE)
    assert device.token == token and device.name == "Device"
    issued = store.tokens.get(token)
    assert issued is not None and issued.activated and issued.device_id == device.id
    assert store.devices.login(token).id == device.id  # later logins: the same device
    assert admin.org_id != other_org


def test_an_unused_token_expires_and_never_logs_in(cloud_db: CloudDb) -> None:
    store, admin = seeded(cloud_db)
    token = store.tokens.issue(admin, TEMPLATE, ttl_s=-1).token
    with pytest.raises(TokenRefused, match="expired before its first login") as refused:
        store.devices.login(token)
    assert refused.value.reason is TokenRefusal.EXPIRED
    assert token[:4] in str(refused.value) and token not in str(refused.value)


def test_an_activated_token_does_not_expire(cloud_db: CloudDb, monkeypatch: pytest.MonkeyPatch) -> None:
    store, admin = seeded(cloud_db)
    token = store.tokens.issue(admin, TEMPLATE, ttl_s=60).token
    unused = store.tokens.issue(admin, TEMPLATE, ttl_s=60).token
    device = store.devices.login(token)
    later = SimpleNamespace(**{name: getattr(time, name) for name in dir(time) if not name.startswith("_")})
    later.time = lambda: time.time() + 3600  # an hour on: far past the tokens' 60 s
    for module in (store_tokens, store_devices):
        monkeypatch.setattr(module, "time", later)
    store2 = Store(cloud_db)  # no cache: the database alone decides
    assert store2.devices.login(token).id == device.id
    with pytest.raises(TokenRefused, match="expired before its first login"):  # the hour did pass for the store
        store2.devices.login(unused)


def test_unknown_and_malformed_tokens_are_refused(cloud_db: CloudDb) -> None:
    store, _ = seeded(cloud_db)
    for token in ("A" * 32, "short", "", "é" * 32):
        with pytest.raises(TokenRefused) as refused:
            store.devices.login(token)
        assert refused.value.reason is TokenRefusal.UNKNOWN


def test_reprovision_keeps_device_id_and_data_and_retires_the_old_token(cloud_db: CloudDb) -> None:
    store, admin = seeded(cloud_db)
    old = store.tokens.issue(admin, TEMPLATE).token
    device = store.devices.login(old)
    store.pins.write(device.id, "v1", "42")
    fresh = store.tokens.issue_reprovision(device.id, admin)
    assert fresh.kind is TokenKind.REPROVISION and not fresh.activated
    assert store.devices.login(old).id == device.id  # still works until the new one is used
    again = store.devices.login(fresh.token)
    assert again.id == device.id and again.token == fresh.token
    assert store.pins.read(device.id, "v1") == "42"
    with pytest.raises(TokenRefused, match="reprovisioned"):
        store.devices.login(old)


def test_refresh_replaces_the_token_at_once(cloud_db: CloudDb) -> None:
    store, admin = seeded(cloud_db)
    old = store.tokens.issue(admin, TEMPLATE).token
    device = store.devices.login(old)
    new = store.tokens.refresh(device.id)
    assert new.activated and new.kind is TokenKind.REFRESH
    with pytest.raises(TokenRefused, match="refreshed"):
        store.devices.login(old)
    assert store.devices.login(new.token).id == device.id


def test_revoke_and_delete(cloud_db: CloudDb) -> None:
    store, admin = seeded(cloud_db)
    token = store.tokens.issue(admin, TEMPLATE).token
    device = store.devices.login(token)
    assert store.tokens.revoke(token) == device.id
    with pytest.raises(TokenRefused) as refused:
        store.devices.login(token)
    assert refused.value.reason is TokenRefusal.REVOKED
    second = store.tokens.issue(admin, TEMPLATE).token
    other = store.devices.login(second)
    store.pins.write(other.id, "v1", "1")
    store.devices.delete(other.id)
    assert store.devices.get(other.id) is None and store.pins.read(other.id, "v1") is None
    with pytest.raises(TokenRefused, match="device deleted"):
        store.devices.login(second)
    with pytest.raises(StoreError, match="never issued"):
        store.tokens.revoke("B" * 32)


def test_state_survives_reopening_the_file(cloud_db: CloudDb) -> None:
    path = cloud_db
    store, admin = seeded(path)
    token = store.tokens.issue(admin, TEMPLATE).token
    device = store.devices.login(token)
    store.pins.write(device.id, "v3", "1\x002")
    store.devices.set_info(device.id, {"h-beat": "40"})
    store.devices.set_meta(device.id, "Hotspot Name", "Blynk Device-ABCD")
    store.device_log.add(device.id, "overheat", "too hot")
    store.close()
    reopened = Store(path)
    again = reopened.devices.get(device.id)
    assert again is not None and again.token == token and again.info == {"h-beat": "40"}
    assert reopened.devices.login(token).id == device.id
    assert reopened.pins.all(device.id) == {"v3": "1\x002"}
    assert reopened.devices.meta(device.id) == {"Hotspot Name": "Blynk Device-ABCD"}
    assert [e["code"] for e in reopened.device_log.entries(device.id)] == ["overheat"]
    assert reopened.users.by_email("admin@provlab.test") == admin


def test_buffered_writes_are_visible_to_readers_at_once(cloud_db: CloudDb) -> None:
    store, admin = seeded(cloud_db)
    device = store.devices.login(store.tokens.issue(admin, TEMPLATE).token)
    for value in range(1000):
        store.pins.write(device.id, "v1", str(value))
    assert store.pending_writes > 0
    assert store.pins.read(device.id, "v1") == "999"
    assert store.pins.all(device.id) == {"v1": "999"}
    assert store.pending_writes == 0  # a read through SQL flushed the buffer first


def test_events_never_hold_a_whole_token(cloud_db: CloudDb) -> None:
    store, admin = seeded(cloud_db)
    token = store.tokens.issue(admin, TEMPLATE).token
    device = store.devices.login(token)
    store.tokens.refresh(device.id)
    store.events.add("custom", None, {"token": token, "password": "hunter2"})
    dump = json.dumps(store.events.entries())
    assert token not in dump and "hunter2" not in dump
    assert [e["kind"] for e in store.events.entries()][:2] == ["token_issued", "token_activated"]
    assert store.events.entries("custom")[0]["token"] == token[:4] + "…"


def test_templates_declare_datastreams(cloud_db: CloudDb) -> None:
    store = Store(cloud_db)
    org = store.orgs.create("Root")
    streams = [Datastream(1, "V1", "Temperature", DataType.DOUBLE), Datastream(2, "v2", "Label")]
    template = store.templates.create("TMPLSENSOR", "Sensor", org, datastreams=streams, event_codes=["overheat"])
    assert [d.pin for d in template.datastreams] == ["v1", "v2"]
    assert template.event_codes == ("overheat",)
    with pytest.raises(StoreError, match="must start with 'TMPL'"):
        store.templates.create("sensor", "Sensor", org)


def test_a_buffered_activation_is_committed_by_the_next_flush_with_the_device_id_it_was_given(
    cloud_db: CloudDb,
) -> None:
    store, admin = seeded(cloud_db)
    tokens = [store.tokens.issue(admin, TEMPLATE).token for _ in range(3)]
    devices = [store.devices.login(t, commit=False) for t in tokens]
    assert store.uncommitted_activations == 3
    assert [d.id for d in devices] == [1, 2, 3]
    assert committed_device_tokens(cloud_db) == set()  # nothing is visible before the commit
    assert store.devices.login(tokens[0], commit=False) == devices[0]  # a re-login finds the buffered device
    store.flush()
    assert store.uncommitted_activations == 0
    assert committed_device_tokens(cloud_db) == set(tokens)
    assert all(store.tokens.get(t).activated for t in tokens)  # type: ignore[union-attr]
    assert [d.id for d in store.devices.all()] == [1, 2, 3]


def test_a_default_login_commits_its_activation_before_it_returns(cloud_db: CloudDb) -> None:
    store, admin = seeded(cloud_db)
    token = store.tokens.issue(admin, TEMPLATE).token
    store.devices.login(token)
    assert store.uncommitted_activations == 0
    assert committed_device_tokens(cloud_db) == {token}


def test_device_ids_stay_unique_across_buffered_activations_and_other_transactions(cloud_db: CloudDb) -> None:
    store, admin = seeded(cloud_db)
    first = store.devices.login(store.tokens.issue(admin, TEMPLATE).token, commit=False)
    store.devices.delete(first.id)  # a transaction of its own: commits the buffer first
    second = store.devices.login(store.tokens.issue(admin, TEMPLATE).token, commit=False)
    store.flush()
    assert second.id == first.id + 1  # deleted ids are never reused
    reopened = Store(cloud_db)
    third = reopened.devices.login(reopened.tokens.issue(admin, TEMPLATE).token)
    assert third.id == second.id + 1


def test_a_failed_flush_loses_nothing_and_the_next_one_writes_it_all(cloud_db: CloudDb) -> None:
    store, admin = seeded(cloud_db)
    token = store.tokens.issue(admin, TEMPLATE).token
    device = store.devices.login(token, commit=False)
    store.pins.write(device.id, "v1", "42")
    store.events.add("custom", device.id, {"n": 1})
    store.set_busy_timeout(0.01)  # do not wait 30 s for the lock below
    with write_lock_held(cloud_db), pytest.raises(StoreUnavailable):  # another writer holds the database
        store.flush()
    assert store.uncommitted_activations == 1 and store.pending_writes >= 3
    store.flush()
    assert committed_device_tokens(cloud_db) == {token}
    assert store.pins.read(device.id, "v1") == "42"
    assert [e["n"] for e in store.events.entries("custom")] == [1]
