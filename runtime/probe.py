"""Liveness probe: `python -m runtime.probe FILE MAX_AGE_SECONDS` exits 0 while the
service's heartbeat file (VOCO_HEARTBEAT_FILE) is fresh."""

import sys
import time
from pathlib import Path

if __name__ == "__main__":
    path, max_age = Path(sys.argv[1]), float(sys.argv[2])
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        sys.exit(f"{path} does not exist yet")
    if age > max_age:
        sys.exit(f"{path} is {age:.0f} s old (limit {max_age:.0f} s)")
