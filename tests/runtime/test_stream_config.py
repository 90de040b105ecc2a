"""How Voco's streams are configured from the environment."""

from __future__ import annotations

import pytest

from runtime.service import stream_config


def test_streams_keep_one_copy_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOCO_STREAM_REPLICAS", raising=False)
    assert stream_config("S", ["s.>"]).num_replicas == 1
    monkeypatch.setenv("VOCO_STREAM_REPLICAS", "3")
    assert stream_config("S", ["s.>"]).num_replicas == 3


def test_an_impossible_replica_count_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOCO_STREAM_REPLICAS", "7")
    with pytest.raises(SystemExit, match=r"1 to 5 copies.*3 for a cluster"):
        stream_config("S", ["s.>"])
    monkeypatch.setenv("VOCO_STREAM_REPLICAS", "three")
    with pytest.raises(SystemExit, match="is not a number"):
        stream_config("S", ["s.>"])
