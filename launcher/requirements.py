"""Print the requirement lines of pyproject.toml (dependencies plus the named extras).

The project is not installed as a package: every checkout imports its own
code through PYTHONPATH, so several work trees can share one machine.
"""

import sys
import tomllib

if __name__ == "__main__":
    with open(sys.argv[1], "rb") as file:
        project = tomllib.load(file)["project"]
    extras = [name for name in (sys.argv[2] if len(sys.argv) > 2 else "").split(",") if name]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    print("\n".join(lines))
