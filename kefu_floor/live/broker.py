"""The embedded MQTT broker (amqtt, in-process) for a first run with nothing installed.

Production and the tests use a real broker (mosquitto, EMQX); this one exists so `serve`
and `demo` work on a bare machine.
"""
from __future__ import annotations

import logging
import socket

log = logging.getLogger("kefu_floor.broker")


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class EmbeddedBroker:
    """`async with EmbeddedBroker() as b:` runs amqtt on 127.0.0.1 (1883 if free) at b.url."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None):
        self.host = host
        self.port = port if port is not None else (1883 if _port_free(host, 1883)
                                                   else _free_port(host))
        self._broker = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    async def __aenter__(self) -> "EmbeddedBroker":
        from amqtt.broker import Broker

        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.WARNING)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin":
                        {"allow_anonymous": True}},
        }
        self._broker = Broker(config)
        await self._broker.start()
        log.info("embedded MQTT broker listening on %s", self.url)
        return self

    async def __aexit__(self, *exc) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None
