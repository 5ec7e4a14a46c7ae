from app import Tag
from sluice_sdk.testing import Rejected, TestRecord, run


def test_tags_drops_and_rejects():
    records = [TestRecord('{"level":"info"}'), TestRecord('{"level":"debug"}'), TestRecord("[1]")]
    tagged, dropped, rejected = run(Tag, {"tag": "t"}, records)
    assert tagged[0].value_str() == '{"level":"info","tag":"t"}'
    assert dropped == []
    assert rejected == Rejected("value is not a JSON object")
