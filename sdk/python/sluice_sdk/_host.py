"""What a plugin may ask of the host: log lines and metrics. Inside a component these
are the `host` imports of `wit/plugin.wit`; run natively (in tests), they are recorded
in `sluice_sdk.testing.captured` instead."""

try:
    from wit_world.imports import host as _host

    _LEVELS = {
        "trace": _host.Level.TRACE,
        "debug": _host.Level.DEBUG,
        "info": _host.Level.INFO,
        "warn": _host.Level.WARN,
        "error": _host.Level.ERROR,
    }
except ImportError:
    _host = None
    _LEVELS = {name: name for name in ("trace", "debug", "info", "warn", "error")}


class Captured:
    """What a plugin run natively asked of the host, in order."""

    def __init__(self):
        self.clear()

    def clear(self):
        self.logs = []  # (level, message, {field: value})
        self.counters = {}  # name -> total
        self.gauges = {}  # name -> last value


captured = Captured()


def log(level, message, /, **fields):
    """Writes a line to the host's log, tagged with the plugin's name and version.
    `level` is one of "trace", "debug", "info", "warn", "error"; `fields` are shown
    alongside the message (values as text)."""
    try:
        wit_level = _LEVELS[level]
    except KeyError:
        raise ValueError(f"unknown log level {level!r} (expected one of {', '.join(_LEVELS)})") from None
    pairs = [(k, str(v)) for k, v in fields.items()]
    if _host is None:
        captured.logs.append((level, message, dict(pairs)))
    else:
        _host.log(wit_level, message, pairs)


def counter_add(name, delta=1):
    """Adds `delta` to the counter `name`, labelled by the host with plugin and pipeline."""
    if _host is None:
        captured.counters[name] = captured.counters.get(name, 0) + delta
    else:
        _host.counter_add(name, delta)


def gauge_set(name, value):
    """Sets the gauge `name` to `value`, labelled by the host with plugin and pipeline."""
    if _host is None:
        captured.gauges[name] = float(value)
    else:
        _host.gauge_set(name, float(value))
