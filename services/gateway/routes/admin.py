"""What only an administrator does: accounts, devices, ring groups, IVRs, feature codes,
the company's schedule and holidays. Other users' profiles and settings are the users'
own resources (`/api/users/{ext}/...`), which an administrator may act on."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Path

from contracts.presence import (
    ConfigureFeatureCodes,
    FeatureCodesView,
    GetFeatureCodes,
    IvrList,
    ListIvrs,
    ListRingGroups,
    ProvisionUser,
    ReportDevice,
    RingGroupList,
    SaveIvr,
    SaveRingGroup,
)
from contracts.scheduler import (
    CompanyScheduleView,
    GetCompanySchedule,
    SaveCompanySchedule,
    ScheduleSpec,
)
from services.gateway.accounts.domain import (
    EXTENSION_PATTERN,
    AccountRole,
    ChangePassword,
    OpenAccount,
)
from services.gateway.auth import LOGIN, Admin, EdgeDep, Ext
from services.gateway.bodies import body_of
from services.gateway.errors import ERROR_RESPONSES, Refused
from services.gateway.models import (
    AccountCreated,
    AccountInfo,
    NewAccountBody,
    PasswordReset,
    ResetPasswordBody,
    Result,
    result,
)
from services.gateway.passwords import generate_password

router = APIRouter(prefix="/api/admin", tags=["admin"], responses=ERROR_RESPONSES)

LoginPath = Annotated[str, Path(pattern=LOGIN)]
Id = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
DeviceId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
DeviceBody = body_of(ReportDevice, "DeviceBody", without={"extension", "device_id"})
RingGroupBody = body_of(SaveRingGroup, "RingGroupBody", without={"group_id"})
IvrBody = body_of(SaveIvr, "IvrBody", without={"ivr_id"})
FeatureCodesBody = body_of(ConfigureFeatureCodes, "FeatureCodesBody")
CompanyScheduleBody = body_of(ScheduleSpec, "CompanyScheduleBody")


@router.get("/accounts", response_model=list[AccountInfo], summary="Every account")
async def accounts(who: Admin, edge: EdgeDep) -> list[AccountInfo]:
    return [AccountInfo.model_validate(a) for a in await edge.accounts.all()]


@router.post("/accounts", response_model=AccountCreated, status_code=201, summary="New user")
async def create_account(body: NewAccountBody, who: Admin, edge: EdgeDep) -> AccountCreated:
    is_extension = re.fullmatch(EXTENSION_PATTERN, body.login) is not None
    if body.role is AccountRole.USER and not is_extension:
        raise Refused(422, "a user's login is their extension (digits)", field="login")
    if await edge.accounts.find(body.login) is not None:
        raise Refused(409, f"an account {body.login} exists already", field="login")
    if is_extension:  # the user exists in presence first, so signing in finds them
        provision = ProvisionUser(
            extension=body.login, display_name=body.display_name, mobile_number=body.mobile_number
        )
        await edge.tell("presence", provision, who)
    generated = None if body.password else generate_password()
    password = body.password or generated
    assert password is not None
    await edge.accounts.handle(
        OpenAccount(
            login=body.login,
            display_name=body.display_name,
            role=body.role,
            password_hash=await edge.passwords.hash(password),
            must_change_password=True,
            by=who.login,
        ),
        edge.clock.now(),
        who.login,
    )
    info = AccountInfo(
        login=body.login, display_name=body.display_name, role=body.role, must_change_password=True
    )
    return AccountCreated(account=info, password=generated)


@router.put("/accounts/{login}/password", response_model=PasswordReset, summary="Reset")
async def reset_password(
    login: LoginPath, body: ResetPasswordBody, who: Admin, edge: EdgeDep
) -> PasswordReset:
    generated = None if body.password else generate_password()
    password = body.password or generated
    assert password is not None
    now = edge.clock.now()
    await edge.accounts.handle(
        ChangePassword(
            login=login,
            password_hash=await edge.passwords.hash(password),
            must_change_password=body.must_change_password,
            by=who.login,
        ),
        now,
        who.login,
    )
    await edge.throttle.clear(login)
    ended = await edge.sessions.end_all(login, "password_reset", now)
    await edge.ended(login, ended)
    return PasswordReset(password=generated, sessions_ended=len(ended))


@router.put("/users/{ext}/devices/{device_id}", response_model=Result, summary="A device")
async def device(
    ext: Ext, device_id: DeviceId, body: DeviceBody, who: Admin, edge: EdgeDep
) -> Result:
    command = ReportDevice(extension=ext, device_id=device_id, **body.model_dump())
    return result(await edge.tell("presence", command, who))


@router.get("/ring-groups", response_model=RingGroupList, summary="Every ring group")
async def ring_groups(who: Admin, edge: EdgeDep) -> RingGroupList:
    return RingGroupList.model_validate(await edge.ask("presence", ListRingGroups(), who))


@router.put("/ring-groups/{group_id}", response_model=Result, summary="Save a ring group")
async def ring_group(group_id: Id, body: RingGroupBody, who: Admin, edge: EdgeDep) -> Result:
    command = SaveRingGroup(group_id=group_id, **body.model_dump())
    return result(await edge.tell("presence", command, who))


@router.get("/ivrs", response_model=IvrList, summary="Every IVR")
async def ivrs(who: Admin, edge: EdgeDep) -> IvrList:
    return IvrList.model_validate(await edge.ask("presence", ListIvrs(), who))


@router.put("/ivrs/{ivr_id}", response_model=Result, summary="Save an IVR")
async def ivr(ivr_id: Id, body: IvrBody, who: Admin, edge: EdgeDep) -> Result:
    return result(await edge.tell("presence", SaveIvr(ivr_id=ivr_id, **body.model_dump()), who))


@router.get("/feature-codes", response_model=FeatureCodesView, summary="The feature codes")
async def get_feature_codes(who: Admin, edge: EdgeDep) -> FeatureCodesView:
    return FeatureCodesView.model_validate(await edge.ask("presence", GetFeatureCodes(), who))


@router.put("/feature-codes", response_model=Result, summary="Feature code to profile id")
async def feature_codes(body: FeatureCodesBody, who: Admin, edge: EdgeDep) -> Result:
    command = ConfigureFeatureCodes(**body.model_dump())
    return result(await edge.tell("presence", command, who))


@router.get(
    "/company-schedule", response_model=CompanyScheduleView, summary="Company hours, holidays"
)
async def get_company_schedule(who: Admin, edge: EdgeDep) -> CompanyScheduleView:
    answer = await edge.ask("scheduler", GetCompanySchedule(), who)
    return CompanyScheduleView.model_validate(answer)


@router.put("/company-schedule", response_model=Result, summary="Company hours and holidays")
async def company_schedule(body: CompanyScheduleBody, who: Admin, edge: EdgeDep) -> Result:
    spec = ScheduleSpec.model_validate(body.model_dump())
    return result(await edge.tell("scheduler", SaveCompanySchedule(schedule=spec), who))
