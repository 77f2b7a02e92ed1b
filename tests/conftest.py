
import pytest

from kernels import compiled
from simulators.services import MosquittoServer, RedisCluster, RedisServer

# this process runs the kernels under numba (its tests read py_func, signatures, numba's
# errors); the commands the tests start run as a user's would: a replay from the extension
compiled.jit()

# Real services.  These fixtures never skip: if mosquitto / redis-server cannot
# start, services.ServiceError is raised and the tests using them error out.


def _running(server_cls):
    """A started server of `server_cls` for the fixture's scope, closed afterwards."""
    srv = server_cls().start()
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture
def mosquitto():
    """A fresh mosquitto broker for one test (free port, own temp dir)."""
    yield from _running(MosquittoServer)


@pytest.fixture(scope="session")
def mosquitto_session():
    """One mosquitto broker shared by the whole session (do not stop it)."""
    yield from _running(MosquittoServer)


@pytest.fixture(scope="session")
def redis_server():
    """One redis-server shared by the whole session."""
    yield from _running(RedisServer)


@pytest.fixture
def redis_url(redis_server):
    """URL of the session redis-server, with the data set flushed first."""
    if not redis_server.running:  # a previous test stopped it
        redis_server.start()
    redis_server.flushall()
    return redis_server.url


@pytest.fixture(scope="session")
def redis_cluster():
    """A 3-node Redis Cluster (AOF on every node) shared by the session."""
    c = RedisCluster().start()
    try:
        yield c
    finally:
        c.close()


@pytest.fixture(scope="session", autouse=True)
def compiled_kernels():
    """Compile (or load) the numba kernels once, before any test starts a subprocess: on a
    fresh checkout every process would otherwise compile them for itself at the same time."""

    from kefu_floor.engine import Engine
    from kefu_floor.replay import replay
    from kefu_floor.views.report import build_report
    from kefu_floor.cli.main import _setup
    import argparse

    from harness import HW as hw
    args = argparse.Namespace(policy="chengdu-2014", roster=hw / "roster.csv",
                              schedule=hw / "schedule.csv", site="cd1")
    eng = Engine(_setup(args))
    replay(eng, hw / "events.jsonl")
    build_report(eng.finish())
