from runtime.service import run_service
from services.scheduler.app import build

if __name__ == "__main__":
    run_service("scheduler", build)
