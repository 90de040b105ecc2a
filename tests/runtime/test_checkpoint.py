"""A consumer's checkpoint: which stream sequences are applied (runtime/consumer.py)."""

from __future__ import annotations

from runtime.consumer import advanced, is_applied
from runtime.eventstore import Checkpoint


def test_a_sequence_below_the_highest_applied_is_not_taken_for_applied() -> None:
    # Given 1 applied, then 3 and 4 (2 is out with a process that stopped)
    checkpoint = advanced(Checkpoint("c", 1, 1), [3, 4], ack_floor=1)
    # then 2 is not applied, 1, 3, 4 are
    assert not is_applied(checkpoint, 2)
    assert [is_applied(checkpoint, s) for s in (1, 3, 4)] == [True, True, True]
    assert not is_applied(checkpoint, 5)
    assert checkpoint.sequence == 4


def test_the_redelivered_sequence_joins_and_the_ack_floor_drops_what_it_covers() -> None:
    checkpoint = advanced(Checkpoint("c", 1, 1), [3, 4], ack_floor=1)
    # When 2 comes again and is applied, with JetStream's ack floor at 4 by then
    after = advanced(checkpoint, [2], ack_floor=4)
    # then everything up to 4 is applied and nothing need be kept above the floor
    assert after == Checkpoint("c", 4, 4, ())


def test_the_floor_stays_below_what_the_ack_floor_has_not_reached() -> None:
    checkpoint = advanced(Checkpoint("c", 0, 0), [5, 6], ack_floor=3)
    assert checkpoint == Checkpoint("c", 6, 3, (5, 6))
    assert not is_applied(checkpoint, 4)


def test_the_floor_never_moves_back() -> None:
    # An ack floor read from a consumer made again (it starts from 0) lowers nothing.
    checkpoint = advanced(Checkpoint("c", 9, 9), [10], ack_floor=0)
    assert checkpoint == Checkpoint("c", 10, 9, (10,))


def test_a_checkpoint_written_without_a_floor_covers_everything_up_to_its_sequence() -> None:
    old = Checkpoint("c", 7)
    assert is_applied(old, 7)
    assert not is_applied(old, 8)
    assert advanced(old, [8], ack_floor=0) == Checkpoint("c", 8, 7, (8,))
