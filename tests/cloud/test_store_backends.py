"""The store's two databases: which one a target names, the same schema on both, text that round-trips on
both, and a stub killed with SIGKILL in the middle of first logins that never loses one it answered."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cloud_helpers import TEMPLATE_ID, WAIT_S, RawDevice, committed_device_tokens, run
from store_backends import (
    NO_POSTGRES,
    POSTGRES_URL,
    CloudDb,
    committed_rows,
    fresh_database,
)

from provlab.cloud.store import Store, StoreConflict
from provlab.cloud.store.backend import backend_name, sqlite_path
from provlab.cloud.store.postgres_backend import escape_text, masked_url, split_schema, unescape_text
from provlab.protocol.commands import Status

ROOT = Path(__file__).resolve().parents[2]
SERVE_PORTS = ("--binary-port", "0", "--http-port", "0", "--tls-port", "-1", "--mqtt-port", "-1", "--mqtts-port", "-1")


def test_a_target_names_its_database() -> None:
    assert backend_name("cloud.db") == backend_name(Path("x/cloud.db")) == backend_name("sqlite:cloud.db") == "sqlite"
    assert backend_name("postgresql://u:p@127.0.0.1/db") == backend_name("postgres://127.0.0.1/db") == "postgresql"
    assert sqlite_path("sqlite:cloud.db") == "cloud.db" and sqlite_path("sqlite:///tmp/c.db") == "/tmp/c.db"
    assert sqlite_path("dir/cloud.db") == "dir/cloud.db"
    assert masked_url("postgresql://stub:s3cret@127.0.0.1:5432/cloud?schema=a") == (
        "postgresql://stub:***@127.0.0.1:5432/cloud?schema=a"
    )
    assert masked_url("postgresql://127.0.0.1/cloud") == "postgresql://127.0.0.1/cloud"
    assert split_schema("postgresql://h/db?sslmode=disable&schema=lab") == ("postgresql://h/db?sslmode=disable", "lab")


def test_the_nul_escape_of_postgresql_text_round_trips_every_string() -> None:
    for text in ("", "plain", "1\x002", "\x00", "\ue000", "\ue0000", "a\ue000\x00b\ue000\ue000", "\x00\x00\ue000"):
        assert unescape_text(escape_text(text)) == text
    assert escape_text("plain") == "plain" and "\x00" not in escape_text("1\x002")


def test_both_databases_end_with_the_same_tables_and_columns(tmp_path: Path) -> None:
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    columns: dict[str, set[tuple[str, str]]] = {}
    for kind in ("sqlite", "postgresql"):
        with fresh_database(kind, tmp_path) as db:
            Store(db).close()
            sql = (
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"
                if kind == "postgresql"
                else "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table'"
            )
            columns[kind] = {(table, column) for table, column in committed_rows(db, sql) if table != "provlab_schema"}
    assert columns["sqlite"] == columns["postgresql"]
    assert ("pin_values", "value") in columns["sqlite"] and len(columns["sqlite"]) > 60


def test_text_comes_back_as_it_went_in(cloud_db: CloudDb) -> None:
    """NUL joins the values of a multi-value pin; PostgreSQL text cannot hold it, the store's text can."""
    store = Store(cloud_db)
    org = store.orgs.create("Root")
    store.templates.create(TEMPLATE_ID, "Device", org)
    admin = store.users.create("Admin@Provlab.test", "pw", org)
    device = store.devices.login(store.tokens.issue(admin, TEMPLATE_ID).token)
    values = {"v1": "1\x002\x003", "v2": "\ue000 private use", "v3": "ünïcödé 100%?"}
    for pin, value in values.items():
        store.pins.write(device.id, pin, value)
    store.device_log.add(device.id, "odd", "nul\x00inside")
    store.close()
    again = Store(cloud_db)
    assert again.pins.all(device.id) == values
    assert again.device_log.entries(device.id)[0]["description"] == "nul\x00inside"
    assert again.users.by_email("admin@provlab.TEST") == admin  # e-mails compare without case on both
    with pytest.raises(StoreConflict):
        again.users.create("ADMIN@provlab.test", "pw", org)  # and are unique that way
    again.close()


@contextmanager
def serving(db: CloudDb, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, Any]]]:
    """`provlab cloud serve --db DB` as a child process, with its JSON line; stopped with Ctrl-C unless the
    test killed it."""
    args = ["cloud", "serve", "--db", str(db), "--certs", str(tmp_path / "certs"), *SERVE_PORTS, "--json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "provlab", *args], env=env, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the stub prints it when it listens, or exits (EOF)
        assert line, f"provlab cloud serve exited with {proc.wait(WAIT_S)}"
        yield proc, json.loads(line)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


def test_a_stub_killed_with_sigkill_keeps_every_first_login_it_answered(cloud_db: CloudDb, tmp_path: Path) -> None:
    """Group commit: a device is told 200 only after its activation is committed, so SIGKILL in the middle of
    a burst of first logins loses none that was answered; the unanswered ones log in after the restart."""
    devices = 120
    with serving(cloud_db, tmp_path) as (proc, endpoints):
        store = Store(cloud_db)  # a second client of the database, as `provlab cloud token` is
        admin = store.users.by_email(endpoints["admin"])
        assert admin is not None
        tokens = [store.tokens.issue(admin, TEMPLATE_ID).token for _ in range(devices)]
        store.close()
        answered = run(_logins_until_killed(endpoints["binary_port"], tokens, proc, kill_after=devices // 4))
    assert proc.returncode == -signal.SIGKILL
    assert len(answered) >= devices // 4
    committed = committed_device_tokens(cloud_db)
    print(f"{len(answered)} first logins answered before SIGKILL, {len(committed)} committed")
    assert set(answered) <= committed, f"{len(set(answered) - committed)} answered first logins were lost"
    with serving(cloud_db, tmp_path) as (_, endpoints):
        again = run(_logins(endpoints["binary_port"], tokens))
    assert again == [Status.SUCCESS] * devices  # answered or not before the kill, every token works
    rows = committed_rows(cloud_db, "SELECT COUNT(*), COUNT(DISTINCT token) FROM devices")
    assert rows == [(devices, devices)]  # one device per token: nothing activated twice


async def _logins_until_killed(
    port: int, tokens: list[str], proc: subprocess.Popen[bytes], *, kill_after: int
) -> list[str]:
    """Send every first login at once; SIGKILL the stub once `kill_after` were answered 200. The tokens
    answered 200 before the kill."""
    answered: list[str] = []
    killed = asyncio.Event()

    async def one(token: str) -> None:
        device = await RawDevice.connect(port)
        try:
            if await device.login(token) == Status.SUCCESS and not killed.is_set():
                answered.append(token)
                if len(answered) >= kill_after:
                    os.kill(proc.pid, signal.SIGKILL)
                    killed.set()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the stub died under it: unanswered
        finally:
            await device.close()

    await asyncio.gather(*(one(token) for token in tokens))
    proc.wait(WAIT_S)
    return answered


async def _logins(port: int, tokens: list[str]) -> list[int]:
    async def one(token: str) -> int:
        device = await RawDevice.connect(port)
        try:
            return await device.login(token)
        finally:
            await device.close()

    return list(await asyncio.gather(*(one(token) for token in tokens)))


def test_serve_refuses_a_postgresql_it_cannot_reach_with_the_url_masked() -> None:
    url = "postgresql://stub:s3cret@127.0.0.1:9/cloud?connect_timeout=2"  # port 9 (discard): nothing listens
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "provlab", "cloud", "serve", "--db", url, *SERVE_PORTS],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "cannot open the cloud store postgresql://stub:***@127.0.0.1:9/cloud" in done.stderr
    assert "s3cret" not in done.stderr + done.stdout
