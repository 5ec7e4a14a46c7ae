"""The SDK's API, run natively through the real encoding with `sluice_sdk.testing`."""

import json

import pytest

import sluice_sdk as sluice
from sluice_sdk.json import MISSING, field, text
from sluice_sdk.testing import Emitted, Failed, Rejected, TestRecord, captured, run


class Inspect(sluice.Plugin):
    def process(self, record, out):
        out.emit_value(
            repr((record.source, record.stream, record.partition, record.offset, record.timestamp, record.key))
            + repr((record.header("trace"), record.header("missing"), record.headers))
        )


def test_a_record_shows_every_field():
    record = TestRecord(b"v", key=b"k", headers=[("trace", b"t1"), ("trace", b"t2")], timestamp=-5, stream="orders", partition=2, offset=9)
    [[out]] = run(Inspect, {}, [record], source="src")
    assert out.value_str() == repr(("src", "orders", 2, 9, -5, b"k")) + repr((b"t1", None, [("trace", b"t1"), ("trace", b"t2")]))


class Everything(sluice.Plugin):
    """Each way of emitting, chosen by the record's value."""

    def process(self, record, out):
        kind = record.value_str()
        if kind == "forward":
            out.forward()
        elif kind == "routed":
            out.forward(route="audit")
            out.emit_value("copy", route="copies")
        elif kind == "built":
            out.emit(sluice.OutRecord("new", key=b"nk", headers=[("a", "1"), ("b", b"\xff")], timestamp=7))
        elif kind == "absent":
            out.emit(sluice.OutRecord())
        elif kind == "half-then-reject":
            out.forward()
            raise sluice.Reject("changed my mind")
        elif kind == "bytes":
            out.emit_value(b"\x00\xff")


def test_every_way_of_emitting():
    records = [TestRecord(v, key="k", headers=[("h", "x")], timestamp=1) for v in ["forward", "routed", "built", "absent", "half-then-reject", "bytes", "drop"]]
    forward, routed, built, absent, rejected, raw, dropped = run(Everything, {}, records)
    same = sluice.OutRecord(b"forward", b"k", [("h", b"x")], 1)
    assert forward == [Emitted(None, same)]
    assert routed == [
        Emitted("audit", sluice.OutRecord(b"routed", b"k", [("h", b"x")], 1)),
        Emitted("copies", sluice.OutRecord(b"copy", b"k", [("h", b"x")], 1)),
    ]
    assert built == [Emitted(None, sluice.OutRecord(b"new", b"nk", [("a", b"1"), ("b", b"\xff")], 7))]
    assert absent == [Emitted(None, sluice.OutRecord(None, None, [], None))]
    assert rejected == Rejected("changed my mind")
    assert raw == [Emitted(None, sluice.OutRecord(b"\x00\xff", b"k", [("h", b"x")], 1))]
    assert dropped == []


def test_absent_is_not_empty():
    class Show(sluice.Plugin):
        def process(self, record, out):
            out.emit_value(repr((record.key, record.value)))

    outcomes = run(Show, {}, [TestRecord(), TestRecord(b"", key=b"")])
    assert [o[0].value_str() for o in outcomes] == ["(None, None)", "(b'', b'')"]


class Failing(sluice.Plugin):
    def process(self, record, out):
        return {}[record.value_str()]


def test_an_exception_fails_the_batch_with_its_type_message_and_place():
    with pytest.raises(Failed, match=r"KeyError: 'x' \(at .*test_sdk.py:\d+\)"):
        run(Failing, {}, [TestRecord("x")])


def test_a_file_in_a_component_is_named_as_its_author_knows_it():
    from sluice_sdk._plugin import _in_project, _source

    assert _in_project("/0/app.py") and not _in_project("/2/slugify/slugify.py")
    assert not _in_project("/p/.sluice/site-packages/slugify/slugify.py") and _in_project("/p/app.py")

    # componentize-py mounts the project at /0, the SDK at /1, packages after them.
    assert _source("/0/app.py") == "app.py"
    assert _source("/2/slugify/slugify.py") == "slugify/slugify.py"
    assert _source("/home/me/tagger/app.py") == "/home/me/tagger/app.py"
    assert _source("/0") == "/0"
    assert _source("<frozen importlib._bootstrap>") == "<frozen importlib._bootstrap>"


def test_an_exception_from_the_standard_library_names_the_plugins_line():
    class ParsesByHand(sluice.Plugin):
        def process(self, record, out):
            out.emit_value(str(json.loads(record.value)))

    with pytest.raises(Failed, match=r"JSONDecodeError: .* \(at .*test_sdk.py:\d+\)$"):
        run(ParsesByHand, {}, [TestRecord("{")])


class Configured(sluice.Plugin):
    def __init__(self, config):
        self.n = config.parse("n", int, default=1)
        self.name = config.require("name")

    def process(self, record, out):
        out.emit_value(f"{self.name}:{self.n}")


def test_config_helpers_name_the_key():
    assert run(Configured, {"name": "a", "n": 3}, [TestRecord("")])[0][0].value_str() == "a:3"
    assert run(Configured, {"name": "a"}, [TestRecord("")])[0][0].value_str() == "a:1"
    with pytest.raises(Failed, match="^missing required config key `name`$"):
        run(Configured, {}, [])
    with pytest.raises(Failed, match='config key `n` = "x": invalid literal'):
        run(Configured, {"name": "a", "n": "x"}, [])


def test_config_parses_numbers_and_booleans_as_every_sdk_does():
    config = sluice.Config({"ratio": "0.25", "on": "true", "off": "false", "yes": "yes"}.items())
    assert config.parse("ratio", float) == 0.25
    assert config.parse("on", bool) is True
    assert config.parse("off", bool) is False, "not Python's bool('false')"
    assert config.parse("none", bool, True) is True
    with pytest.raises(sluice.ConfigError, match='^config key `yes` = "yes": not true or false$'):
        config.parse("yes", bool)


def test_an_unexpected_exception_in_init_names_its_type():
    class Broken(sluice.Plugin):
        def __init__(self, config):
            raise ZeroDivisionError("nope")

    with pytest.raises(Failed, match="^ZeroDivisionError: nope"):
        run(Broken, {}, [])


def test_map_values_and_filter_shortcuts():
    class Reverse(sluice.MapValues):
        def map_value(self, value):
            return value[::-1]

    class Short(sluice.Filter):
        def keep(self, record):
            return len(record.value) < 3

    class Strict(sluice.MapValues):
        def map_value(self, value):
            if value is None:
                raise sluice.Reject("no value")
            return value.decode().upper()  # str is written as UTF-8

    class Picky(sluice.Filter):
        def keep(self, record):
            if record.value == b"?":
                raise sluice.Reject("undecided")
            return record.value == b"yes"

    headers = [("h", b"1")]
    assert run(Reverse, {}, [TestRecord("abc", key="k", headers=headers, timestamp=3)]) == [
        [Emitted(None, sluice.OutRecord(b"cba", b"k", headers, 3))]
    ]
    assert [len(o) for o in run(Short, {}, [TestRecord("ab"), TestRecord("abcd")])] == [1, 0]
    assert run(Strict, {}, [TestRecord("ab"), TestRecord()]) == [[Emitted(None, sluice.OutRecord(b"AB"))], Rejected("no value")]
    assert run(Picky, {}, [TestRecord("yes"), TestRecord("no"), TestRecord("?")]) == [
        [Emitted(None, sluice.OutRecord(b"yes"))],
        [],
        Rejected("undecided"),
    ]


def test_json_helpers():
    class Fields(sluice.Plugin):
        def process(self, record, out):
            out.emit_value(text(record.json_field("user.age", "missing")) + " " + text(record.json_field("/tags/1")))

    records = [TestRecord('{"user":{"age":7},"tags":["a","b"]}'), TestRecord('{"x":NaN}'), TestRecord("{")]
    # Bytes that json.loads would take for UTF-16 (a codec the embedded interpreter lacks).
    records.append(TestRecord(b"\xff\x00\xfe\x01"))
    outcomes = run(Fields, {}, records)
    assert outcomes[0][0].value_str() == "7 b"
    assert outcomes[1].reason.startswith("value is not valid JSON: NaN is not JSON")
    assert outcomes[2].reason.startswith("value is not valid JSON: ")
    assert outcomes[3].reason.startswith("value is not valid JSON: it is not UTF-8 ("), outcomes[3]
    doc = {"a": None, "l": [1]}
    assert field(doc, "a", MISSING) is None and field(doc, "b", MISSING) is MISSING
    assert field(doc, "/l/0") == 1 and field(doc, "/l/01") is None and field(doc, "l.0") is None
    assert text({"b": [1, "x"]}) == '{"b":[1,"x"]}'


def test_logs_and_metrics_are_captured_natively():
    class Noisy(sluice.Plugin):
        def process(self, record, out):
            sluice.log("warn", "odd record", offset=record.offset)
            sluice.counter_add("seen")
            sluice.counter_add("bytes", len(record.value))
            sluice.gauge_set("last", 1.5)
            out.forward()

    run(Noisy, {}, [TestRecord("ab"), TestRecord("cde")])
    assert captured.logs == [("warn", "odd record", {"offset": "0"}), ("warn", "odd record", {"offset": "1"})]
    assert captured.counters == {"seen": 2, "bytes": 5}
    assert captured.gauges == {"last": 1.5}
    with pytest.raises(ValueError, match="unknown log level 'loud'"):
        sluice.log("loud", "x")


def test_process_before_init_fails():
    with pytest.raises(Failed, match="process called before init"):
        sluice._plugin._Instance.loop = None
        sluice.export(sluice.Plugin)().process(b"")
