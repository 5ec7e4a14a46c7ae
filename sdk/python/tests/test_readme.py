"""The README's complete plugin and its unit test, run as written."""

import re
import sys
import types
from pathlib import Path


def test_the_readme_example_works():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    plugin, test = re.findall(r"```python\n(.*?)```", readme, re.S)[:2]
    app = types.ModuleType("app")
    exec(compile(plugin, "README.md (plugin)", "exec"), app.__dict__)
    sys.modules["app"] = app
    try:
        scope = {}
        exec(compile(test, "README.md (test)", "exec"), scope)
        scope["test_routes_and_drops"]()
    finally:
        del sys.modules["app"]
