import pytest
from app import Router
from sluice_sdk.testing import Failed, TestRecord, run

CONFIG = {"field": "level", "map.error": "errors, alerts", "map.warn": "alerts"}


def routes_of(value):
    [outputs] = run(Router, CONFIG, [TestRecord(value)])
    return [o.route for o in outputs]


def test_fans_out_to_every_mapped_route():
    assert routes_of('{"level":"error"}') == ["errors", "alerts"]
    assert routes_of('{"level":"warn"}') == ["alerts"]


def test_unmapped_or_missing_values_take_the_default_route():
    assert routes_of('{"level":"info"}') == [None]
    assert routes_of('{"other":1}') == [None]


def test_config_without_routes_is_refused():
    with pytest.raises(Failed, match="no `map.<value>` entries"):
        run(Router, {"field": "level"}, [])
    with pytest.raises(Failed, match="unknown config key `mapp.x`"):
        run(Router, {"field": "level", "mapp.x": "y"}, [])
