"""Who may ask routing what (the table in the README is this one)."""

from __future__ import annotations

from contracts.base import Acting
from contracts.routing import CheckProfile, ExplainCall, ListCalls, WhatIf
from runtime.access import Rule, own, party

CALL_PARTIES = "caller, callee or forward target of the call"

ACCESS: dict[type[Acting], Rule] = {
    # A user sees the calls they made, received or were forwarded; the shell reads the
    # call's parties, then checks (authorize_party), the same for a call that is not.
    ExplainCall: party(CALL_PARTIES),
    # "What happens if X calls me": a user plays only calls to themself.
    WhatIf: own("callee"),
    # "My calls": a user lists only the calls they placed or were dialled on.
    ListCalls: own("extension"),
    # "Would this profile of mine loop?": a user checks only a profile of their own.
    CheckProfile: own("extension"),
}
