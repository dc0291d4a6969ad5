"""The sync face of a `Phone`: what a scenario calls to discover, ask for tokens, talk to a board and provision."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from provlab.lab.enrollment import Enrollment
from provlab.lab.lab_board import LabBoard
from provlab.lab.phone import Phone
from provlab.lab.runtime import LAB_CALL_BUDGET_S
from provlab.lab.steps import StepJournal, step
from provlab.wifi.backend import NetworkNotFound
from provlab.wifi.http import LinkTransport

__tracebackhide__ = True  # pytest shows a scenario's failure without provlab's own frames (--fulltrace shows them)

if TYPE_CHECKING:
    from provlab.lab.lab import Lab


@dataclass(frozen=True)
class BoardReply:
    """What a board's web server answered: status (None when nothing came), headers (lower-case names), body."""

    status: int | None
    headers: dict[str, str]
    body: str
    error: str = ""


class LabPhone:
    """The sync face of a `Phone`."""

    def __init__(self, lab: Lab, phone: Phone) -> None:
        self.lab = lab
        self.phone = phone

    @property
    def name(self) -> str:
        return self.phone.name

    @property
    def step_journal(self) -> StepJournal:
        return self.lab.steps

    @step("discover")
    def discover(self) -> list[Any]:
        return self.lab.loop.run(self.phone.discover(), LAB_CALL_BUDGET_S)

    @step("request_token")
    def request_token(self, template_id: str | None = None, org_id: int | None = None) -> str:
        """A fresh dynamic token for `template_id` (the lab's template by default), as this phone's user,
        for a device of the user's org or of `org_id`."""
        phone = self.phone

        async def issue() -> str:
            if not phone.logged_in:
                await phone.login()
            return await phone.request_token(template_id or self.lab.config.template_id, org_id)

        return self.lab.loop.run(issue(), LAB_CALL_BUDGET_S)

    @step("board_get")
    def board_get(self, board: LabBoard | str, path: str, query: str = "") -> tuple[int | None, str]:
        """Join the board's AP, GET `path?query` from its web server, leave. (None, error) when no reply came."""
        reply = self.board_request(board, path, query=query)
        return reply.status, reply.body if reply.status is not None else reply.error

    @step("board_request")
    def board_request(
        self,
        board: LabBoard | str,
        path: str,
        *,
        method: str = "GET",
        query: str = "",
        form: dict[str, str] | None = None,
    ) -> BoardReply:
        """Join the board's AP, send `method path?query` to its web server (`form`: a urlencoded body, as an HTML
        form posts it), leave; the whole reply, headers included (status None and `error` when none came)."""
        if isinstance(board, LabBoard):
            board.require_on_air(f"{method} {path} from its web server")
        ssid = board if isinstance(board, str) else board.ssid
        radio = self.phone.radio
        scale = self.lab.config.time_scale

        async def send() -> BoardReply:
            deadline = asyncio.get_running_loop().time() + max(30 * scale, 2.0)
            while True:
                try:
                    link = await radio.join(ssid)
                    break
                except NetworkNotFound:
                    if asyncio.get_running_loop().time() > deadline:
                        raise
                    await asyncio.sleep(max(scale, 0.01))
            try:
                url = f"http://{link.gateway}{path}" + (f"?{query}" if query else "")
                async with httpx.AsyncClient(transport=LinkTransport(link), timeout=max(5 * scale, 2.0)) as client:
                    for attempt in range(1, 6):  # like the app: a refused connection is retried, 1 s apart
                        try:
                            response = await client.request(method, url, data=form)
                            break
                        except (httpx.ConnectError, ConnectionRefusedError):
                            if attempt == 5:
                                raise
                            await asyncio.sleep(max(1.0 * scale, 0.01))
                self.phone.journal.write(
                    "board_http",
                    method=method,
                    path=path,
                    query=query,
                    form=sorted(form) if form else None,  # names only: a form carries the Wi-Fi password
                    status=response.status_code,
                    response=response.text[:2000],
                )
                headers = {name.lower(): value for name, value in response.headers.items()}
                return BoardReply(response.status_code, headers, response.text)
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
                self.phone.journal.write("board_http", method=method, path=path, query=query, error=error)
                return BoardReply(None, {}, "", error)
            finally:
                await radio.leave()

        return self.lab.loop.run(send(), LAB_CALL_BUDGET_S)

    @step("provision")
    def provision(self, board: LabBoard | str, **kw: Any) -> Enrollment:
        """Provision `board` onto the lab's home network with a fresh token; raises on failure."""
        cfg = self.lab.config
        kw.setdefault("wifi_ssid", cfg.home.ssid)
        kw.setdefault("wifi_pass", cfg.home.passphrase)
        kw.setdefault("cloud_host", cfg.cloud_host)
        kw.setdefault("cloud_port", self.lab.cloud_port)
        kw.setdefault("evidence", str(self.lab.artifacts))
        if isinstance(board, LabBoard):
            board.require_on_air("provision it")
        ssid = board if isinstance(board, str) else board.ssid
        return self.lab.loop.run(self.phone.provision(ssid, **kw), LAB_CALL_BUDGET_S)
