"""Demo accounts: 1001-1005 (users) and `admin`, with passwords generated on first start.

The passwords are kept in the data dir (`gateway-demo-passwords.json`, mode 0600) so
every `./voco up` prints the same sign-in; an account that exists is left as it is.
`python -m services.gateway.demo` runs after presence's demo data (launcher LOADERS), as the
gateway principal; with VOCO_DEMO=0 (`./voco up --no-demo`) it makes only `admin`.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

from runtime.config import Connections, env_str
from runtime.eventstore import EventStore
from runtime.private_file import write_private
from runtime.schema import open_pool, prepare
from services.gateway.accounts.domain import AccountRole, OpenAccount
from services.gateway.accounts.store import AccountStore
from services.gateway.edge import SCHEMA, TABLES_SQL
from services.gateway.passwords import Passwords, generate_password
from services.presence.demo import USERS

ROOT = Path(__file__).resolve().parents[2]
ADMIN = ("admin", "Administrator")
UNKNOWN = "(not kept: reset it as admin)"


def passwords_file() -> Path:
    return Path(env_str("VOCO_DATA_DIR", str(ROOT / ".voco-data"))) / "gateway-demo-passwords.json"


def kept_passwords(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    kept: dict[str, str] = json.loads(path.read_text())
    return kept


def keep(path: Path, passwords: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, json.dumps(passwords, indent=1))


async def ensure_accounts(
    accounts: AccountStore,
    wanted: list[tuple[str, str, AccountRole]],
    passwords: dict[str, str],
    hasher: Passwords,
) -> dict[str, str]:
    """Open each missing account with its kept password (or a new one); the passwords."""
    now = datetime.now(UTC)
    for login, name, role in wanted:
        if await accounts.find(login) is not None:
            # Made before; its password is the kept one, or unknown here if the file was
            # lost (an administrator resets it).
            passwords.setdefault(login, UNKNOWN)
            continue
        if passwords.get(login, UNKNOWN) == UNKNOWN:
            passwords[login] = generate_password()
        password = passwords[login]
        command = OpenAccount(
            login=login,
            display_name=name,
            role=role,
            password_hash=await hasher.hash(password),
            must_change_password=False,
            by="demo",
        )
        await accounts.handle(command, now, "demo")
    return passwords


async def _main() -> None:
    connections = Connections.from_env()
    pool = await open_pool(connections.database_url, max_size=2)
    try:
        store = EventStore(pool, SCHEMA)
        await prepare(store, TABLES_SQL)
        demo = env_str("VOCO_DEMO", "1") != "0"  # ./voco up --no-demo: the admin only
        wanted = [(ext, name, AccountRole.USER) for ext, name, _ in USERS] if demo else []
        wanted.append((*ADMIN, AccountRole.ADMIN))
        path = passwords_file()
        passwords = await ensure_accounts(
            AccountStore(store), wanted, kept_passwords(path), Passwords()
        )
        keep(path, passwords)
    finally:
        await pool.close()
    host = env_str("VOCO_HTTP_HOST", "127.0.0.1")
    port = env_str("VOCO_HTTP_PORT", "8080")
    sign_ins = ", ".join(f"{login} / {password}" for login, password in passwords.items())
    print(
        f"web client http://{host}:{port}/ (API /api, docs /api/docs); sign in with login / "
        f"password: "
        f"{sign_ins} (kept in {path})"
    )


if __name__ == "__main__":
    asyncio.run(_main())
