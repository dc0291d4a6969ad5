"""The device gateway's login rules without a socket: per-token throttling across sources, knob order."""

from __future__ import annotations

import pytest
from store_backends import CloudDb

from provlab.cloud import gateway as gateway_module
from provlab.cloud.faults import FaultKnobs
from provlab.cloud.gateway import DeviceGateway, LoginVerdict
from provlab.cloud.presence import PresenceRegistry, Transport
from provlab.cloud.rate_limits import LoginLimits, QuotaLimits
from provlab.cloud.store import Store
from provlab.protocol import choices
from provlab.protocol.commands import Status


def gateway(cloud_db: CloudDb, **kw: object) -> DeviceGateway:
    store = Store(cloud_db)
    org = store.orgs.create("Root")
    store.templates.create("TMPL0PROVLAB", "Device", org)
    store.users.create("admin@provlab.test", "pw", org)
    return DeviceGateway(store, PresenceRegistry(), FaultKnobs(), **kw)  # type: ignore[arg-type]


def test_a_bad_token_is_throttled_from_every_source(cloud_db: CloudDb) -> None:
    gw = gateway(cloud_db, login_limits=LoginLimits(failures=3, window_s=3600))
    bad = "B" * 32
    verdicts = [gw.login(bad, f"10.0.0.{n}", f"10.0.0.{n}:1", Transport.TCP).verdict for n in range(1, 5)]
    assert verdicts == [LoginVerdict.REFUSED] * 3 + [LoginVerdict.THROTTLED]
    assert gw.login(bad, "10.0.0.9", "10.0.0.9:1", Transport.MQTT).status == choices.THROTTLED_LOGIN_STATUS
    user = gw.store.users.by_email("admin@provlab.test")
    assert user is not None
    good = gw.store.tokens.issue(user, "TMPL0PROVLAB").token
    assert gw.login(good, "10.0.0.9", "10.0.0.9:1", Transport.TCP).verdict is LoginVerdict.ACCEPTED


def test_the_allowance_comes_back_with_time(cloud_db: CloudDb, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]  # the gateway's clock, moved by hand: a busy host cannot let the window pass early
    monkeypatch.setattr(gateway_module, "_loop_time", lambda: now[0])
    gw = gateway(cloud_db, login_limits=LoginLimits(failures=2, window_s=0.05))
    for _ in range(2):
        gw.login("C" * 32, "10.0.0.1", "10.0.0.1:1", Transport.TCP)
    assert gw.login("D" * 32, "10.0.0.1", "10.0.0.1:1", Transport.TCP).verdict is LoginVerdict.THROTTLED
    now[0] += 0.06  # the window passes: the limiter refills
    assert gw.login("D" * 32, "10.0.0.1", "10.0.0.1:1", Transport.TCP).verdict is LoginVerdict.REFUSED


def test_knobs_come_before_the_store(cloud_db: CloudDb) -> None:
    gw = gateway(cloud_db)
    gw.faults.refuse_logins = Status.SERVER_EXCEPTION
    outcome = gw.login("E" * 32, "10.0.0.1", "10.0.0.1:1", Transport.TCP)
    assert (outcome.verdict, outcome.status) == (LoginVerdict.REFUSED, Status.SERVER_EXCEPTION)
    gw.faults.reset()
    gw.faults.redirect("E" * 32, "sgp1.blynk.cloud", 80)  # a token this cloud never issued can still be sent on
    outcome = gw.login("E" * 32, "10.0.0.1", "10.0.0.1:1", Transport.TCP)
    assert outcome.verdict is LoginVerdict.REDIRECTED and outcome.redirect is not None
    assert (outcome.redirect.host, outcome.redirect.port) == ("sgp1.blynk.cloud", 80)


def test_device_seconds_scale_to_wall_seconds(cloud_db: CloudDb) -> None:
    gw = gateway(cloud_db, time_scale=0.01, quota_limits=QuotaLimits(messages=50))
    assert gw.login_timeout == 10.0 * 0.01
    assert gw.idle_timeout(40.0) == 40.0 * 1.5 * 0.01
    assert gw.idle_timeout(None) == 45.0 * 1.5 * 0.01
    gw.faults.latency_s = 3.0
    assert gw.latency == 3.0 * 0.01
