"""The lab's configuration: `provlab.toml` or `[tool.provlab]` in pyproject.toml, checked key by key.

```toml
[tool.provlab]
clock = "auto"             # auto | virtual | wall (auto: virtual when everything is emulated here)
time_scale = 0.01          # wall clock only: device seconds run this much faster than wall time
wifi = "sim"               # a registered air: sim | netns (provlab.wifi.world.AIRS), or a real adapter as the
                           # phone's radio: wpa:wlan0 | nm:wlan0 (real boards only; needs cloud.url)

[tool.provlab.phone_radio]  # options of the real adapter (wifi = "wpa:IFACE" or "nm:IFACE")
ctrl_dir = "/run/wpa_supplicant"  # wpa: the control socket folder; also reply_timeout, join_timeout, scan_wait
# nmcli = "/usr/bin/nmcli"        # nm: the nmcli to run; also join_timeout
[tool.provlab.phone_radio.static."Blynk"]  # wpa: no DHCP on networks whose SSID starts with "Blynk": this address
address = "192.168.4.2/24"                 # (already configured on the interface) and gateway
gateway = "192.168.4.1"

[tool.provlab.boards]
emulated = 2               # emulated boards per test
profile = "edgent-esp32"   # a registered firmware profile (provlab.emulator.profile.PROFILES)
attached = ["inv:bench-a", "/dev/ttyUSB1"]  # boards not emulated here (provlab.lab.board_specs);
                           # with `attached` and no `emulated`, no emulated board is added
inventory = "boards.yaml"  # the station's board inventory, for inv:NAME (relative to this file)
firmware = "edgent.bin"    # ESP32 app image: flashed to real boards before the run, booted by emulated ones
port_wait = 10             # wall seconds a test waits for an attached board's port lost in an earlier test

[tool.provlab.template]
id = "TMPL0PROVLAB"
name = "Device"

[[tool.provlab.home]]      # home networks on the air; the first is the one the phone provisions onto
ssid = "ProvlabHome"
passphrase = "correct-horse-battery"
channel = 6
internet = true

[tool.provlab.cloud]
host = "blynk.cloud"       # the name boards are given for the cloud; resolves to the embedded stub
tls = true                 # boards log in over TLS trusting the lab CA (false: plain TCP)
url = "http://127.0.0.1:8080"  # optional: use this running `provlab cloud serve` instead of an embedded stub
db = "postgresql://lab:pw@127.0.0.1/provlab"  # optional, not with url: the embedded stub's store on PostgreSQL,
                           # a schema of its own per lab (dropped at its end); default: SQLite in each test's folder
admin_email = "admin@provlab.test"  # the stub's admin (the lab logs in as it; default: provlab's)
admin_password = "provlab-admin"

[[tool.provlab.cloud.orgs]]  # seeded into the stub before any test, parents first
name = "Acme Corp"
parent = "Lab Root"        # optional; the root org by default
templates = ["TMPL0PROVLAB"]  # enabled in the org; default: the lab's template

[[tool.provlab.cloud.users]]
email = "owner@acme.test"
password = "acme-owner-pw"
org = "Acme Corp"          # optional; the root org by default
role = "Admin"             # Admin | Staff | User
```
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from provlab.cloud.credentials import DEFAULT_BEARER_TTL_S, DEFAULT_SESSION_TTL_S
from provlab.cloud.mqtt_bridge import MqttBridgeError, broker_address
from provlab.cloud.store.backend import backend_name
from provlab.cloud.stub import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD
from provlab.emulator.defects import unknown_defect
from provlab.emulator.profile import PROFILES
from provlab.emulator.transports import TRANSPORTS
from provlab.lab.board_specs import AttachedBoard, BoardSource, BoardSpecError, parse_item
from provlab.lab.remote_cloud import check_cloud_url
from provlab.wifi.adapter import PrefixAddressing
from provlab.wifi.world import air_problem, is_adapter, options_problem

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

ROOT_ORG_NAME = "Lab Root"  # the org the stub seeds (provlab.cloud.stub.DEFAULT_ORG)


class LabConfigError(ValueError):
    """A lab config value that is not allowed; names the key, what it got and what is allowed (and the
    file's line, when the config came from a file)."""

    def __init__(self, source: str, key: str, problem: str, line: int | None = None) -> None:
        super().__init__(f"{source}{f':{line}' if line else ''}: {key}: {problem}")
        self.source = source
        self.key = key
        self.problem = problem
        self.line = line


class LabConfigErrors(LabConfigError):
    """Every problem of one config file at once (each with its key and line), so one edit fixes them all."""

    def __init__(self, errors: list[LabConfigError]) -> None:
        first = errors[0]
        super().__init__(first.source, first.key, first.problem, first.line)
        self.errors = errors
        lines = "\n".join(f"  {error}" for error in errors)
        self.args = (f"{len(errors)} problems in the lab config:\n{lines}",)


def _did_you_mean(word: str, allowed: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(allowed), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class KeyLines:
    """Line numbers of keys in a TOML file's text, by dotted key (`boards.profile`, `home[1].ssid`)."""

    def __init__(self, text: str, table_prefix: str = "") -> None:
        self.lines = text.splitlines()
        self.prefix = table_prefix  # "tool.provlab." in a pyproject.toml

    def find(self, key: str) -> int | None:
        parts = [p for p in re.split(r"\.(?![^\[]*\])", key) if p]
        if not parts:
            return None
        name = re.sub(r"\[\d+\]$", "", parts[-1])
        tables = [re.sub(r"\[(\d+)\]$", "", p) for p in parts[:-1]]
        index = next((int(m[1]) for p in parts[:-1] if (m := re.search(r"\[(\d+)\]$", p))), 0)
        header = self.prefix + ".".join(tables)
        start = 0
        if tables:
            seen = -1
            for number, text in enumerate(self.lines):
                stripped = text.strip()
                if stripped in (f"[{header}]", f"[[{header}]]"):
                    seen += 1
                    if seen == index:
                        start = number + 1
                        break
            else:
                return self._assignment(f"{tables[-1]}", 0) or None
        elif self.prefix:
            for number, text in enumerate(self.lines):
                if text.strip() == f"[{self.prefix.rstrip('.')}]":
                    start = number + 1
                    break
        return self._assignment(name, start)

    def _assignment(self, name: str, start: int) -> int | None:
        pattern = re.compile(rf"^\s*{re.escape(name)}\s*=")
        for number in range(start, len(self.lines)):
            text = self.lines[number].strip()
            if number > start and text.startswith("[") and not pattern.match(text):
                break
            if pattern.match(self.lines[number]):
                return number + 1
        return None


@dataclass(frozen=True)
class HomeNetwork:
    ssid: str = "ProvlabHome"
    passphrase: str = "correct-horse-battery"
    channel: int = 6
    internet: bool = True


ROLES = ("Admin", "Staff", "User")


@dataclass(frozen=True)
class SeedOrg:
    """An organization the lab's cloud starts with."""

    name: str
    parent: str | None = None
    templates: tuple[str, ...] | None = None
    """Templates enabled in it; None: the lab's template."""


@dataclass(frozen=True)
class SeedUser:
    """A user the lab's cloud starts with (active, password set: no invitation needed)."""

    email: str
    password: str = field(repr=False)  # out of reprs, logs and reports
    org: str | None = None
    role: str = "Admin"


CLOCK_KINDS = ("auto", "virtual", "wall")


@dataclass(frozen=True)
class LabConfig:
    boards: int = 1
    profile: str = "edgent-esp32"
    template_id: str = "TMPL0PROVLAB"
    template_name: str = "Device"
    time_scale: float = 0.01
    """On a wall clock: device seconds per wall second for the emulated parts (the virtual clock ignores it)."""
    clock: str = "auto"
    """`auto` (virtual when everything runs in this process, else wall), `virtual` or `wall`."""
    wifi: str = "sim"
    """The air: `sim`, `netns`, or `KIND:IFACE` (`wpa:wlan0`): the real air, the phone on that adapter."""
    phone_radio: Mapping[str, Any] = field(default_factory=dict)
    """Options of the real adapter (`provlab.wifi.world.ADAPTER_OPTIONS`); only with `wifi = KIND:IFACE`."""
    home: HomeNetwork = field(default_factory=HomeNetwork)
    extra_networks: tuple[HomeNetwork, ...] = ()
    cloud_host: str = "blynk.cloud"
    cloud_tls: bool = True
    """Boards log in over TLS trusting the lab CA (the firmware's default, port_ssl); False: plain TCP."""
    cloud_url: str | None = None
    """A running `provlab cloud serve` (loopback) to use instead of an embedded stub."""
    mqtt_broker: str | None = None
    """`mqtt://host:port` of an MQTT broker (Mosquitto, loopback) the embedded stub's MQTT device API fronts."""
    cloud_admin_email: str = DEFAULT_ADMIN_EMAIL
    cloud_admin_password: str = field(default=DEFAULT_ADMIN_PASSWORD, repr=False)
    session_ttl_s: float = DEFAULT_SESSION_TTL_S
    """The embedded stub's password-session lifetime (lab seconds; Blynk's default 7 days)."""
    bearer_ttl_s: float = DEFAULT_BEARER_TTL_S
    """The embedded stub's OAuth2 bearer lifetime (lab seconds; Blynk's documented 24 h)."""
    cloud_db: str | None = field(default=None, repr=False)
    """The embedded stub's store on PostgreSQL (`postgresql://…`): each lab gets a schema of its own there,
    dropped when the lab closes. None: a SQLite file (`cloud.db`) in each test's artifact folder."""
    defects: tuple[str, ...] = ()
    """Named firmware defects switched on in every emulated board (to prove scenarios catch them)."""
    seed_orgs: tuple[SeedOrg, ...] = ()
    seed_users: tuple[SeedUser, ...] = ()
    attached: tuple[AttachedBoard, ...] = ()
    """Boards beyond the emulated ones: serial ports, inventory entries, replayed recordings."""
    inventory: str | None = None
    """The board inventory file `inv:NAME` items are looked up in."""
    firmware: str | None = None
    """An ESP32 app image (`--flash FILE`): written with esptool to every real board once before the run (over
    an inventory board's own `firmware`), and the app every emulated board boots (its version in the banner)."""
    unmasked_pcap: bool = False
    """Write the `netns` capture with secrets as they were sent (`--unmasked-pcap`); masked by default."""
    port_wait: float = 10.0
    """Wall seconds a test waits for an attached board's port that went away in an earlier test (`--port-wait`)."""

    def __post_init__(self) -> None:
        check = _Checker("lab config")
        check.one_of("clock", self.clock, CLOCK_KINDS)
        for key, seconds in (("cloud.session_ttl_s", self.session_ttl_s), ("cloud.bearer_ttl_s", self.bearer_ttl_s)):
            if not seconds > 0:
                check.attempt(_raise, "lab config", key, lifetime_problem(seconds))
        if self.clock == "virtual" and (self.cloud_url or self.attached or self.mqtt_broker):
            outside = (
                "a cloud stub in another process (cloud.url)"
                if self.cloud_url
                else "boards attached by serial"
                if self.attached
                else "an MQTT broker in another process (cloud.mqtt_broker)"
            )
            raise LabConfigError(
                "lab config",
                "clock",
                f"'virtual' needs everything in this process, but the lab has {outside}; use 'auto' or 'wall'",
            )
        check.one_of("boards.profile", self.profile, PROFILES.names())
        transport = PROFILES[self.profile]().transport
        if transport not in TRANSPORTS:
            raise LabConfigError(
                "lab config",
                "boards.profile",
                f"{self.profile!r} talks to the cloud over {transport!r}, which is not one of "
                f"{', '.join(TRANSPORTS.names())} (the registered cloud transports)",
            )
        wifi_problem = air_problem(self.wifi)
        if wifi_problem is not None:
            raise LabConfigError("lab config", "wifi", wifi_problem)
        self._check_real_air()
        check.at_least("boards.emulated", self.boards, 0)
        if not self.time_scale > 0:
            raise LabConfigError("lab config", "time_scale", f"must be > 0, got {self.time_scale!r}")
        if not self.port_wait >= 0:
            raise LabConfigError(
                "lab config", "boards.port_wait", f"expected wall seconds >= 0, got {self.port_wait!r}"
            )
        for name in self.defects:
            problem = unknown_defect(name)
            if problem is not None:
                raise LabConfigError("lab config", "defects", problem)
        if not self.template_id.startswith("TMPL"):
            raise LabConfigError("lab config", "template.id", f"must start with 'TMPL', got {self.template_id!r}")
        self._check_seeds()
        if self.cloud_url is not None:
            problem = check_cloud_url(self.cloud_url)
            if problem is not None:
                raise LabConfigError("lab config", "cloud.url", problem)
        if self.mqtt_broker is not None:
            if self.cloud_url is not None:
                raise LabConfigError(
                    "lab config",
                    "cloud.mqtt_broker",
                    "applies to the embedded stub; a stub at cloud.url fronts a broker with "
                    "`provlab cloud serve --mqtt-broker`",
                )
            try:
                broker_address(self.mqtt_broker)
            except MqttBridgeError as exc:
                raise LabConfigError("lab config", "cloud.mqtt_broker", str(exc)) from None
        self._check_cloud_db()
        if any(board.source is BoardSource.INVENTORY for board in self.attached) and self.inventory is None:
            raise LabConfigError(
                "lab config", "boards.inventory", "inv:NAME boards need an inventory file (boards.inventory)"
            )

    def _check_cloud_db(self) -> None:
        if self.cloud_db is None:
            return
        if backend_name(self.cloud_db) != "postgresql":
            raise LabConfigError(
                "lab config",
                "cloud.db",
                "a postgresql://user:pass@host:port/db URL (without it the embedded stub keeps SQLite in each "
                "test's folder)",
            )
        if self.cloud_url is not None:
            raise LabConfigError(
                "lab config", "cloud.db", "the stub at cloud.url has its own database (provlab cloud serve --db)"
            )

    def _check_real_air(self) -> None:
        """A real adapter as the phone's radio: real boards only, a cloud they can reach, valid adapter options."""
        if not is_adapter(self.wifi):
            if self.phone_radio:
                raise LabConfigError(
                    "lab config", "phone_radio", f"applies to wifi = 'wpa:IFACE' or 'nm:IFACE', not {self.wifi!r}"
                )
            return
        problem = options_problem(self.wifi, self.phone_radio)
        if problem is not None:
            raise LabConfigError("lab config", "phone_radio", problem)
        static = self.phone_radio.get("static")
        if static is not None:
            try:
                PrefixAddressing.from_config(dict(static))
            except ValueError as exc:
                raise LabConfigError("lab config", "phone_radio", str(exc)) from None
        if self.boards:
            raise LabConfigError(
                "lab config",
                "boards.emulated",
                f"with wifi = {self.wifi!r} the air is the real one around this host, where an emulated board has "
                "no radio; attach real boards (boards.attached, --boards /dev/ttyUSB0) or use wifi = 'sim'",
            )
        if self.cloud_url is None:
            raise LabConfigError(
                "lab config",
                "cloud.url",
                f"with wifi = {self.wifi!r} real boards log in over your network and cannot reach an embedded stub "
                "(it listens on loopback): run `provlab cloud serve --host 0.0.0.0` on this host, set cloud.url to "
                "its loopback URL and cloud.host to this host's address on the boards' network",
            )

    def _check_seeds(self) -> None:
        """Seeds must name orgs that exist by the time they are created (parents first)."""
        known: set[str] = set()
        for index, org in enumerate(self.seed_orgs):
            key = f"cloud.orgs[{index}]"
            if org.name in known:
                raise LabConfigError("lab config", f"{key}.name", f"{org.name!r} is seeded twice")
            if org.parent is not None and org.parent not in known and org.parent != ROOT_ORG_NAME:
                raise LabConfigError(
                    "lab config", f"{key}.parent", f"{org.parent!r} is not seeded before it (nor the root org)"
                )
            known.add(org.name)
        emails: set[str] = set()
        for index, user in enumerate(self.seed_users):
            key = f"cloud.users[{index}]"
            if user.role not in ROLES:
                raise LabConfigError("lab config", f"{key}.role", f"{user.role!r} is not one of {', '.join(ROLES)}")
            if user.org is not None and user.org not in known and user.org != ROOT_ORG_NAME:
                raise LabConfigError("lab config", f"{key}.org", f"{user.org!r} is not a seeded org (nor the root org)")
            if "@" not in user.email or user.email in emails:
                raise LabConfigError("lab config", f"{key}.email", f"{user.email!r} is not a new e-mail address")
            if not user.password:
                raise LabConfigError("lab config", f"{key}.password", "is required (the user logs in with it)")
            emails.add(user.email)

    def with_overrides(self, **overrides: Any) -> LabConfig:
        """A copy with command-line values applied (None means: keep the file's value)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


class _Checker:
    def __init__(self, source: str, lines: KeyLines | None = None) -> None:
        self.source = source
        self.lines = lines
        self.problems: list[LabConfigError] = []

    def attempt(self, check: Callable[..., Any], *args: Any) -> None:
        """Run one key's check; a problem is kept (with the key's line) and the next key is checked."""
        try:
            check(*args)
        except LabConfigErrors as many:
            self.problems += many.errors
        except LabConfigError as exc:
            line = self.lines.find(exc.key) if self.lines is not None else None
            self.problems.append(LabConfigError(self.source, exc.key, exc.problem, line))

    def raise_problems(self) -> None:
        if len(self.problems) == 1:
            raise self.problems[0]
        if self.problems:
            raise LabConfigErrors(self.problems)

    def one_of(self, key: str, value: object, allowed: tuple[str, ...]) -> None:
        if value not in allowed:
            raise LabConfigError(self.source, key, f"{value!r} is not one of {', '.join(allowed)}")

    def at_least(self, key: str, value: object, low: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise LabConfigError(self.source, key, f"expected an integer >= {low}, got {value!r}")

    def typed(self, table: Mapping[str, Any], key: str, prefix: str, kind: type | tuple[type, ...]) -> Any:
        value = table[key]
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            raise LabConfigError(self.source, f"{prefix}{key}", f"expected a number, got {value!r}")
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise LabConfigError(self.source, f"{prefix}{key}", f"expected {names}, got {value!r}")
        return value

    def known(self, table: Mapping[str, Any], prefix: str, allowed: tuple[str, ...]) -> None:
        for key in table:
            if key not in allowed:
                hint = _did_you_mean(key, allowed)
                problem = f"unknown key{hint}; allowed here: {', '.join(allowed)}"
                self.attempt(_raise, self.source, f"{prefix}{key}", problem)


def _raise(source: str, key: str, problem: str) -> None:
    raise LabConfigError(source, key, problem)


def _append(items: list[Any], value: Callable[..., Any], *args: Any) -> None:
    items.append(value(*args))


def _set(kw: dict[str, Any], field_name: str, value: Callable[..., Any], *args: Any) -> None:
    """kw[field_name] = value(*args): one key's checked value, for `_Checker.attempt`."""
    kw[field_name] = value(*args)


def _lifetime(check: _Checker, table: Mapping[str, Any], key: str) -> float:
    """A credential lifetime of `[cloud]`: seconds, above 0."""
    seconds = float(check.typed(table, key, "cloud.", (int, float)))
    if not seconds > 0:
        raise LabConfigError(check.source, f"cloud.{key}", lifetime_problem(seconds))
    return seconds


def lifetime_problem(seconds: float) -> str:
    return f"expected a lifetime in seconds above 0, got {seconds:g}"


def _relative(path: str, base: Path | None) -> Path:
    """A path from the config file, relative to the file's folder."""
    given = Path(path).expanduser()
    return given if given.is_absolute() or base is None else base / given


def _attached(check: _Checker, value: object, base: Path | None) -> tuple[AttachedBoard, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise LabConfigError(check.source, "boards.attached", f"expected a list of board names, got {value!r}")
    boards = []
    for index, item in enumerate(value):
        try:
            parsed = parse_item(item)
        except BoardSpecError as exc:
            raise LabConfigError(check.source, f"boards.attached[{index}]", str(exc)) from None
        if isinstance(parsed, int):
            raise LabConfigError(check.source, f"boards.attached[{index}]", "emulated boards go in boards.emulated")
        if parsed.source is BoardSource.REPLAY:
            parsed = AttachedBoard(BoardSource.REPLAY, str(_relative(parsed.target, base)))
        boards.append(parsed)
    return tuple(boards)


def config_from_mapping(
    data: Mapping[str, Any], source: str = "lab config", base: Path | None = None, lines: KeyLines | None = None
) -> LabConfig:
    """Build a `LabConfig` from a parsed `[tool.provlab]` table, naming the key of any bad value; paths in
    it are relative to `base` (the config file's folder). Every problem is reported at once (`LabConfigErrors`),
    each with its line when `lines` knows the file's text."""
    check = _Checker(source, lines)
    attempt = check.attempt
    check.known(
        data, "", ("clock", "time_scale", "wifi", "phone_radio", "boards", "template", "home", "cloud", "defects")
    )
    kw: dict[str, Any] = {}

    def defects() -> None:
        value = data["defects"]
        if not isinstance(value, list) or not all(isinstance(d, str) for d in value):
            raise LabConfigError(source, "defects", f"expected a list of defect names, got {value!r}")
        for name in value:
            problem = unknown_defect(name)
            if problem is not None:
                raise LabConfigError(source, "defects", problem)
        kw["defects"] = tuple(value)

    if "defects" in data:
        attempt(defects)
    top_level: tuple[tuple[str, type | tuple[type, ...]], ...] = (
        ("time_scale", (int, float)),
        ("wifi", str),
        ("clock", str),
        ("phone_radio", Mapping),
    )
    for key, kind in top_level:
        if key in data:
            attempt(_set, kw, key, check.typed, data, key, "", kind)
    if "time_scale" in kw:
        kw["time_scale"] = float(kw["time_scale"])
    if "phone_radio" in kw:
        kw["phone_radio"] = dict(kw["phone_radio"])
    boards = data.get("boards", {})
    if not isinstance(boards, Mapping):
        attempt(_raise, source, "boards", f"expected a table, got {boards!r}")
        boards = {}
    check.known(boards, "boards.", ("emulated", "profile", "attached", "inventory", "firmware", "port_wait"))
    if "port_wait" in boards:
        attempt(_set, kw, "port_wait", check.typed, boards, "port_wait", "boards.", (int, float))
    if "emulated" in boards:
        attempt(_set, kw, "boards", check.typed, boards, "emulated", "boards.", int)
    if "profile" in boards:

        def profile() -> None:
            name = check.typed(boards, "profile", "boards.", str)
            if name not in PROFILES.names():
                allowed = PROFILES.names()
                hint = _did_you_mean(name, allowed)
                raise LabConfigError(source, "boards.profile", f"{name!r} is not one of {', '.join(allowed)}{hint}")
            kw["profile"] = name

        attempt(profile)
    if "attached" in boards:

        def attached() -> None:
            kw["attached"] = _attached(check, boards["attached"], base)
            kw.setdefault("boards", 0)  # listing real boards means: these boards (add `emulated` for more)

        attempt(attached)
    if "inventory" in boards:

        def inventory() -> None:
            kw["inventory"] = str(_relative(check.typed(boards, "inventory", "boards.", str), base))

        attempt(inventory)
    if "firmware" in boards:

        def firmware() -> None:
            kw["firmware"] = str(_relative(check.typed(boards, "firmware", "boards.", str), base))

        attempt(firmware)
    template = data.get("template", {})
    check.known(template, "template.", ("id", "name"))
    for key, field_name in (("id", "template_id"), ("name", "template_name")):
        if key in template:
            attempt(_set, kw, field_name, check.typed, template, key, "template.", str)
    homes = data.get("home", [])
    if isinstance(homes, Mapping):
        homes = [homes]
    networks: list[HomeNetwork] = []
    for index, home in enumerate(homes):

        def network(home: Mapping[str, Any] = home, prefix: str = f"home[{index}].") -> None:
            check.known(home, prefix, ("ssid", "passphrase", "channel", "internet"))
            if "ssid" not in home:
                raise LabConfigError(source, f"{prefix}ssid", "is required")
            networks.append(
                HomeNetwork(
                    ssid=check.typed(home, "ssid", prefix, str),
                    passphrase=check.typed(home, "passphrase", prefix, str) if "passphrase" in home else "",
                    channel=check.typed(home, "channel", prefix, int) if "channel" in home else 6,
                    internet=check.typed(home, "internet", prefix, bool) if "internet" in home else True,
                )
            )

        attempt(network)
    if networks:
        kw["home"], kw["extra_networks"] = networks[0], tuple(networks[1:])
    cloud = data.get("cloud", {})
    check.known(
        cloud,
        "cloud.",
        (
            "host",
            "tls",
            "url",
            "mqtt_broker",
            "db",
            "admin_email",
            "admin_password",
            "session_ttl_s",
            "bearer_ttl_s",
            "orgs",
            "users",
        ),
    )
    cloud_keys: tuple[tuple[str, str, type], ...] = (
        ("host", "cloud_host", str),
        ("tls", "cloud_tls", bool),
        ("url", "cloud_url", str),
        ("mqtt_broker", "mqtt_broker", str),
        ("db", "cloud_db", str),
        ("admin_email", "cloud_admin_email", str),
        ("admin_password", "cloud_admin_password", str),
    )
    for key, field_name, kind in cloud_keys:
        if key in cloud:
            attempt(_set, kw, field_name, check.typed, cloud, key, "cloud.", kind)
    for key in ("session_ttl_s", "bearer_ttl_s"):
        if key in cloud:
            attempt(_set, kw, key, _lifetime, check, cloud, key)
    for key in ("orgs", "users"):
        if not isinstance(cloud.get(key, []), list):
            attempt(_raise, source, f"cloud.{key}", f"expected an array of tables, got {cloud[key]!r}")
    seed_orgs: list[SeedOrg] = []
    seed_users: list[SeedUser] = []
    orgs = cloud.get("orgs", []) if isinstance(cloud.get("orgs", []), list) else []
    users = cloud.get("users", []) if isinstance(cloud.get("users", []), list) else []
    for i, entry in enumerate(orgs):
        attempt(_append, seed_orgs, _seed_org, check, entry, f"cloud.orgs[{i}].")
    for i, entry in enumerate(users):
        attempt(_append, seed_users, _seed_user, check, entry, f"cloud.users[{i}].")
    kw["seed_orgs"], kw["seed_users"] = tuple(seed_orgs), tuple(seed_users)
    check.raise_problems()
    try:
        return LabConfig(**kw)
    except LabConfigError as exc:
        line = lines.find(exc.key) if lines is not None else None
        raise LabConfigError(source, exc.key, exc.problem, line) from None


def _seed_org(check: _Checker, entry: Any, prefix: str) -> SeedOrg:
    if not isinstance(entry, Mapping):
        raise LabConfigError(check.source, prefix.rstrip("."), f"expected a table, got {entry!r}")
    check.known(entry, prefix, ("name", "parent", "templates"))
    if "name" not in entry:
        raise LabConfigError(check.source, f"{prefix}name", "is required")
    templates = None
    if "templates" in entry:
        value = entry["templates"]
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            raise LabConfigError(check.source, f"{prefix}templates", f"expected a list of template ids, got {value!r}")
        templates = tuple(value)
    return SeedOrg(
        name=check.typed(entry, "name", prefix, str),
        parent=check.typed(entry, "parent", prefix, str) if "parent" in entry else None,
        templates=templates,
    )


def _seed_user(check: _Checker, entry: Any, prefix: str) -> SeedUser:
    if not isinstance(entry, Mapping):
        raise LabConfigError(check.source, prefix.rstrip("."), f"expected a table, got {entry!r}")
    check.known(entry, prefix, ("email", "password", "org", "role"))
    for key in ("email", "password"):
        if key not in entry:
            raise LabConfigError(check.source, f"{prefix}{key}", "is required")
    return SeedUser(
        email=check.typed(entry, "email", prefix, str),
        password=check.typed(entry, "password", prefix, str),
        org=check.typed(entry, "org", prefix, str) if "org" in entry else None,
        role=check.typed(entry, "role", prefix, str) if "role" in entry else "Admin",
    )


def find_config_file(start: Path) -> Path | None:
    """`provlab.toml`, or a pyproject.toml with a `[tool.provlab]` table, in `start` or above."""
    for folder in (start, *start.parents):
        candidate = folder / "provlab.toml"
        if candidate.is_file():
            return candidate
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "provlab" in _load(pyproject).get("tool", {}):
            return pyproject
    return None


def _load(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
        return data
    except tomllib.TOMLDecodeError as exc:
        raise LabConfigError(str(path), "(file)", f"not valid TOML: {exc}") from None


def load_config(path: Path | None) -> LabConfig:
    """The config in `path` (provlab.toml, or pyproject.toml's [tool.provlab]); defaults when None."""
    if path is None:
        return LabConfig()
    data = _load(path)
    text = path.read_text(encoding="utf-8")
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("provlab", {})
        source, prefix = str(path), "tool.provlab."
    elif "provlab" in data.get("tool", {}):
        data, source, prefix = data["tool"]["provlab"], str(path), "tool.provlab."
    else:
        source, prefix = str(path), ""
    return config_from_mapping(data, source, path.parent, KeyLines(text, prefix))
