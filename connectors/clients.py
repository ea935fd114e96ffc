"""HTTP clients for each partner kind, built from a ConnectorAccount.

What differs per partner (auth, throttle statuses, error bodies, quota) lives here; the
machinery (retries, limiter, breaker) is ``connectors.http``.
"""

import base64
import hashlib

import requests
from django.utils import timezone

from connectors.http import (
    CachedTokenAuth,
    PartnerAuthError,
    PartnerClient,
    PartnerMalformedResponse,
    PartnerRateLimited,
    PartnerRequestError,
    PartnerStyle,
    PartnerUnavailable,
    RateLimit,
    RateLimiter,
    StaticHeaders,
    circuit_breaker,
)
from connectors.models import ConnectorAccount, Kind

#: Documented quotas, calls per minute. Medusa is self-hosted and has none; ours keeps a store's server calm.
ZOHO_CALLS_PER_MINUTE = 100
CIN7_CALLS_PER_MINUTE = 60
MEDUSA_CALLS_PER_MINUTE = 600
TOKEN_TIMEOUT = (5.0, 20.0)


def _zoho_check(body) -> None:
    if isinstance(body, dict) and body.get("code") not in (None, 0):
        raise PartnerRequestError(f"Zoho Inventory: {body.get('message')}", code=body.get("code"))


ZOHO = PartnerStyle(name="Zoho Inventory", throttle_statuses=frozenset({429}), check_success=_zoho_check)


def _cin7_error(body) -> tuple[object, str]:
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]
    if isinstance(body, dict):
        return body.get("ErrorCode"), str(body.get("Exception", ""))
    return None, ""


def _cin7_check(body) -> None:
    code, message = _cin7_error(body)
    if code is not None:
        raise PartnerRequestError(f"Cin7 Core: {message}", code=code)


#: Cin7 answers its 60-a-minute limit with 503 (some accounts with 429): both mean "slow down".
CIN7 = PartnerStyle(
    name="Cin7 Core",
    throttle_statuses=frozenset({429, 503}),
    error_details=_cin7_error,
    check_success=_cin7_check,
)


def _amazon_error(body) -> tuple[object, str]:
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return errors[0].get("code"), str(errors[0].get("message", ""))
    return None, ""


#: Amazon's ``errors`` envelope; quotas are per operation, so each call names its own limiter.
#: An expired or revoked access token is a 403 ``Unauthorized`` there.
AMAZON = PartnerStyle(
    name="Amazon SP-API",
    throttle_statuses=frozenset({429}),
    auth_failure_statuses=frozenset({401, 403}),
    error_details=_amazon_error,
)


def _medusa_error(body) -> tuple[object, str]:
    if isinstance(body, dict):
        return body.get("type") or body.get("code"), str(body.get("message", ""))
    return None, ""


MEDUSA = PartnerStyle(name="Medusa", throttle_statuses=frozenset({429}), error_details=_medusa_error)


def client_for(account: ConnectorAccount) -> PartnerClient:
    builders = {
        Kind.ZOHO_INVENTORY: _zoho_client,
        Kind.CIN7_CORE: _cin7_client,
        Kind.AMAZON_SP_API: _amazon_client,
        Kind.MEDUSA: _medusa_client,
    }
    if account.kind not in builders:
        raise NotImplementedError(f"No client for {account.get_kind_display()} yet.")
    return builders[account.kind](account)


def _rate(account: ConnectorAccount, documented_per_minute: int) -> RateLimit:
    """The documented quota; ``rate_limit_per_minute`` in the account's settings overrides it (sandboxes)."""
    return RateLimit.per_minute(int(account.settings.get("rate_limit_per_minute") or documented_per_minute))


def _timeout(account: ConnectorAccount) -> tuple[float, float]:
    """(connect, read) seconds; ``read_timeout_seconds`` in the settings overrides the 30 s read timeout."""
    return (5.0, float(account.settings.get("read_timeout_seconds", 30)))


def _breaker(account: ConnectorAccount):
    def record(state: str) -> None:
        ConnectorAccount.objects.filter(pk=account.pk).update(circuit_state=state, circuit_changed_at=timezone.now())

    return circuit_breaker(
        f"account:{account.pk}",
        fail_max=int(account.settings.get("circuit_fail_max", 5)),
        reset_timeout=float(account.settings.get("circuit_reset_seconds", 60)),
        on_change=record,
    )


def _zoho_client(account: ConnectorAccount) -> PartnerClient:
    organization_id = account.settings["organization_id"]
    auth = CachedTokenAuth(
        f"zoho:{account.pk}",
        mint=lambda: _mint_zoho_token(account),
        header=lambda token: {"Authorization": f"Zoho-oauthtoken {token}"},
    )
    return PartnerClient(
        base_url=account.api_base_url,
        style=ZOHO,
        auth=auth,
        limiter=RateLimiter(f"zoho:org:{organization_id}", _rate(account, ZOHO_CALLS_PER_MINUTE)),
        breaker=_breaker(account),
        default_params={"organization_id": organization_id},
        timeout=_timeout(account),
    )


def _mint_zoho_token(account: ConnectorAccount) -> tuple[str, int]:
    """Zoho's refresh grant, with its quirks: a bad refresh token is HTTP 200 ``{"error": "invalid_code"}``,
    throttled minting a 400 ``Access Denied``."""
    return _refresh_grant(
        "Zoho accounts server",
        f"{account.auth_base_url.rstrip('/')}/oauth/v2/token",
        account.credentials,
        throttled=lambda response, body: response.status_code == 400 and body.get("error") == "Access Denied",
    )


def _refresh_grant(who: str, url: str, credentials: dict, *, throttled) -> tuple[str, int]:
    """An OAuth refresh grant, as a form body: secrets never travel in a URL, which proxies and
    debug logs record. Returns (access token, seconds it lives)."""
    try:
        response = requests.post(
            url,
            data={
                "grant_type": "refresh_token",
                "refresh_token": credentials.get("refresh_token", ""),
                "client_id": credentials.get("client_id", ""),
                "client_secret": credentials.get("client_secret", ""),
            },
            timeout=TOKEN_TIMEOUT,
        )
    except requests.RequestException as error:
        raise PartnerUnavailable(f"{who}: {type(error).__name__}") from error
    if response.status_code >= 500:
        raise PartnerUnavailable(f"{who} answered {response.status_code}.")
    try:
        body = response.json()
    except ValueError as error:
        raise PartnerMalformedResponse(
            f"{who} answered {response.status_code} with a body that is not JSON."
        ) from error
    if throttled(response, body):
        raise PartnerRateLimited(
            f"{who} is throttling token requests: {body.get('error_description', '')}", retry_after=60
        )
    if "access_token" not in body:
        raise PartnerAuthError(
            f"{who} refused the refresh token ({body.get('error') or response.status_code}: "
            f"{body.get('error_description', '')}); reconnect the account."
        )
    return body["access_token"], int(body.get("expires_in", 3600))


def _cin7_client(account: ConnectorAccount) -> PartnerClient:
    credentials = account.credentials
    application_key = credentials.get("application_key", "")
    auth = StaticHeaders(
        {
            "api-auth-accountid": credentials.get("account_id", ""),
            "api-auth-applicationkey": application_key,
        }
    )
    # Cin7 counts calls per API application, so the bucket is keyed by (a hash of) the application key.
    application = hashlib.sha256(application_key.encode()).hexdigest()[:16]
    return PartnerClient(
        base_url=account.api_base_url,
        style=CIN7,
        auth=auth,
        limiter=RateLimiter(f"cin7:app:{application}", _rate(account, CIN7_CALLS_PER_MINUTE)),
        breaker=_breaker(account),
        timeout=_timeout(account),
    )


def _amazon_client(account: ConnectorAccount) -> PartnerClient:
    seller_id = account.settings["seller_id"]
    auth = CachedTokenAuth(
        f"amazon:{account.pk}",
        mint=lambda: _mint_lwa_token(account),
        header=lambda token: {"x-amz-access-token": token},
    )
    return PartnerClient(
        base_url=account.api_base_url,
        style=AMAZON,
        auth=auth,
        # A default bucket for calls that do not name their operation's own.
        limiter=RateLimiter(f"amazon:{seller_id}:default", RateLimit(capacity=1, per_second=0.95)),
        breaker=_breaker(account),
        timeout=_timeout(account),
    )


def _mint_lwa_token(account: ConnectorAccount) -> tuple[str, int]:
    """Login with Amazon's refresh grant; errors are ``{"error": "invalid_grant", ...}``."""
    return _refresh_grant(
        "Login with Amazon",
        f"{account.auth_base_url.rstrip('/')}/auth/o2/token",
        account.credentials,
        throttled=lambda response, body: response.status_code == 429,
    )


def _medusa_client(account: ConnectorAccount) -> PartnerClient:
    """A self-hosted Medusa: a secret API key as Basic auth (``sk_...`` and an empty password)."""
    key = account.credentials.get("secret_key", "")
    basic = base64.b64encode(f"{key}:".encode()).decode()
    return PartnerClient(
        base_url=account.api_base_url,
        style=MEDUSA,
        auth=StaticHeaders({"Authorization": f"Basic {basic}"}),
        limiter=RateLimiter(f"medusa:{account.pk}", _rate(account, MEDUSA_CALLS_PER_MINUTE)),
        breaker=_breaker(account),
        timeout=_timeout(account),
    )
