"""What a plugin author subclasses (`Plugin`, or the shortcuts `MapValues` and `Filter`),
the configuration it is built from, and `export`, which turns a plugin class into the
component's `transform` interface."""

import json as _json
import traceback
from pathlib import Path

from . import _batch


class ConfigError(Exception):
    """Raise from `__init__` when the configuration is unusable: the host does not start
    the plugin and shows the message. (Any other exception does the same.)"""


def _strict_bool(raw):
    if raw in ("true", "false"):
        return raw == "true"
    raise ValueError("not true or false")


class Config:
    """The plugin's configuration: the key/value table of its pipeline config. Values are
    text; numbers and booleans arrive in their TOML spelling."""

    def __init__(self, entries=()):
        self._entries = dict(entries)

    def get(self, key, default=None):
        return self._entries.get(key, default)

    def require(self, key):
        """The value of `key`, or a `ConfigError` naming the missing key."""
        try:
            return self._entries[key]
        except KeyError:
            raise ConfigError(f"missing required config key `{key}`") from None

    def parse(self, key, kind, default=None):
        """The value of `key` converted by `kind` (e.g. `int`, `float`, `bool`), or `default`
        when unset; a `ConfigError` names the key and the value that did not convert.
        `bool` takes TOML's `true` and `false` only (Python's `bool("false")` is true)."""
        raw = self._entries.get(key)
        if raw is None:
            return default
        try:
            return _strict_bool(raw) if kind is bool else kind(raw)
        except ValueError as e:
            raise ConfigError(f"config key `{key}` = {_json.dumps(raw, ensure_ascii=False)}: {e}") from None

    def items(self):
        return self._entries.items()

    def __contains__(self, key):
        return key in self._entries


class Plugin:
    """A transformation plugin. The host builds one instance per pipeline from its
    config, then calls `process` for every record, in order, batch after batch. The
    instance lives until the host replaces it (a new version, or after a failure), so it
    may keep state across records, but must expect a fresh instance at any batch."""

    def __init__(self, config):
        pass

    def process(self, record, out):
        """Handles one record: emit zero or more outputs through `out`, or raise `Reject`.
        Emitting nothing drops the record. The default forwards every record."""
        out.forward()


class MapValues(Plugin):
    """A plugin that replaces each record's value by `map_value(value)` and keeps its key,
    headers and timestamp. `value` is `bytes` (or `None` when absent); return `bytes` or
    `str`, or raise `Reject`."""

    def map_value(self, value):
        raise NotImplementedError("MapValues plugins define map_value(self, value)")

    def process(self, record, out):
        out.emit_value(self.map_value(record.value))


class Filter(Plugin):
    """A plugin that forwards the records for which `keep(record)` is true, unchanged,
    and drops the others."""

    def keep(self, record):
        raise NotImplementedError("Filter plugins define keep(self, record)")

    def process(self, record, out):
        if self.keep(record):
            out.forward()


def loop_of(plugin):
    """How the batch loop drives `plugin`: the shortcuts' own loops when their `process`
    is not overridden (no `Output` calls per record; a plain `Plugin` forwards a record
    without building a `Record`), else `process(record, out)` per record."""
    process = type(plugin).process
    if process is Plugin.process:
        return _batch.FORWARD, None
    if process is MapValues.process:
        return _batch.MAP, plugin.map_value
    if process is Filter.process:
        return _batch.FILTER, plugin.keep
    return _batch.EACH, plugin.process


def process_batch(plugin, batch):
    """Runs `plugin` over one encoded batch and returns the encoded result."""
    return _batch.run(batch, *loop_of(plugin))


# Frames in these directories are not the plugin's own code: the SDK's, and the standard
# library's (where `traceback` itself lives, natively and in a component alike).
_NOT_THE_PLUGIN = (str(Path(__file__).parent), str(Path(traceback.__file__).parent))


def _source(filename):
    """A file as its author knows it. In a component, componentize-py mounts each Python
    path at `/0`, `/1`, ... (the project's directory first): `/0/app.py` is `app.py`."""
    mount, _, rest = filename[1:].partition("/")
    return rest if filename.startswith("/") and mount.isdigit() and rest else filename


def _in_project(filename):
    """Whether a file is the project's own, not a package it installed: in a component, a
    file of the first Python path (`/0/`); natively, one outside `site-packages`."""
    if filename.startswith("/") and filename[1:].partition("/")[0].isdigit():
        return filename.startswith("/0/")
    return "site-packages" not in filename


def describe(error):
    """An exception as the host will show it: its type, message and the line of the
    plugin's own code it came from (not the standard library's or the SDK's, where a
    `json.loads` or a `record.header` call may have raised it)."""
    frames = traceback.extract_tb(error.__traceback__) if error.__traceback__ else []
    theirs = [f for f in frames if not f.filename.startswith(_NOT_THE_PLUGIN)]
    own = [f for f in theirs if _in_project(f.filename)]
    frame = (own or theirs or frames)[-1:]
    where = f" (at {_source(frame[0].filename)}:{frame[0].lineno})" if frame else ""
    message = str(error)
    return f"{type(error).__name__}: {message}{where}" if message else f"{type(error).__name__}{where}"


class Failed(Exception):
    """A failed `init` or `process` when the plugin runs natively, outside a component,
    where the host would see an `err` result with this message."""


class _Instance:
    """How this component instance runs its plugin. Module state, not an attribute of the
    exported class, because bindings may construct that class more than once."""

    loop = None  # (mode, handle) of `loop_of(plugin)`


def export(plugin_class):
    """Returns the class the component exports as `transform` for `plugin_class`.
    Name it `Transform` in the module the component is built from:

        Transform = sluice_sdk.export(Uppercase)
    """
    try:
        from componentize_py_types import Err
        from wit_world import exports

        base = exports.Transform
    except ImportError:  # run natively (tests): no bindings, no component
        base, Err = object, Failed

    class Transform(base):
        def init(self, config):
            try:
                _Instance.loop = loop_of(plugin_class(Config(config)))
            except Exception as e:
                raise Err(str(e) if isinstance(e, ConfigError) else describe(e)) from None

        def process(self, batch):
            loop = _Instance.loop
            if loop is None:
                raise Err("process called before init")
            try:
                return _batch.run(batch, *loop)
            except Exception as e:
                raise Err(describe(e)) from None

    Transform.__qualname__ = Transform.__name__ = "Transform"
    Transform.plugin_class = plugin_class
    return Transform
