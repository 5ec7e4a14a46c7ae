# Lets `python3 -m pytest` find the SDK that `sluice plugin build` writes into .sluice/.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / ".sluice" / "sdk" / "python"))
