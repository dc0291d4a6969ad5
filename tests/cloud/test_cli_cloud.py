"""`provlab cloud serve` and `provlab cloud token` as a QA engineer runs them."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from click.testing import CliRunner
from cloud_helpers import WAIT_S, RawDevice, run
from store_backends import CloudDb, on_postgres

from provlab.cli import main
from provlab.cloud.store.postgres_backend import masked_url
from provlab.protocol.commands import Command, Status
from provlab.protocol.internal import hardware_vw

SERVE = "import sys; from provlab.cli import main; sys.argv[0] = 'provlab'; main()"


def test_serve_seeds_prints_endpoints_and_stops_on_ctrl_c(cloud_db: CloudDb) -> None:
    db = cloud_db
    ports = [
        "--binary-port",
        "0",
        "--http-port",
        "0",
        "--tls-port",
        "0",
        "--mqtt-port",
        "0",
        "--mqtts-port",
        "0",
    ]
    serve = subprocess.Popen(
        [sys.executable, "-c", SERVE, "cloud", "serve", "--db", str(db), *ports, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert serve.stdout is not None
        endpoints = json.loads(serve.stdout.readline())
        assert endpoints["admin"] == "admin@provlab.test" and endpoints["template"] == "TMPL0PROVLAB"
        # the database as given, a PostgreSQL URL without its password
        assert endpoints["database"] == (masked_url(str(db)) if on_postgres(db) else str(db))
        assert Path(endpoints["ca_file"]).exists() and endpoints["mqtt_url"].startswith("mqtt://127.0.0.1:")
        issued = CliRunner().invoke(main, ["cloud", "token", "--db", str(db)])  # while the stub runs
        assert issued.exit_code == 0, issued.output
        token = issued.output.strip()
        assert len(token) == 32

        async def use() -> None:
            device = await RawDevice.connect(endpoints["binary_port"])
            await device.login_esp32(token)
            await device.send(Command.HARDWARE, hardware_vw(1, "cli"))
            assert await device.request(Command.PING) == Status.SUCCESS
            async with httpx.AsyncClient(base_url=endpoints["http_url"], timeout=WAIT_S) as http:
                answer = await http.get(f"/external/api/get?token={token}&v1")
                assert answer.text == "cli"
            await device.close()

        run(use())
    finally:
        serve.send_signal(signal.SIGINT)
        _, err = serve.communicate(timeout=WAIT_S)
    assert serve.returncode == 0, err
    unknown = CliRunner().invoke(main, ["cloud", "token", "--db", str(db), "--user", "nobody@x.test"])
    assert unknown.exit_code == 1 and "no user 'nobody@x.test'" in unknown.output
    wrong = CliRunner().invoke(main, ["cloud", "token", "--db", str(db), "--template", "TMPLNOPE"])
    assert wrong.exit_code == 1 and "no template 'TMPLNOPE'" in wrong.output


def test_serve_reports_a_busy_port(tmp_path: Path) -> None:
    async def body() -> None:
        blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = blocker.sockets[0].getsockname()[1]
        try:
            serve = await asyncio.create_subprocess_exec(
                sys.executable, "-c", SERVE, "cloud", "serve", "--db", str(tmp_path / "c.db"),
                "--binary-port", str(port), "--http-port", "0", "--tls-port", "-1", "--mqtt-port", "-1",
                "--mqtts-port", "-1",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            _, err = await asyncio.wait_for(serve.communicate(), WAIT_S)
            assert serve.returncode == 1 and "cannot open the stub's ports" in err.decode()
        finally:
            blocker.close()

    run(body())
