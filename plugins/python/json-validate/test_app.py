from app import JsonValidate
from sluice_sdk.testing import Rejected, TestRecord, run


def test_passes_json_and_rejects_the_rest_with_the_reason():
    outcomes = run(JsonValidate, {}, [TestRecord('{"id":1}'), TestRecord("{oops"), TestRecord()])
    assert outcomes[0][0].record.value == b'{"id":1}'
    assert outcomes[1].reason.startswith("value is not valid JSON: ")
    assert outcomes[2] == Rejected("record has no value")


def test_enforces_required_fields():
    records = [TestRecord('{"id":1,"level":"x"}'), TestRecord('{"id":1}')]
    outcomes = run(JsonValidate, {"require": "id, level"}, records)
    assert len(outcomes[0]) == 1
    assert outcomes[1] == Rejected("missing required field `level`")
