
import pytest

from simulators.services import MosquittoServer, RedisServer

# Real services.  These fixtures never skip: if mosquitto / redis-server cannot
# start, services.ServiceError is raised and the tests using them error out.


@pytest.fixture
def mosquitto():
    """A fresh mosquitto broker for one test (free port, own temp dir)."""
    srv = MosquittoServer().start()
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture(scope="session")
def mosquitto_session():
    """One mosquitto broker shared by the whole session (do not stop it)."""
    srv = MosquittoServer().start()
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture(scope="session")
def redis_server():
    """One redis-server shared by the whole session."""
    srv = RedisServer().start()
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture
def redis_url(redis_server):
    """URL of the session redis-server, with the data set flushed first."""
    if not redis_server.running:  # a previous test stopped it
        redis_server.start()
    redis_server.flushall()
    return redis_server.url
