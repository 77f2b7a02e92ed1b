"""`serve --broker mqtts://…` with a CA and a client certificate, against a real mosquitto
TLS listener that requires client certificates (certificates made here with openssl)."""
from __future__ import annotations

import asyncio
import json
import time

from harness.handworked import SITE, hw_setup
from harness.pki import make_pki
from kefu_floor.live.ingest import LiveClock
from kefu_floor.live.mqtt import parse_broker_url, publish_batches
from kefu_floor.live.service import Service, ServiceConfig
from simulators.services import MosquittoServer, free_port


def test_mqtts_with_client_certificate(tmp_path):
    make_pki(tmp_path)
    tls_port = free_port()
    extra = (f"listener {tls_port} 127.0.0.1\ncafile {tmp_path}/ca.pem\n"
             f"certfile {tmp_path}/server.pem\nkeyfile {tmp_path}/server.key\n"
             "require_certificate true\n")
    url = f"mqtts://127.0.0.1:{tls_port}"
    tls = dict(tls_ca=str(tmp_path / "ca.pem"), tls_cert=str(tmp_path / "client.pem"),
               tls_key=str(tmp_path / "client.key"))

    async def main(broker):
        cfg = ServiceConfig(setups={SITE: hw_setup()}, broker=url, ws_port=0,
                            client_id="tls-svc", clock=LiveClock(), **tls)
        async with Service(cfg) as svc:
            await svc.wait_connected(timeout=20)
            pub = parse_broker_url(url, tls["tls_ca"], tls["tls_cert"], tls["tls_key"])
            ev = {"type": "sign_in", "ts": 1793685600000, "agent": "A001"}
            await publish_batches(pub, SITE, [json.dumps(ev).encode()])
            eng = svc.engines[SITE]
            t0 = time.monotonic()
            while eng.counters()["accepted"] < 1:
                assert time.monotonic() - t0 < 20, "event not received over TLS"
                await asyncio.sleep(0.05)
        # without a client certificate the broker refuses the connection
        bare = ServiceConfig(setups={SITE: hw_setup()}, broker=url, ws_port=0,
                             client_id="tls-nocert", tls_ca=tls["tls_ca"])
        async with Service(bare) as svc:
            await asyncio.sleep(2.0)
            return svc.subscriber.connected.is_set()

    with MosquittoServer(extra_config=extra) as broker:
        broker.start()
        connected_without_cert = asyncio.run(main(broker))
    assert not connected_without_cert
