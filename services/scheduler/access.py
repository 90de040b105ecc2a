"""Who may issue each scheduler command and query (the table in the README is this one)."""

from __future__ import annotations

from contracts.base import Acting
from contracts.scheduler import (
    AddOverride,
    CancelOverride,
    CancelTimedStatus,
    GetCompanySchedule,
    GetSchedule,
    RemoveSchedule,
    SaveCompanySchedule,
    SaveSchedule,
    SetTimedStatus,
)
from runtime.access import ADMINISTRATORS, Rule, own

OWN_EXTENSION = own("extension")

ACCESS: dict[type[Acting], Rule] = {
    SaveSchedule: OWN_EXTENSION,
    RemoveSchedule: OWN_EXTENSION,
    AddOverride: OWN_EXTENSION,
    CancelOverride: OWN_EXTENSION,
    SetTimedStatus: OWN_EXTENSION,
    CancelTimedStatus: OWN_EXTENSION,
    GetSchedule: OWN_EXTENSION,
    # The company's hours and holidays, which every inheriting user follows.
    SaveCompanySchedule: ADMINISTRATORS,
    GetCompanySchedule: ADMINISTRATORS,
}
