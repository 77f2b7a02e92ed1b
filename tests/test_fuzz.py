"""The fuzz harness (kefu_floor.fuzz), briefly: a few seconds of hostile payload streams
through the decoder, the engine and a report. `make fuzz` runs it for ten minutes."""
from kefu_floor.fuzz import check, run


def test_fuzz_briefly():
    assert run(6, examples_per_round=40, out=None) >= 40


def test_fuzz_known_nasties():
    check([b"[" * 3000, b'{"type":"ready","ts":253402300799999,"agent":"A1"}',
           b'[{"type":"sale","ts":1793664000000,"agent":"A1","amount":1,"src":"g","seq":'
           b'4503599627370496},{"type":"sale","ts":1793664000001,"agent":"A1","amount":1,'
           b'"src":"g","seq":1}]', b"\xef\xbb\xbf{}", b"[" + b"1," * 5000 + b"1]"])
