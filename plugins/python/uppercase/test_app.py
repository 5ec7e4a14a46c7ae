from app import Uppercase
from sluice_sdk.testing import Rejected, TestRecord, run


def test_upper_cases_values_and_keeps_the_rest():
    record = TestRecord("héllo", key="id-1", headers=[("h", "x")], timestamp=5)
    [[out]] = run(Uppercase, {}, [record])
    assert out.value_str() == "HÉLLO"
    assert (out.record.key, out.record.headers, out.record.timestamp) == (b"id-1", [("h", b"x")], 5)


def test_rejects_values_that_are_not_text():
    [outcome] = run(Uppercase, {}, [TestRecord(b"\xff\xfe")])
    assert isinstance(outcome, Rejected) and "not UTF-8" in outcome.reason
