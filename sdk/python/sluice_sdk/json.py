"""Reading fields out of JSON record values, the same way as the Rust SDK's `json`
module, so that a plugin's config means the same in every language."""

import json as _json

MISSING = object()
"""What `field` returns for a missing field when asked to, distinct from JSON `null`."""


def _index(name):
    """A JSON pointer's array index: digits without a leading zero."""
    return int(name) if name.isdigit() and (name == "0" or name[0] != "0") else None


def field(value, path, default=None):
    """The value at `path` in `value`, or `default` when there is none: a JSON pointer
    (`/user/country`, `/items/0`) or dotted field names (`user.country`; a plain name
    is a top-level field)."""
    pointer = path.startswith("/")
    if pointer:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]
    else:
        parts = path.split(".")
    for name in parts:
        if isinstance(value, dict):
            value = value.get(name, MISSING)
        elif pointer and isinstance(value, list) and (i := _index(name)) is not None and i < len(value):
            value = value[i]
        else:
            return default
        if value is MISSING:
            return default
    return value


def text(value):
    """A field's value as text: strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return _json.dumps(value, separators=(",", ":"), ensure_ascii=False)
