"""`python -m services.presence`: run the presence service until SIGTERM."""

from runtime.service import run_service
from services.presence.app import NAME, build

if __name__ == "__main__":
    run_service(NAME, build)
