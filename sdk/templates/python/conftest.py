# Lets `python3 -m pytest` find the SDK that `sluice plugin build` writes into .sluice/,
# and the packages of requirements.txt that it installs there.
import sys
from pathlib import Path

_sluice = Path(__file__).parent / ".sluice"
sys.path[:0] = [str(_sluice / "sdk" / "python"), str(_sluice / "site-packages")]
