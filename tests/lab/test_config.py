"""Lab config files: every key checked, errors name the key, the value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from provlab.lab.config import (
    HomeNetwork,
    LabConfig,
    LabConfigError,
    config_from_mapping,
    find_config_file,
    load_config,
)


def test_full_table_is_read() -> None:
    cfg = config_from_mapping(
        {
            "time_scale": 0.05,
            "wifi": "sim",
            "boards": {"emulated": 3, "profile": "edgent-esp32"},
            "template": {"id": "TMPLabc", "name": "Thermo"},
            "home": [{"ssid": "A", "passphrase": "pw-aaaaaaaa", "channel": 11}, {"ssid": "B", "internet": False}],
            "cloud": {"host": "fra1.blynk.cloud"},
        }
    )
    assert cfg.boards == 3 and cfg.time_scale == 0.05 and cfg.template_name == "Thermo"
    assert cfg.home == HomeNetwork("A", "pw-aaaaaaaa", 11, True)
    assert cfg.extra_networks == (HomeNetwork("B", "", 6, False),)
    assert cfg.cloud_host == "fra1.blynk.cloud"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"boards": {"emulated": "two"}}, "x: boards.emulated: expected int, got 'two'"),
        ({"boards": {"emulated": -1}}, "x: boards.emulated: expected an integer >= 0, got -1"),
        ({"wifi": "lte"}, "x: wifi: 'lte' is not one of sim, netns, nor KIND:IFACE with KIND one of wpa, nm"),
        ({"wifi": "wpa:"}, "x: wifi: 'wpa:': name the adapter's interface, e.g. wpa:wlan0"),
        (
            {"wifi": "wpa:wlan0", "boards": {"attached": ["/dev/ttyUSB0"]}},
            "x: cloud.url: with wifi = 'wpa:wlan0' real boards log in over your network and cannot reach an "
            "embedded stub",
        ),
        (
            {"wifi": "wpa:wlan0", "cloud": {"url": "http://127.0.0.1:9"}},
            "x: boards.emulated: with wifi = 'wpa:wlan0' the air is the real one around this host, where an "
            "emulated board has no radio",
        ),
        (
            {"wifi": "nm:wlan0", "phone_radio": {"ctrl_dir": "/run/x"}, "boards": {"attached": ["/dev/ttyUSB0"]}},
            "x: phone_radio: 'ctrl_dir' is not an option of the nm backend (allowed: nmcli, join_timeout)",
        ),
        (
            {"wifi": "wpa:wlan0", "phone_radio": {"join_timeout": "long"}, "boards": {"attached": ["/dev/ttyUSB0"]}},
            "x: phone_radio: join_timeout: expected int or float, got 'long'",
        ),
        (
            {"wifi": "wpa:wlan0", "phone_radio": {"static": {"Blynk": {"address": "nope"}}}},
            "x: phone_radio: static.'Blynk'.address:",
        ),
        ({"phone_radio": {"ctrl_dir": "/run/x"}}, "x: phone_radio: applies to wifi = 'wpa:IFACE' or 'nm:IFACE'"),
        ({"time_scale": True}, "x: time_scale: expected a number, got True"),
        ({"time_scale": 0}, "x: time_scale: must be > 0, got 0.0"),
        (
            {"bords": {}},
            "x: bords: unknown key (did you mean 'boards'?); allowed here: clock, time_scale, wifi, phone_radio, "
            "boards, template, home, cloud, defects",
        ),
        ({"home": [{"passphrase": "p"}]}, "x: home[0].ssid: is required"),
        ({"home": [{"ssid": "A", "internet": "yes"}]}, "x: home[0].internet: expected bool, got 'yes'"),
        ({"template": {"id": "abc"}}, "x: template.id: must start with 'TMPL', got 'abc'"),
        ({"cloud": {"db": "cloud.db"}}, "x: cloud.db: a postgresql://user:pass@host:port/db URL"),
        (
            {"cloud": {"db": "postgresql://127.0.0.1/lab", "url": "http://127.0.0.1:8080"}},
            "x: cloud.db: the stub at cloud.url has its own database",
        ),
        ({"cloud": {"orgs": [{"parent": "Lab Root"}]}}, "x: cloud.orgs[0].name: is required"),
        (
            {"cloud": {"orgs": [{"name": "B", "parent": "A"}, {"name": "A"}]}},
            "x: cloud.orgs[0].parent: 'A' is not seeded before it (nor the root org)",
        ),
        ({"cloud": {"orgs": [{"name": "A"}, {"name": "A"}]}}, "x: cloud.orgs[1].name: 'A' is seeded twice"),
        ({"cloud": {"orgs": {"name": "A"}}}, "x: cloud.orgs: expected an array of tables, got {'name': 'A'}"),
        (
            {"cloud": {"users": [{"email": "a@b.test", "password": "pw", "role": "Owner"}]}},
            "x: cloud.users[0].role: 'Owner' is not one of Admin, Staff, User",
        ),
        (
            {"cloud": {"users": [{"email": "a@b.test", "password": "pw", "org": "Nowhere"}]}},
            "x: cloud.users[0].org: 'Nowhere' is not a seeded org (nor the root org)",
        ),
        ({"cloud": {"users": [{"email": "a@b.test"}]}}, "x: cloud.users[0].password: is required"),
        (
            {"cloud": {"users": [{"email": "a@b.test", "password": "p"}, {"email": "a@b.test", "password": "q"}]}},
            "x: cloud.users[1].email: 'a@b.test' is not a new e-mail address",
        ),
        (
            {"cloud": {"mqtt_broker": "mqtt://10.0.0.5:1883"}},
            "x: cloud.mqtt_broker: '10.0.0.5' is not a loopback address",
        ),
        ({"cloud": {"mqtt_broker": "tcp://127.0.0.1:1883"}}, "x: cloud.mqtt_broker: expected mqtt://HOST:PORT"),
        (
            {"cloud": {"url": "http://127.0.0.1:9", "mqtt_broker": "mqtt://127.0.0.1:1883"}},
            "x: cloud.mqtt_broker: applies to the embedded stub",
        ),
        (
            {"clock": "virtual", "cloud": {"mqtt_broker": "mqtt://127.0.0.1:1883"}},
            "x: clock: 'virtual' needs everything in this process, but the lab has an MQTT broker in another "
            "process (cloud.mqtt_broker)",
        ),
        (
            {"cloud": {"users": [{"email": "a@b.test", "password": "p", "pw": "q"}]}},
            "x: cloud.users[0].pw: unknown key; allowed here: email, password, org, role",
        ),
    ],
)
def test_bad_values_name_the_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(LabConfigError) as error:
        config_from_mapping(table, "x")
    assert str(error.value).startswith(message), str(error.value)


def test_a_broker_the_stub_fronts_is_read_and_puts_the_lab_on_the_wall_clock() -> None:
    from provlab.clock.wall import WallClock
    from provlab.lab.lab import lab_clock_for

    cfg = config_from_mapping({"cloud": {"mqtt_broker": "mqtt://127.0.0.1:1883"}})
    assert cfg.mqtt_broker == "mqtt://127.0.0.1:1883"
    assert isinstance(lab_clock_for(cfg), WallClock)  # Mosquitto keeps wall time: no virtual clock


def test_seed_orgs_and_users_are_read_and_passwords_stay_out_of_reprs() -> None:
    cfg = config_from_mapping(
        {
            "cloud": {
                "orgs": [{"name": "Acme Corp"}, {"name": "Acme East", "parent": "Acme Corp", "templates": []}],
                "users": [
                    {"email": "owner@acme.test", "password": "s3cret-owner", "org": "Acme Corp"},
                    {"email": "ops@provlab.test", "password": "s3cret-ops", "role": "Staff"},
                ],
            }
        }
    )
    assert [(o.name, o.parent, o.templates) for o in cfg.seed_orgs] == [
        ("Acme Corp", None, None),
        ("Acme East", "Acme Corp", ()),
    ]
    assert [(u.email, u.org, u.role) for u in cfg.seed_users] == [
        ("owner@acme.test", "Acme Corp", "Admin"),
        ("ops@provlab.test", None, "Staff"),
    ]
    assert "s3cret" not in repr(cfg)


def test_pyproject_table_is_found_from_a_subfolder(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.provlab]\ntime_scale = 0.5\n')
    sub = tmp_path / "tests" / "deep"
    sub.mkdir(parents=True)
    found = find_config_file(sub)
    assert found == tmp_path / "pyproject.toml"
    assert load_config(found).time_scale == 0.5


def test_pyproject_without_the_table_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert find_config_file(tmp_path) is None or find_config_file(tmp_path) != tmp_path / "pyproject.toml"


def test_overrides_keep_file_values_for_none() -> None:
    cfg = LabConfig(time_scale=0.2).with_overrides(boards=4, wifi=None, time_scale=None)
    assert cfg.boards == 4 and cfg.time_scale == 0.2


def test_broken_toml_is_reported_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "provlab.toml"
    path.write_text("[tool.provlab\n")
    with pytest.raises(LabConfigError, match=r"provlab.toml: \(file\): not valid TOML"):
        load_config(path)


def test_defects_are_checked_by_name() -> None:
    assert config_from_mapping({"defects": ["forgets-last-error"]}).defects == ("forgets-last-error",)
    nothing_close = r"^x: defects: unknown firmware defect 'segfaults-on-tuesdays'; known: accepts-31-char-token, "
    with pytest.raises(LabConfigError, match=nothing_close):
        config_from_mapping({"defects": ["segfaults-on-tuesdays"]}, "x")
    with pytest.raises(LabConfigError) as caught:
        LabConfig(defects=("forgets-last-eror",))
    assert str(caught.value) == (
        "lab config: defects: unknown firmware defect 'forgets-last-eror'; did you mean 'forgets-last-error'?"
    )


def test_every_problem_of_a_file_is_listed_with_its_line_and_a_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "provlab.toml"
    path.write_text(
        "time_scale = 'fast'\n"
        "defects = ['accepts-31-char-tokn']\n"
        "\n"
        "[boards]\n"
        "emulated = 2\n"
        "profle = 'edgent-esp32'\n"
        "\n"
        "[cloud]\n"
        "tls = 'yes'\n"
    )
    with pytest.raises(LabConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert text.splitlines()[0] == "4 problems in the lab config:"
    assert f"{path}:1: time_scale: expected int or float, got 'fast'" in text
    assert (  # a short line of its own, not every defect's name
        f"  {path}:2: defects: unknown firmware defect 'accepts-31-char-tokn'; did you mean 'accepts-31-char-token'?"
        in text.splitlines()
    )
    assert f"{path}:6: boards.profle: unknown key (did you mean 'profile'?)" in text
    assert f"{path}:9: cloud.tls: expected bool, got 'yes'" in text


def test_a_pyproject_table_problem_names_the_line_in_pyproject(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text("[project]\nname = 'x'\n\n[tool.provlab.boards]\nprofile = 'edgent-esp23'\n")
    with pytest.raises(LabConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}:5: boards.profile: 'edgent-esp23' is not one of ")
    assert "(did you mean 'edgent-esp32'?)" in str(caught.value)


def test_credential_lifetimes_are_read_checked_and_given_to_the_embedded_stub(tmp_path: Path) -> None:
    import httpx

    from provlab.cloud.credentials import DEFAULT_BEARER_TTL_S, DEFAULT_SESSION_TTL_S
    from provlab.cloud.stub import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD
    from provlab.lab.lab import Lab

    defaults = config_from_mapping({})
    assert (defaults.session_ttl_s, defaults.bearer_ttl_s) == (DEFAULT_SESSION_TTL_S, DEFAULT_BEARER_TTL_S)
    with pytest.raises(LabConfigError) as error:
        config_from_mapping({"cloud": {"session_ttl_s": 0, "bearer_ttl_s": "1h"}}, "x")
    assert "cloud.session_ttl_s: expected a lifetime in seconds above 0, got 0" in str(error.value)
    assert "cloud.bearer_ttl_s: expected int or float, got '1h'" in str(error.value)
    cfg = config_from_mapping({"boards": {"emulated": 0}, "cloud": {"session_ttl_s": 120, "bearer_ttl_s": 90.5}})
    with Lab(cfg, artifacts=tmp_path) as lab:
        assert lab.cloud.credentials.limits.bearer_ttl_s == 90.5
        endpoints = lab.cloud.endpoints
        assert endpoints is not None
        login = {"email": DEFAULT_ADMIN_EMAIL, "password": DEFAULT_ADMIN_PASSWORD}
        answer = httpx.post(f"{endpoints.http_url}/api/v1/auth/login", json=login, timeout=30)
        assert answer.json()["expiresIn"] == 120
