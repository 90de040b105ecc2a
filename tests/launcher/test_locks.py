"""What `./voco up` does to lock a data dir: credentials kept private and reused, a data
dir open to others closed, a cluster from before passwords upgraded in place with its
data, root's cluster kept out of the private data dir, and Kubernetes Secrets that a
real nats-server accepts."""

from __future__ import annotations

import base64
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from launcher.credentials import Credentials, k8s_manifests, load_or_create
from launcher.locks import private_data_dir
from launcher.migrate import migrate_services
from launcher.postgres import PostgresServer, postgres_bin_dir
from launcher.processes import NatsServer, free_port
from runtime.bus import connect
from runtime.eventstore import _SCHEMA_SQL
from runtime.permissions import OWNER_ROLE, PRINCIPALS, SCHEMAS

pytestmark = pytest.mark.integration


@pytest.fixture
def reachable_dir() -> Iterator[Path]:
    """A temp dir the postgres process (nobody, when the tests run as root) can reach."""
    name = tempfile.mkdtemp(prefix="voco-locks-")
    os.chmod(name, 0o755)
    yield Path(name)
    shutil.rmtree(name, ignore_errors=True)


def test_credentials_are_made_once_kept_private_and_reused(tmp_path: Path) -> None:
    first, added = load_or_create(tmp_path / "secrets", cost=4)
    assert len(added) == len(PRINCIPALS) + len(SCHEMAS) + 2  # + owner role and superuser
    assert (tmp_path / "secrets").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "secrets" / "credentials.json").stat().st_mode & 0o777 == 0o600
    again, added_again = load_or_create(tmp_path / "secrets", cost=4)
    assert added_again == []
    assert again == first
    assert len(set(first.nats.values()) | set(first.postgres.values())) == len(added)


def test_a_data_dir_open_to_others_is_closed_and_the_launcher_says_so(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "logs").mkdir(parents=True)
    (root / "logs" / "presence.log").write_text("a line")
    root.chmod(0o755)
    (root / "logs" / "presence.log").chmod(0o644)
    said = private_data_dir(root)
    assert len(said) == 1
    assert "were readable by other users" in said[0]
    assert root.stat().st_mode & 0o077 == 0
    assert (root / "logs" / "presence.log").stat().st_mode & 0o777 == 0o600
    assert private_data_dir(root) == []


def run_as_postgres_owner() -> dict[str, object]:
    if os.geteuid() != 0:
        return {}
    nobody = pwd.getpwnam("nobody")
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}


def start_pre_change_cluster(data_dir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """What `./voco up` made before passwords: trust for every connection, one `voco`
    superuser; started on a free port."""
    cluster = data_dir / "postgres" / "cluster"
    cluster.parent.mkdir(parents=True)
    cluster.mkdir(mode=0o700)
    run_as = run_as_postgres_owner()
    if run_as:
        os.chown(cluster.parent, int(str(run_as["user"])), -1)
        os.chown(cluster, int(str(run_as["user"])), -1)
    bin_dir = postgres_bin_dir()
    subprocess.run(
        [str(bin_dir / "initdb"), "-D", str(cluster), "-U", "voco", "--auth=trust", "--no-sync"],
        check=True,
        capture_output=True,
        **run_as,  # type: ignore[call-overload]
    )
    port = free_port()
    server = subprocess.Popen(
        [str(bin_dir / "postgres"), "-D", str(cluster), "-c", f"port={port}", "-c",
         f"unix_socket_directories={cluster}", "-c", "listen_addresses=127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **run_as,  # type: ignore[call-overload]
    )  # fmt: skip
    for _ in range(200):
        ready = subprocess.run([str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1",
                                "-p", str(port)], check=False)  # fmt: skip
        if ready.returncode == 0:
            break
        time.sleep(0.05)
    return server, port


async def make_pre_change_cluster(data_dir: Path) -> None:
    """A pre-change cluster with an event in presence's log, owned by `voco`."""
    server, port = start_pre_change_cluster(data_dir)
    try:
        admin = await asyncpg.connect(f"postgresql://voco@127.0.0.1:{port}/postgres")
        await admin.execute("CREATE DATABASE voco")
        await admin.close()
        conn = await asyncpg.connect(f"postgresql://voco@127.0.0.1:{port}/voco")
        await conn.execute(_SCHEMA_SQL.format(s="presence"))
        await conn.execute(
            "INSERT INTO presence.events (stream, version, id, type, schema_version, at, data, "
            "meta) VALUES ('user:1001', 1, gen_random_uuid(), 'presence.UserProvisioned', 1, "
            "now(), '{\"extension\": \"1001\"}', '{}')"
        )
        await conn.close()
    finally:
        server.terminate()
        server.wait(10)


async def test_a_data_dir_from_before_passwords_is_upgraded_in_place_and_keeps_its_data(
    reachable_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOCO_PG_HOME", str(reachable_dir / "pg-home"))
    data_dir = reachable_dir / "data"
    await make_pre_change_cluster(data_dir)
    credentials = Credentials.generate(cost=4)
    server = PostgresServer(data_dir / "postgres", durable=False, passwords=credentials.postgres)
    server.start()
    try:
        assert any("upgrading it in place, data kept" in n for n in server.notices)
        address = f"127.0.0.1:{server.port}"
        await migrate_services(credentials.database_url(OWNER_ROLE, address))
        presence = await asyncpg.connect(credentials.database_url("presence", address))
        try:
            assert await presence.fetchval("SELECT data->>'extension' FROM presence.events") == (
                "1001"
            )
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await presence.execute("DELETE FROM presence.events")
        finally:
            await presence.close()
        with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):
            await asyncpg.connect(f"postgresql://voco@{address}/voco", password="")
        owner = await asyncpg.connect(server.dsn("voco"))
        try:
            assert (
                await owner.fetchval(
                    "SELECT tableowner FROM pg_tables WHERE schemaname = 'presence' "
                    "AND tablename = 'events'"
                )
                == OWNER_ROLE
            )
        finally:
            await owner.close()
    finally:
        server.stop()
    again = PostgresServer(data_dir / "postgres", durable=False, passwords=credentials.postgres)
    again.start()  # the next start finds nothing to upgrade
    again.stop()
    assert again.notices == []


@pytest.mark.skipif(os.geteuid() != 0, reason="only root's postgres runs as another user")
async def test_roots_cluster_lives_where_postgres_reaches_it_from_a_private_checkout(
    reachable_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = reachable_dir / "pg-home"
    monkeypatch.setenv("VOCO_PG_HOME", str(home))
    private = Path(tempfile.mkdtemp(prefix="voco-private-"))  # 0700, as `mktemp -d` makes
    try:
        server = PostgresServer(private / "data" / "postgres", durable=False).start()
        try:
            assert server.cluster_dir is not None
            assert home in server.cluster_dir.parents
            assert os.stat(private).st_mode & 0o777 == 0o700  # nothing was opened up
            conn = await asyncpg.connect(server.dsn("voco"))
            await conn.close()
        finally:
            server.stop()
        for folder in (home, server.cluster_dir.parent):
            assert folder.stat().st_mode & 0o777 == 0o711
            assert folder.stat().st_uid == 0
    finally:
        shutil.rmtree(private, ignore_errors=True)


def secrets_of(manifests: str) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for document in manifests.split("---\n"):
        lines = document.splitlines()
        name = next(line.split(": ", 1)[1] for line in lines if line.startswith("  name: "))
        data = lines[lines.index("data:") + 1 :]
        found[name] = {
            key.strip(): base64.b64decode(value).decode()
            for key, value in (line.split(": ", 1) for line in data)
        }
    return found


async def test_the_kubernetes_secrets_lock_a_real_nats_server(reachable_dir: Path) -> None:
    secrets = secrets_of(k8s_manifests(Credentials.generate(cost=4), nats_address="nats:4222"))
    assert set(secrets) == {
        "voco-nats-auth",
        "voco-postgres-init",
        "voco-database-owner",
        *(f"voco-{p}-credentials" for p in PRINCIPALS),
    }
    assert set(secrets["voco-presence-credentials"]) == {"VOCO_NATS_URL", "VOCO_DATABASE_URL"}
    assert set(secrets["voco-database-owner"]) == {"VOCO_DATABASE_OWNER_URL"}
    assert set(secrets["voco-operator-credentials"]) == {"VOCO_NATS_URL"}
    roles = secrets["voco-postgres-init"]["roles.sql"]
    assert "CREATE ROLE" in roles
    assert 'ALTER ROLE "voco"' not in roles  # the server's own superuser is its business
    server = NatsServer(
        reachable_dir / "nats", authorization=secrets["voco-nats-auth"]["auth.conf"]
    ).start()
    try:
        address = server.url.removeprefix("nats://")
        url = secrets["voco-presence-credentials"]["VOCO_NATS_URL"].replace("nats:4222", address)
        nc = await connect(url, "test-k8s", allow_reconnect=False)
        assert nc.is_connected
        await nc.close()
    finally:
        server.stop()


async def test_the_kubernetes_roles_sql_prepares_a_fresh_server_for_the_migrations(
    reachable_dir: Path,
) -> None:
    """Run as a fresh server's superuser (here one that trusts, like an image's init
    step), roles.sql leaves a database where the owner role migrates every service and
    each service role uses its own schema."""
    credentials = Credentials.generate(cost=4)
    roles = secrets_of(k8s_manifests(credentials))["voco-postgres-init"]["roles.sql"]
    server, port = start_pre_change_cluster(reachable_dir / "fresh")
    try:
        admin = await asyncpg.connect(f"postgresql://voco@127.0.0.1:{port}/postgres")
        await admin.execute("CREATE DATABASE voco")
        await admin.close()
        conn = await asyncpg.connect(f"postgresql://voco@127.0.0.1:{port}/voco")
        await conn.execute(roles)
        await conn.execute(roles)  # idempotent: the init step may run again
        await conn.close()
        address = f"127.0.0.1:{port}"
        await migrate_services(credentials.database_url(OWNER_ROLE, address))
        routing = await asyncpg.connect(credentials.database_url("routing", address))
        try:
            assert await routing.fetchval("SELECT count(*) FROM routing.events") == 0
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await routing.fetch("SELECT * FROM presence.events")
        finally:
            await routing.close()
    finally:
        server.terminate()
        server.wait(10)
