"""Rules of ring groups, IVRs and the feature-code map."""

from __future__ import annotations

import pytest

from contracts.errors import CommandError
from contracts.presence import (
    ConfigureFeatureCodes,
    FeatureCodesConfigured,
    IvrSaved,
    RingGroupSaved,
    RingStrategy,
    SaveIvr,
    SaveRingGroup,
)
from services.presence.domain.directory import (
    FeatureCodes,
    NoEntry,
    Saved,
    decide_feature_codes,
    decide_ivr,
    decide_ring_group,
)
from services.presence.domain.profiles import Directory

KNOWN = Directory(extensions=frozenset({"1001", "1002"}))


def group(**changes: object) -> SaveRingGroup:
    fields: dict[str, object] = {"group_id": "sales", "name": "Sales", "members": ["1001", "1002"]}
    return SaveRingGroup.model_validate({**fields, **changes})


def test_a_ring_group_of_known_extensions_is_saved() -> None:
    assert decide_ring_group(group(), NoEntry(), KNOWN) == [
        RingGroupSaved(
            group_id="sales",
            name="Sales",
            members=["1001", "1002"],
            strategy=RingStrategy.SIMULTANEOUS,
            timeout=30,
        )
    ]


def test_saving_the_same_ring_group_again_changes_nothing() -> None:
    (saved,) = decide_ring_group(group(), NoEntry(), KNOWN)
    assert decide_ring_group(group(), Saved(saved), KNOWN) == []


def test_a_ring_group_with_an_unknown_member_is_refused() -> None:
    with pytest.raises(CommandError, match="extension\\(s\\) 1099 do not exist"):
        decide_ring_group(group(members=["1001", "1099"]), NoEntry(), KNOWN)


def test_a_ring_group_timeout_outside_5_to_120_seconds_is_refused() -> None:
    with pytest.raises(CommandError, match="ring_timeout must be between 5 and 120 seconds"):
        decide_ring_group(group(timeout=300), NoEntry(), KNOWN)


def test_an_ivr_is_saved_once() -> None:
    command = SaveIvr(ivr_id="main", name="Main menu")
    (saved,) = decide_ivr(command, NoEntry())
    assert saved == IvrSaved(ivr_id="main", name="Main menu")
    assert decide_ivr(command, Saved(saved)) == []


def test_the_default_feature_codes_switch_the_default_profiles() -> None:
    assert dict(FeatureCodes().codes) == {
        "*71": "available",
        "*72": "away",
        "*73": "dnd",
        "*74": "business-trip",
    }


def test_configuring_feature_codes_replaces_the_map() -> None:
    command = ConfigureFeatureCodes(codes={"*80": "meeting"})
    assert decide_feature_codes(command, FeatureCodes()) == [
        FeatureCodesConfigured(codes={"*80": "meeting"})
    ]
    assert decide_feature_codes(command, FeatureCodes({"*80": "meeting"})) == []
