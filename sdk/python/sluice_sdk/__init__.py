"""Write Sluice transformation plugins in Python.

Subclass `Plugin` (or the shortcuts `MapValues` and `Filter`) and export it under the
name `Transform` in `app.py`::

    import sluice_sdk as sluice

    class Uppercase(sluice.Plugin):
        def process(self, record, out):
            out.emit_value(record.value_str().upper())

    Transform = sluice.export(Uppercase)

`sluice plugin build` turns the directory into a component. Records are read in place
from the batch the host sends and outputs are written straight into the result; the
encoding (`sdk/SPEC.md`) never shows. `sluice_sdk.testing.run` drives the same plugin
natively, through the same bytes, for unit tests.
"""

from . import testing
from ._host import counter_add, gauge_set, log
from ._plugin import Config, ConfigError, Failed, Filter, MapValues, Plugin, export
from ._record import OutRecord, Output, Record, Reject
from ._wire import WireError

__all__ = [
    "Config",
    "ConfigError",
    "Failed",
    "Filter",
    "MapValues",
    "OutRecord",
    "Output",
    "Plugin",
    "Record",
    "Reject",
    "WireError",
    "counter_add",
    "export",
    "gauge_set",
    "log",
]
