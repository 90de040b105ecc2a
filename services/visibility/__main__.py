from runtime.service import run_service
from services.visibility.app import build

run_service("visibility", build)
