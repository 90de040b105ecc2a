"""Credentials: a random password per NATS principal and per PostgreSQL role.

`./voco up` makes them on first start and keeps them in `<data dir>/secrets/
credentials.json` (folder 0700, file 0600), reused on every later start; a principal
added in a later version gets its password on the next start. Each process is handed
only its own, inside its URLs (VOCO_NATS_URL, VOCO_DATABASE_URL); the operator's go
to `<data dir>/endpoints.env` (0600) for the CLI.

NATS users are names with passwords, stored in the server's configuration only as
bcrypt hashes (`nats_authorization`), with the permissions of runtime/permissions.py.

For Kubernetes, `python -m launcher.credentials k8s [--namespace voco]` prints Secret
manifests made from fresh passwords (nothing is written to disk):
- `voco-nats-auth`, key `auth.conf`: the nats-server `authorization { ... }` block to
  `include` in the server's configuration;
- `voco-<principal>-credentials` for every principal: `VOCO_NATS_URL`, and for those
  with a schema `VOCO_DATABASE_URL` (a service's container takes the whole Secret);
- `voco-database-owner`, key `VOCO_DATABASE_OWNER_URL`, for the migration init steps
  only (`python -m launcher.migrate <service>`), so no running service holds it;
- `voco-postgres-init`, keys `POSTGRES_PASSWORD` (for the server's superuser, e.g. the
  postgres image's POSTGRES_USER) and `roles.sql`: the owner and service roles with
  their passwords and the schemas, to run as the superuser connected to the `voco`
  database (e.g. from `/docker-entrypoint-initdb.d` with POSTGRES_DB=voco); idempotent.
Keep the output out of git: `... k8s > secrets.yaml && kubectl apply -f secrets.yaml`.
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt

from runtime.permissions import OWNER_ROLE, PRINCIPALS, SCHEMAS, SUPERUSER, nats_permissions
from runtime.private_file import write_private

PG_ROLES = (*SCHEMAS, OWNER_ROLE, SUPERUSER)
BCRYPT_COST = 11  # nats-server checks it on every connect: about 0.1 s each here


def new_password() -> str:
    return secrets.token_urlsafe(24)  # URL-safe: it goes inside URLs unquoted


@dataclass
class Credentials:
    nats: dict[str, str] = field(default_factory=dict)
    postgres: dict[str, str] = field(default_factory=dict)
    nats_hashes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def generate(cls, *, cost: int = BCRYPT_COST) -> Credentials:
        credentials = cls()
        credentials.fill(cost=cost)
        return credentials

    def fill(self, *, cost: int = BCRYPT_COST) -> list[str]:
        """Add whatever is missing (new principals, hashes); returns what was added."""
        added = []
        for principal in PRINCIPALS:
            if principal not in self.nats:
                self.nats[principal] = new_password()
                added.append(f"NATS user {principal}")
            if principal not in self.nats_hashes:  # a changed password: delete its hash
                self.nats_hashes[principal] = bcrypt.hashpw(
                    self.nats[principal].encode(), bcrypt.gensalt(cost)
                ).decode()
        for role in PG_ROLES:
            if role not in self.postgres:
                self.postgres[role] = new_password()
                added.append(f"PostgreSQL role {role}")
        return added

    def nats_url(self, principal: str, address: str) -> str:
        """`address`: host:port of the server."""
        return f"nats://{principal}:{self.nats[principal]}@{address}"

    def database_url(self, role: str, address: str, database: str = "voco") -> str:
        return f"postgresql://{role}:{self.postgres[role]}@{address}/{database}"


def private_tree(root: Path) -> list[Path]:
    """Make `root` and everything in it readable by its owner only (folders 0700, files
    0600; executable bits kept for the owner); returns what was open to others."""
    opened = []
    paths = [root, *root.rglob("*")] if root.exists() else []
    for path in paths:
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            continue
        if path.is_symlink() or mode & 0o077 == 0:
            continue
        path.chmod(mode & 0o700)
        opened.append(path)
    return opened


def load_or_create(secrets_dir: Path, *, cost: int = BCRYPT_COST) -> tuple[Credentials, list[str]]:
    """The credentials kept in `secrets_dir`, made on first use; and what was added now."""
    secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    secrets_dir.chmod(0o700)
    path = secrets_dir / "credentials.json"
    credentials = Credentials()
    if path.exists():
        try:
            stored = json.loads(path.read_text())
            credentials = Credentials(
                nats=dict(stored["nats"]),
                postgres=dict(stored["postgres"]),
                nats_hashes=dict(stored.get("nats_hashes", {})),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise SystemExit(
                f"{path} is not readable as Voco's credentials ({error}); restore it from "
                "a backup, or move it away to make new ones (then every client needs them)"
            ) from None
    before = json.dumps(credentials.__dict__, sort_keys=True)
    added = credentials.fill(cost=cost)
    if json.dumps(credentials.__dict__, sort_keys=True) != before:
        write_private(path, json.dumps(credentials.__dict__, indent=2, sort_keys=True))
    path.chmod(0o600)
    return credentials, added


def _quote(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid NATS configuration string


def _list(subjects: Iterable[str]) -> str:
    return "[" + ", ".join(_quote(s) for s in subjects) + "]"


def nats_authorization(
    hashes: Mapping[str, str], extra_users: Sequence[tuple[str, str, str]] = ()
) -> str:
    """The nats-server `authorization` block: one user per principal with its bcrypt hash
    and permissions; `extra_users` are (name, password hash, raw permissions block), for
    the tests' own principal. Nobody connects without a user (no `no_auth_user`)."""
    lines = ["authorization {", "  users = ["]
    for principal in PRINCIPALS:
        permissions = nats_permissions(principal)
        responses = "allow_responses: true, " if permissions.responds else ""
        lines.append(
            f"    {{user: {_quote(principal)}, password: {_quote(hashes[principal])}, "
            f"permissions: {{{responses}publish: {{allow: {_list(permissions.publish)}}}, "
            f"subscribe: {{allow: {_list(permissions.subscribe)}}}}}}}"
        )
    for name, password_hash, block in extra_users:
        lines.append(
            f"    {{user: {_quote(name)}, password: {_quote(password_hash)}, permissions: {block}}}"
        )
    lines += ["  ]", "}", ""]
    return "\n".join(lines)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def roles_sql(
    passwords: Mapping[str, str], database: str = "voco", *, superuser: bool = True
) -> str:
    """Create or update every role with its password, and each schema owned by the owner
    role (taking over what an earlier version's single role created). Run as the
    superuser, connected to `database`; idempotent. `superuser`: also set the embedded
    cluster's superuser (`voco`) password; a server of its own (Kubernetes) sets its
    superuser's itself (the postgres image: POSTGRES_USER/POSTGRES_PASSWORD)."""
    statements = []
    for role in (OWNER_ROLE, *SCHEMAS):
        # NOINHERIT and no CREATEDB/CREATEROLE: a service role has what it is granted.
        statements.append(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {_literal(role)})"
            f' THEN CREATE ROLE "{role}"; END IF; END $$;\n'
            f'ALTER ROLE "{role}" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE '
            f"NOREPLICATION PASSWORD {_literal(passwords[role])};"
        )
    if superuser:
        password = _literal(passwords[SUPERUSER])
        statements.append(f'ALTER ROLE "{SUPERUSER}" WITH PASSWORD {password};')
    statements.append(f'ALTER DATABASE "{database}" OWNER TO "{OWNER_ROLE}";')
    statements.append("REVOKE CREATE ON SCHEMA public FROM PUBLIC;")
    names = "ARRAY[" + ", ".join(_literal(s) for s in SCHEMAS.values()) + "]"
    for schema in SCHEMAS.values():
        statements.append(
            f'CREATE SCHEMA IF NOT EXISTS "{schema}" AUTHORIZATION "{OWNER_ROLE}";\n'
            f'ALTER SCHEMA "{schema}" OWNER TO "{OWNER_ROLE}";'
        )
    # Tables first: altering a table moves the sequences it owns along with it.
    statements.append(
        "DO $$ DECLARE r record; BEGIN\n"
        "  FOR r IN SELECT n.nspname, c.relname, c.relkind FROM pg_class c\n"
        "      JOIN pg_namespace n ON n.oid = c.relnamespace\n"
        f"      WHERE n.nspname = ANY({names}) AND c.relkind IN ('r', 'p', 'v', 'm', 'S')\n"
        f"        AND c.relowner <> {_literal(OWNER_ROLE)}::regrole\n"
        "      ORDER BY c.relkind = 'S'\n"
        "  LOOP\n"
        "    IF r.relkind <> 'S' OR EXISTS (SELECT FROM pg_class c JOIN pg_namespace n\n"
        "        ON n.oid = c.relnamespace WHERE n.nspname = r.nspname\n"
        f"        AND c.relname = r.relname AND c.relowner <> {_literal(OWNER_ROLE)}::regrole)\n"
        "    THEN\n"
        "      EXECUTE format('ALTER %s %I.%I OWNER TO " + OWNER_ROLE + "',\n"
        "        CASE r.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'\n"
        "          WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END, r.nspname, r.relname);\n"
        "    END IF;\n"
        "  END LOOP;\n"
        "END $$;"
    )
    return "\n".join(statements) + "\n"


def _secret(name: str, namespace: str, data: Mapping[str, str]) -> str:
    lines = [
        "apiVersion: v1",
        "kind: Secret",
        "metadata:",
        f"  name: {name}",
        f"  namespace: {namespace}",
        "type: Opaque",
        "data:",
    ]
    for key, value in data.items():
        lines.append(f"  {key}: {base64.b64encode(value.encode()).decode()}")
    return "\n".join(lines)


def k8s_manifests(
    credentials: Credentials,
    *,
    namespace: str = "voco",
    nats_address: str = "nats:4222",
    postgres_address: str = "postgres:5432",
    database: str = "voco",
) -> str:
    documents = [
        _secret(
            "voco-nats-auth", namespace, {"auth.conf": nats_authorization(credentials.nats_hashes)}
        ),
        _secret(
            "voco-postgres-init",
            namespace,
            {
                "POSTGRES_PASSWORD": credentials.postgres[SUPERUSER],
                "roles.sql": roles_sql(credentials.postgres, database, superuser=False),
            },
        ),
    ]
    for principal in PRINCIPALS:
        data = {"VOCO_NATS_URL": credentials.nats_url(principal, nats_address)}
        if principal in SCHEMAS:
            data["VOCO_DATABASE_URL"] = credentials.database_url(
                principal, postgres_address, database
            )
        documents.append(_secret(f"voco-{principal}-credentials", namespace, data))
    owner = credentials.database_url(OWNER_ROLE, postgres_address, database)
    documents.append(_secret("voco-database-owner", namespace, {"VOCO_DATABASE_OWNER_URL": owner}))
    return "---\n".join(document + "\n" for document in documents)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m launcher.credentials",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    k8s = commands.add_parser("k8s", help="print Kubernetes Secrets made from new passwords")
    k8s.add_argument("--namespace", default="voco")
    k8s.add_argument("--nats", default="nats:4222", help="host:port of NATS (default nats:4222)")
    k8s.add_argument(
        "--postgres", default="postgres:5432", help="host:port of PostgreSQL (postgres:5432)"
    )
    k8s.add_argument("--database", default="voco")
    args = parser.parse_args(argv)
    sys.stdout.write(
        k8s_manifests(
            Credentials.generate(),
            namespace=args.namespace,
            nats_address=args.nats,
            postgres_address=args.postgres,
            database=args.database,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
