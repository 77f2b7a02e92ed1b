"""The fuzz harness (simulators.fuzz), briefly: a few seconds of hostile payload streams
through the decoder, the engine and a report. `make fuzz` runs it for ten minutes."""
import pytest

from simulators.fuzz import check, run


@pytest.mark.slow
def test_fuzz_briefly():
    assert run(6, examples_per_round=40, out=None) >= 40


def test_fuzz_known_nasties():
    check([b"[" * 3000, b'{"type":"ready","ts":253402300799999,"agent":"A1"}',
           b'[{"type":"sale","ts":1793664000000,"agent":"A1","amount":1,"src":"g","seq":'
           b'4503599627370496},{"type":"sale","ts":1793664000001,"agent":"A1","amount":1,'
           b'"src":"g","seq":1}]', b"\xef\xbb\xbf{}", b"[" + b"1," * 5000 + b"1]"])


# ---------------------------------------------------------------- the feed's requests
import pytest  # noqa: E402
from hypothesis import given, settings, strategies as st  # noqa: E402

from kefu_floor.live.wsfeed import BadRequest, parse_request  # noqa: E402

_json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(st.one_of(
    st.binary(max_size=256),
    st.text(max_size=256),
    _json_like.map(lambda v: __import__("json").dumps(v)),
    st.fixed_dictionaries({"type": st.sampled_from(["report", "Report", "x"])},
                          optional={"month": st.one_of(st.text(max_size=10), st.integers(),
                                                       st.none())}).map(
        lambda v: __import__("json").dumps(v)),
    st.integers(1, 60_000).map(lambda n: "[" * n),
    st.integers(1, 60_000).map(lambda n: '{"a":' * n),
))
def test_any_client_message_is_a_month_or_a_bad_request(raw):
    """Whatever a feed client sends, the request parser answers with a month (or None)
    or a BadRequest with a code: never another exception (which would end the client's
    handler with a traceback)."""
    try:
        month = parse_request(raw)
    except BadRequest as e:
        assert e.code in ("bad_json", "unknown_request", "bad_month")
    else:
        assert month is None or (len(month) == 7 and month[4] == "-")


def test_a_deeply_nested_request_is_a_bad_request():
    with pytest.raises(BadRequest) as e:
        parse_request("[" * 65_000)
    assert e.value.code == "bad_json"
