"""The real-service fixtures really work (raw sockets only, no client libraries)."""

import os
import socket
import struct

import pytest

from simulators.services import HOST, MosquittoServer, RedisServer, ServiceError, redis_command

# ---------------------------------------------------------------- raw MQTT 3.1.1

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, DISCONNECT = 1, 2, 3, 4, 8, 9, 14


def _varlen(n):
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s):
    b = s.encode()
    return struct.pack("!H", len(b)) + b


def _packet(first_byte, body):
    return bytes([first_byte]) + _varlen(len(body)) + body


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buf += chunk
    return buf


def read_packet(sock):
    """Return (packet_type, flags, body)."""
    first = _recv_exact(sock, 1)[0]
    mult, length = 1, 0
    while True:
        digit = _recv_exact(sock, 1)[0]
        length += (digit & 0x7F) * mult
        mult *= 128
        if not digit & 0x80:
            break
    return first >> 4, first & 0x0F, _recv_exact(sock, length)


def mqtt_connect(port, client_id, clean=True, keepalive=30):
    """Open a socket, send CONNECT; return (sock, session_present, return_code)."""
    sock = socket.create_connection((HOST, port), timeout=5)
    flags = 0x02 if clean else 0x00
    body = _str("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive) + _str(client_id)
    sock.sendall(_packet(CONNECT << 4, body))
    ptype, _, payload = read_packet(sock)
    assert ptype == CONNACK and len(payload) == 2, (ptype, payload)
    return sock, bool(payload[0] & 0x01), payload[1]


def mqtt_subscribe(sock, topic, qos=1, packet_id=1):
    body = struct.pack("!H", packet_id) + _str(topic) + bytes([qos])
    sock.sendall(_packet((SUBSCRIBE << 4) | 0x02, body))
    ptype, _, payload = read_packet(sock)
    assert ptype == SUBACK, ptype
    assert struct.unpack("!H", payload[:2])[0] == packet_id
    return payload[2]  # granted QoS


def mqtt_publish_qos1(sock, topic, payload, packet_id=1):
    sock.sendall(_packet((PUBLISH << 4) | 0x02, _str(topic) + struct.pack("!H", packet_id) + payload))
    ptype, _, body = read_packet(sock)
    assert ptype == PUBACK and struct.unpack("!H", body)[0] == packet_id, (ptype, body)


def mqtt_read_publish(sock):
    """Read one PUBLISH, PUBACK it if QoS1; return (topic, payload)."""
    ptype, flags, body = read_packet(sock)
    assert ptype == PUBLISH, ptype
    qos = (flags >> 1) & 0x03
    (tlen,) = struct.unpack("!H", body[:2])
    topic, rest = body[2:2 + tlen].decode(), body[2 + tlen:]
    if qos:
        pid, rest = rest[:2], rest[2:]
        sock.sendall(_packet(PUBACK << 4, pid))
    return topic, rest


def mqtt_disconnect(sock):
    try:
        sock.sendall(_packet(DISCONNECT << 4, b""))
    finally:
        sock.close()


# ---------------------------------------------------------------- mosquitto

def test_mosquitto_accepts_tcp(mosquitto):
    assert mosquitto.running
    assert mosquitto.port not in (1883, 8883)
    assert mosquitto.url == f"mqtt://127.0.0.1:{mosquitto.port}"
    with socket.create_connection((HOST, mosquitto.port), timeout=5):
        pass


def test_mosquitto_connack_ok(mosquitto):
    sock, session_present, rc = mqtt_connect(mosquitto.port, "kefu-test-connack")
    assert rc == 0
    assert not session_present
    mqtt_disconnect(sock)


def test_mosquitto_restart_same_port(mosquitto):
    port, pid = mosquitto.port, mosquitto.pid
    mosquitto.restart()
    assert mosquitto.running
    assert mosquitto.port == port
    assert mosquitto.pid != pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    sock, _, rc = mqtt_connect(mosquitto.port, "kefu-test-restart")
    assert rc == 0
    mqtt_disconnect(sock)


def test_mosquitto_restart_keeps_qos1_session(mosquitto):
    # persistent subscriber, then offline
    sub, _, rc = mqtt_connect(mosquitto.port, "kefu-floor-sub", clean=False)
    assert rc == 0
    assert mqtt_subscribe(sub, "kefu/test/#", qos=1) == 1
    mqtt_disconnect(sub)

    pub, _, _ = mqtt_connect(mosquitto.port, "kefu-pub-1")
    mqtt_publish_qos1(pub, "kefu/test/a", b"before-restart")
    mqtt_disconnect(pub)

    mosquitto.restart()

    pub, _, _ = mqtt_connect(mosquitto.port, "kefu-pub-2")
    mqtt_publish_qos1(pub, "kefu/test/b", b"after-restart")
    mqtt_disconnect(pub)

    sub, session_present, rc = mqtt_connect(mosquitto.port, "kefu-floor-sub", clean=False)
    assert rc == 0
    assert session_present, "persistent session lost across restart"
    got = [mqtt_read_publish(sub), mqtt_read_publish(sub)]
    mqtt_disconnect(sub)
    assert got == [("kefu/test/a", b"before-restart"), ("kefu/test/b", b"after-restart")]


def test_mosquitto_session_fixture(mosquitto_session):
    sock, _, rc = mqtt_connect(mosquitto_session.port, "kefu-test-session")
    assert rc == 0
    mqtt_disconnect(sock)


def test_mosquitto_stop_leaves_no_process():
    srv = MosquittoServer().start()
    pid, tmpdir = srv.pid, srv.tmpdir
    srv.close()
    assert not srv.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not tmpdir.exists()


def test_start_failure_raises_not_skips():
    # hold the port so the broker cannot bind it
    with socket.socket() as blocker:
        blocker.bind((HOST, 0))
        blocker.listen(1)
        srv = MosquittoServer(port=blocker.getsockname()[1])
        try:
            with pytest.raises(ServiceError, match="log tail"):
                srv.start(timeout=5)
            assert not srv.running
        finally:
            srv.close()


# ---------------------------------------------------------------- redis

def test_redis_ping_raw(redis_server):
    assert redis_server.port != 6379
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}/0"
    with socket.create_connection((HOST, redis_server.port), timeout=5) as s:
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        assert s.recv(64) == b"+PONG\r\n"


def test_redis_url_write(redis_url, redis_server):
    assert redis_url == redis_server.url
    assert redis_command(redis_server.port, "DBSIZE") == 0
    assert redis_command(redis_server.port, "SET", "kefu:probe", "1") == "OK"


def test_redis_url_is_flushed_between_tests(redis_url, redis_server):
    assert redis_command(redis_server.port, "GET", "kefu:probe") is None
    assert redis_command(redis_server.port, "DBSIZE") == 0


def test_redis_restart_same_port():
    with RedisServer() as srv:
        port, pid = srv.port, srv.pid
        srv.command("SET", "k", "v")
        srv.restart()
        assert srv.port == port and srv.pid != pid
        assert srv.command("PING") == "PONG"
        assert srv.command("GET", "k") == b"v"  # AOF: acknowledged writes survive
