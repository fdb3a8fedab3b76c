"""Platform HTTP API: ``/health``, ``/ready``, ``/me``, tenants, members and invitations, ``/openapi.json``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response

from crewhouse.core.aws import aws_client
from crewhouse.core.http import Writer, create_app, current_member, current_principal, lambda_handler
from crewhouse.core.identity import Identity, Principal, require_sign_in
from crewhouse.core.settings import load_settings
from crewhouse.core.table import Table
from crewhouse.platform import logic
from crewhouse.platform.models import (
    Health,
    Invitation,
    InvitationAccept,
    InvitationCreate,
    InvitationSent,
    Me,
    Member,
    MyTenant,
    PersonalToken,
    PersonalTokenCreate,
    PersonalTokenCreated,
    ProfilePatch,
    Readiness,
    RoleChange,
    TenantSwitch,
    TenantSwitched,
)
from crewhouse.platform.settings import PlatformSettings
from crewhouse.platform.store import CognitoDirectory, DynamoPlatformStore, S3BucketProbe, SesMailer

router = APIRouter(tags=["platform"])
tenant_router = APIRouter(tags=["tenant"])


def platform_settings() -> PlatformSettings:
    return load_settings(PlatformSettings)


Settings = Annotated[PlatformSettings, Depends(platform_settings)]


def platform_store(settings: Settings) -> logic.PlatformStore:
    return DynamoPlatformStore(Table(aws_client("dynamodb", settings), settings.platform_table))


def directory(settings: Settings) -> logic.Directory:
    return CognitoDirectory(aws_client("cognito-idp", settings), settings.user_pool_id, settings.mobile_client_id)


def mailer(settings: Settings) -> logic.Mailer:
    return SesMailer(aws_client("sesv2", settings), settings.invitation_sender)


def readiness_probes(settings: Settings) -> dict[str, logic.Probe]:
    return {
        "dynamodb": DynamoPlatformStore(Table(aws_client("dynamodb", settings), settings.platform_table)),
        "s3": S3BucketProbe(aws_client("s3", settings), settings.files_bucket),
    }


Store = Annotated[logic.PlatformStore, Depends(platform_store)]
UserDirectory = Annotated[logic.Directory, Depends(directory)]
AnyMember = Annotated[Identity, Depends(current_member)]
Caller = Annotated[Principal, Depends(current_principal)]


def signed_in_principal(principal: Caller) -> Principal:
    return require_sign_in(principal)


def signed_in_member(identity: AnyMember) -> Identity:
    require_sign_in(Principal(identity.user_id, identity.tenant_id, identity.scopes,
                              token_access=identity.token_access))
    return identity


def personal_tokens(settings: Settings) -> logic.PersonalTokens:
    from crewhouse.platform.token_store import DynamoPersonalTokens

    return DynamoPersonalTokens(Table(aws_client("dynamodb", settings), settings.platform_table))


# Account-wide actions (tokens, sign-out, tenant switch, joining a tenant) need a sign-in, never a token.
SignedIn = Annotated[Principal, Depends(signed_in_principal)]
SignedInMember = Annotated[Identity, Depends(signed_in_member)]
PersonalTokenStore = Annotated[logic.PersonalTokens, Depends(personal_tokens)]
PrincipalId = Annotated[str, Path(min_length=1, max_length=128)]


@router.get("/health", response_model=Health, summary="Liveness: answers without touching any dependency")
def health() -> Health:
    settings = load_settings(PlatformSettings)
    return Health(version=settings.release_version, commit=settings.release_commit, time=datetime.now(UTC))


@router.get("/ready", response_model=Readiness, summary="Readiness: DynamoDB and S3 reachable, else 503",
            responses={503: {"description": "A dependency is unreachable (named in `failing`)"}})
def ready(identity: AnyMember, probes: Annotated[dict[str, logic.Probe], Depends(readiness_probes)]) -> Readiness:
    return logic.check_readiness(probes)


@router.get("/me", response_model=Me, summary="The caller: user, tenant, role in it and profile")
def me(identity: AnyMember, store: Store) -> Me:
    return logic.describe_me(identity, store)


@router.patch("/me", response_model=Me, summary="Change the caller's profile: name, time zone, locale, week start")
def update_me(body: ProfilePatch, identity: AnyMember, store: Store, settings: Settings) -> Me:
    from crewhouse.platform.store import SyncProfileFeed

    return logic.update_profile(identity, body, store, SyncProfileFeed(aws_client("dynamodb", settings),
                                                                       settings.sync_table))


@router.get("/me/tenants", response_model=list[MyTenant], summary="Every tenant the caller belongs to")
def my_tenants(principal: Caller, store: Store) -> list[MyTenant]:
    return logic.my_tenants(principal, store)


@router.post("/me/tenant", response_model=TenantSwitched,
             summary="Choose the tenant new tokens name (with a refresh token: answer with those tokens)")
def switch_tenant(body: TenantSwitch, principal: SignedIn, store: Store, users: UserDirectory) -> TenantSwitched:
    return logic.switch_tenant(principal, body.tenant_id, body.refresh_token, store, users)


@router.post("/me/sign-out", status_code=204, summary="Revoke every token of the caller, in every tenant")
def sign_out(principal: SignedIn, store: Store, users: UserDirectory) -> Response:
    logic.sign_out(principal, store, users)
    return Response(status_code=204)


@router.post("/me/tokens", response_model=PersonalTokenCreated, status_code=201,
             summary="Create a personal access token for scripts and MCP clients (the token is shown once)")
def create_token(body: PersonalTokenCreate, identity: SignedInMember, tokens: PersonalTokenStore,
                 settings: Settings) -> PersonalTokenCreated:
    from crewhouse.platform.personal_tokens import token_hash_key

    return logic.create_personal_token(identity, body, tokens, token_hash_key(settings))


@router.get("/me/tokens", response_model=list[PersonalToken],
            summary="The caller's personal access tokens, newest first (never the tokens themselves)")
def list_tokens(principal: SignedIn, tokens: PersonalTokenStore) -> list[PersonalToken]:
    return logic.list_personal_tokens(principal, tokens)


@router.delete("/me/tokens/{token_id}", status_code=204,
               summary="Revoke a personal access token (refused everywhere within 60 seconds)")
def revoke_token(token_id: Annotated[str, Path(min_length=1, max_length=64)], principal: SignedIn,
                 tokens: PersonalTokenStore) -> Response:
    tokens.revoke(principal.user_id, token_id)
    return Response(status_code=204)


@router.post("/invitations/accept", response_model=MyTenant,
             summary="Join the tenant an invitation names (signed in with the invited address)")
def accept_invitation(body: InvitationAccept, principal: SignedIn, store: Store) -> MyTenant:
    return logic.accept_invitation(principal, body.code, store)


@tenant_router.get("/tenant/members", response_model=list[Member], summary="The tenant's active members")
def list_members(identity: AnyMember, store: Store) -> list[Member]:
    return logic.list_members(identity, store)


@tenant_router.patch("/tenant/members/{user_id}", response_model=Member,
                     summary="Change a member's role (admins; the last admin cannot be demoted)")
def change_role(user_id: PrincipalId, body: RoleChange, identity: Writer, store: Store) -> Member:
    return logic.change_role(identity, user_id, body.role, store)


@tenant_router.delete("/tenant/members/{user_id}", status_code=204,
                      summary="Remove a member and revoke their sessions (admins)")
def remove_member(user_id: PrincipalId, identity: Writer, store: Store, users: UserDirectory) -> Response:
    logic.remove_member(identity, user_id, store, users)
    return Response(status_code=204)


@tenant_router.post("/tenant/leave", status_code=204, summary="Leave the tenant (not as its last admin)")
def leave(identity: AnyMember, store: Store, users: UserDirectory) -> Response:
    logic.leave_tenant(identity, store, users)
    return Response(status_code=204)


@tenant_router.post("/tenant/invitations", status_code=201, response_model=InvitationSent,
                    summary="Invite someone by e-mail (admins)")
def invite(body: InvitationCreate, identity: Writer, store: Store, settings: Settings) -> InvitationSent:
    return logic.invite(identity, body.email, body.role, store, mailer(settings))


@tenant_router.get("/tenant/invitations", response_model=list[Invitation], summary="Invitations (admins)")
def list_invitations(identity: AnyMember, store: Store) -> list[Invitation]:
    return logic.list_invitations(identity, store)


@tenant_router.delete("/tenant/invitations/{invitation_id}", status_code=204,
                      summary="Revoke a pending invitation (admins)")
def revoke_invitation(invitation_id: Annotated[str, Path(min_length=1, max_length=64)], identity: Writer,
                      store: Store) -> Response:
    logic.revoke_invitation(identity, invitation_id, store)
    return Response(status_code=204)


@router.get("/openapi.json", summary="The merged OpenAPI document of every context", include_in_schema=False)
def openapi_document(identity: AnyMember) -> dict[str, Any]:
    from crewhouse.openapi import merged_openapi  # imported on demand: it loads every context

    return merged_openapi()


app = create_app("Crewhouse platform", [router, tenant_router])
handler = lambda_handler(app, __name__)
