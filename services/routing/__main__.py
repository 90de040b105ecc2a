from runtime.service import run_service
from services.routing.app import build

if __name__ == "__main__":
    run_service("routing", build)
