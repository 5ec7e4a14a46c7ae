import pytest
from app import FieldEquals
from sluice_sdk.testing import Failed, Rejected, TestRecord, run


def test_keeps_only_matching_records():
    records = [TestRecord('{"level":"error","n":1}'), TestRecord('{"level":"info","n":2}'), TestRecord('{"n":3}')]
    outcomes = run(FieldEquals, {"field": "level", "equals": "error"}, records)
    assert [len(o) for o in outcomes] == [1, 0, 0]
    assert outcomes[0][0].record.value == b'{"level":"error","n":1}'


def test_compares_numbers_as_text_and_follows_paths():
    records = [TestRecord('{"user":{"age":7}}'), TestRecord('{"user":{"age":8}}')]
    outcomes = run(FieldEquals, {"field": "user.age", "equals": "7"}, records)
    assert [len(o) for o in outcomes] == [1, 0]


def test_rejects_records_that_are_not_json():
    [outcome] = run(FieldEquals, {"field": "a", "equals": "b"}, [TestRecord("nope")])
    assert isinstance(outcome, Rejected) and outcome.reason.startswith("value is not valid JSON")


def test_missing_config_is_an_init_error():
    with pytest.raises(Failed, match="missing required config key `equals`"):
        run(FieldEquals, {"field": "a"}, [])
