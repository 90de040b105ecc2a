"""Who may issue each visibility command and query (the table in the README is this one).

The owner decides who sees them; a watcher manages their own contacts and reads the
presence it may see of others. Administrators and services may act for anyone.
"""

from __future__ import annotations

from contracts.base import Acting
from contracts.visibility import (
    OWNER_COMMANDS,
    WATCHER_COMMANDS,
    GetAllowed,
    GetBlocked,
    GetContacts,
    GetPendingRequests,
    GetView,
    WhoCanSeeMe,
    WhoWatchesMe,
)
from runtime.access import Rule, own

OWN_LISTS = own("owner")
OWN_CONTACTS = own("watcher")

ACCESS: dict[type[Acting], Rule] = {
    **dict.fromkeys(OWNER_COMMANDS, OWN_LISTS),
    **dict.fromkeys(WATCHER_COMMANDS, OWN_CONTACTS),
    GetContacts: OWN_CONTACTS,
    GetView: OWN_CONTACTS,
    GetPendingRequests: OWN_LISTS,
    GetAllowed: OWN_LISTS,
    GetBlocked: OWN_LISTS,
    WhoCanSeeMe: OWN_LISTS,
    WhoWatchesMe: OWN_LISTS,
}
