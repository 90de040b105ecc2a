"""Nothing prints a password: URLs are shown with `***` in its place."""

from __future__ import annotations

import pytest

from runtime.config import Connections, redact_url, url_user


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("nats://presence:s3cret@127.0.0.1:4222", "nats://presence:***@127.0.0.1:4222"),
        (
            "postgresql://routing:p%40ss@db.example:5432/voco",
            "postgresql://routing:***@db.example:5432/voco",
        ),
        ("nats://127.0.0.1:4222", "nats://127.0.0.1:4222"),
        ("postgresql://voco@127.0.0.1:5432/voco", "postgresql://voco@127.0.0.1:5432/voco"),
        ("nats://gateway:pw@[::1]:4222", "nats://gateway:***@[::1]:4222"),
    ],
)
def test_a_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_the_user_of_a_url_is_its_principal() -> None:
    assert url_user("nats://pbxsim:pw@127.0.0.1:4222") == "pbxsim"
    assert url_user("nats://127.0.0.1:4222") is None


def test_connections_never_print_their_passwords() -> None:
    connections = Connections(
        nats_url="nats://presence:s3cret@127.0.0.1:4222",
        database_url="postgresql://presence:t0ps3cret@127.0.0.1:5432/voco",
    )
    assert "s3cret" not in repr(connections)
    assert "t0ps3cret" not in str(connections)
