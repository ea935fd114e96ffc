"""One HTTP client shape for every partner.

A ``PartnerClient`` is a ``requests`` session with timeouts on every call, a pluggable auth,
a rate limiter and a circuit breaker shared by every worker (through Redis), retries with
exponential backoff and jitter that honour ``Retry-After``, and partner errors mapped to
the typed exceptions below. Partner-specific knowledge (how errors look, which statuses
mean "slow down") comes in as a ``PartnerStyle``; the connectors build clients through
``connectors.clients``.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache

import pybreaker
import redis
import requests
import tenacity
from django.conf import settings
from django.core.cache import cache as django_cache

logger = logging.getLogger(__name__)


# --- errors -------------------------------------------------------------------------------------


class PartnerError(Exception):
    """A partner call failed. ``code`` and ``message`` are the partner's own when it gave them."""

    def __init__(self, message: str, *, status: int | None = None, code=None, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.retry_after = retry_after


class PartnerUnavailable(PartnerError):
    """5xx, timeout or connection failure: worth retrying, and counted by the circuit breaker.

    ``not_sent`` is true when the request surely never reached the partner (connection refused),
    so that even a non-idempotent request may be sent again.
    """

    def __init__(self, message: str, *, not_sent: bool = False, **kwargs):
        super().__init__(message, **kwargs)
        self.not_sent = not_sent


class PartnerRateLimited(PartnerError):
    """The partner (or our own limiter) says slow down; retried after ``retry_after`` or a backoff."""


class PartnerAuthError(PartnerError):
    """Credentials refused even after a fresh token: a person must fix the account."""


class PartnerRequestError(PartnerError):
    """The partner refused what we sent (4xx): retrying the same request will not help."""


class PartnerNotFound(PartnerRequestError):
    pass


class PartnerMalformedResponse(PartnerError):
    """The partner answered with a body we cannot read."""


class CircuitOpen(PartnerError):
    """Calls to this partner are suspended for a while after repeated failures."""


# --- partner style -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartnerStyle:
    """What differs between partners at the HTTP level."""

    name: str
    throttle_statuses: frozenset[int] = frozenset({429})
    #: Statuses meaning "your access token is no good": refresh it once and try again.
    auth_failure_statuses: frozenset[int] = frozenset({401})
    #: (code, message) from an error body; the default reads ``code``/``message``.
    error_details: Callable[[object], tuple[object, str]] = lambda body: (
        (body.get("code"), str(body.get("message", ""))) if isinstance(body, dict) else (None, "")
    )
    #: Raises a PartnerError for a 2xx body that is really an error; the default accepts all.
    check_success: Callable[[object], None] = lambda body: None


@dataclass(frozen=True)
class PartnerResponse:
    status: int
    data: object
    headers: dict
    started_at: datetime
    finished_at: datetime


# --- rate limiting -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: ``capacity`` calls at once, refilled at ``per_second``."""

    capacity: float
    per_second: float

    @classmethod
    def per_minute(cls, calls: int, *, burst: int | None = None, margin: float = 0.95) -> "RateLimit":
        """The partner's documented quota, kept ``margin`` below it so clocks and in-flight calls never tip it."""
        return cls(capacity=max(1.0, (burst or calls) * margin), per_second=calls * margin / 60)


_BUCKET_LUA = """
local capacity = tonumber(ARGV[1])
local per_ms = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * per_ms)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / per_ms) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / per_ms) + 60000)
return wait
"""


@cache
def _redis() -> redis.Redis | None:
    return redis.Redis.from_url(settings.REDIS_URL) if settings.REDIS_URL else None


class RateLimiter:
    """A token bucket shared by every worker through Redis (in-process when no Redis is configured)."""

    def __init__(self, key: str, limit: RateLimit):
        self.key = f"stockpool:ratelimit:{key}"
        self.limit = limit
        client = _redis()
        self._script = client.register_script(_BUCKET_LUA) if client else None
        self._local = _local_bucket(self.key, limit) if client is None else None

    def acquire(self, timeout: float = 120.0) -> None:
        """Wait for a call slot; PartnerRateLimited if none comes within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            wait_ms = self._take()
            if wait_ms <= 0:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PartnerRateLimited(f"No call slot for {self.key} within {timeout:.0f} s.")
            time.sleep(min(wait_ms / 1000, remaining))

    def _take(self) -> float:
        if self._script is not None:
            return float(self._script(keys=[self.key], args=[self.limit.capacity, self.limit.per_second / 1000]))
        return self._local.take()


class _LocalBucket:
    def __init__(self, limit: RateLimit):
        self.limit = limit
        self.tokens = limit.capacity
        self.at = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> float:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.limit.capacity, self.tokens + (now - self.at) * self.limit.per_second)
            self.at = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0
            return (1 - self.tokens) / self.limit.per_second * 1000


@cache
def _local_bucket(key: str, limit: RateLimit) -> _LocalBucket:
    return _LocalBucket(limit)


# --- circuit breaker -----------------------------------------------------------------------------

_breakers: dict[str, pybreaker.CircuitBreaker] = {}
_breakers_lock = threading.Lock()


class _StateListener(pybreaker.CircuitBreakerListener):
    def state_change(self, breaker, old_state, new_state):
        logger.warning("Circuit %s: %s -> %s", breaker.name, old_state.name, new_state.name)
        if getattr(breaker, "on_change", None):
            breaker.on_change(new_state.name)


def circuit_breaker(
    key: str, *, fail_max: int = 5, reset_timeout: float = 60, on_change: Callable[[str], None] | None = None
) -> pybreaker.CircuitBreaker:
    """The breaker for ``key``; its state lives in Redis, so every worker sees it open and close."""
    with _breakers_lock:
        breaker = _breakers.get(key)
        if breaker is None:
            client = _redis()
            storage = (
                pybreaker.CircuitRedisStorage(pybreaker.STATE_CLOSED, client, namespace=f"stockpool:circuit:{key}")
                if client
                else pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)
            )
            breaker = pybreaker.CircuitBreaker(
                fail_max=fail_max,
                reset_timeout=reset_timeout,
                state_storage=storage,
                exclude=[lambda error: not isinstance(error, PartnerUnavailable)],
                listeners=[_StateListener()],
                name=key,
            )
            _breakers[key] = breaker
        breaker.on_change = on_change
        return breaker


# --- auth -----------------------------------------------------------------------------------------


class Auth:
    """Adds credentials to a request. ``refresh`` gets a new token after a 401; False if it cannot."""

    def headers(self) -> dict[str, str]:
        return {}

    def refresh(self) -> bool:
        return False


class StaticHeaders(Auth):
    def __init__(self, headers: dict[str, str]):
        self._headers = headers

    def headers(self):
        return dict(self._headers)


class CachedTokenAuth(Auth):
    """A bearer-style token minted by ``mint()`` and cached for every worker until shortly before it expires.

    One worker mints at a time (a cache lock), so a fleet of workers does not exhaust the
    partner's token quota (Zoho allows 10 tokens per 10 minutes).
    """

    EARLY_EXPIRY_SECONDS = 120

    def __init__(self, cache_key: str, mint: Callable[[], tuple[str, int]], header: Callable[[str], dict]):
        self.cache_key = f"stockpool:token:{cache_key}"
        self._mint = mint
        self._header = header

    def headers(self):
        return self._header(self._token())

    def refresh(self):
        django_cache.delete(self.cache_key)
        self._token()
        return True

    def _mint_with_retries(self) -> tuple[str, int]:
        """The token endpoint has its own bounded retries, so its hiccups do not use up the API call's."""
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(3),
            wait=tenacity.wait_random_exponential(multiplier=0.2, max=2),
            retry=tenacity.retry_if_exception_type((PartnerUnavailable, PartnerMalformedResponse)),
            reraise=True,
        )
        return retrying(self._mint)

    def _token(self) -> str:
        token = django_cache.get(self.cache_key)
        if token:
            return token
        lock_key = f"{self.cache_key}:minting"
        deadline = time.monotonic() + 30
        while not django_cache.add(lock_key, 1, timeout=30):
            time.sleep(0.05)
            token = django_cache.get(self.cache_key)
            if token:
                return token
            if time.monotonic() > deadline:
                raise PartnerUnavailable("Timed out waiting for another worker to mint an access token.")
        try:
            token, expires_in = self._mint_with_retries()
            django_cache.set(self.cache_key, token, timeout=max(30, expires_in - self.EARLY_EXPIRY_SECONDS))
            return token
        finally:
            django_cache.delete(lock_key)


# --- the client -----------------------------------------------------------------------------------


@dataclass
class PartnerClient:
    base_url: str
    style: PartnerStyle
    auth: Auth
    limiter: RateLimiter
    breaker: pybreaker.CircuitBreaker
    default_params: dict = field(default_factory=dict)
    timeout: tuple[float, float] = (5.0, 30.0)
    max_attempts: int = 5
    max_backoff_seconds: float = 30.0
    session: requests.Session = field(default_factory=requests.Session)

    def get(self, path: str, params: dict | None = None, *, limiter: RateLimiter | None = None) -> PartnerResponse:
        return self.request("GET", path, params=params, idempotent=True, limiter=limiter)

    def post(
        self, path: str, json=None, params: dict | None = None, *, idempotent: bool = False, limiter=None
    ) -> PartnerResponse:
        return self.request("POST", path, params=params, json=json, idempotent=idempotent, limiter=limiter)

    def request(
        self, method: str, path: str, *, params=None, json=None, idempotent: bool, limiter: RateLimiter | None = None
    ) -> PartnerResponse:
        """Send with retries. A request that may have reached the partner is only retried if ``idempotent``.

        ``limiter`` replaces the client's own for partners whose quotas are per operation (Amazon).
        """

        def retryable(error: BaseException) -> bool:
            if isinstance(error, PartnerRateLimited):
                return True  # refused before it was processed
            if isinstance(error, PartnerMalformedResponse):
                return idempotent  # a garbled answer to a read is worth reading again
            return isinstance(error, PartnerUnavailable) and (idempotent or error.not_sent)

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception(retryable),
            reraise=True,
        )
        return retrying(
            self._guarded_attempt,
            method,
            path,
            {**self.default_params, **(params or {})},
            json,
            limiter or self.limiter,
        )

    def _wait(self, retry_state: tenacity.RetryCallState) -> float:
        error = retry_state.outcome.exception()
        if getattr(error, "retry_after", None) is not None:
            return min(error.retry_after, self.max_backoff_seconds)
        return tenacity.wait_random_exponential(multiplier=0.25, max=self.max_backoff_seconds)(retry_state)

    def _guarded_attempt(self, method, path, params, json, limiter) -> PartnerResponse:
        try:
            return self.breaker.call(self._attempt, method, path, params, json, limiter)
        except pybreaker.CircuitBreakerError as error:
            raise CircuitOpen(f"Calls to {self.style.name} are suspended after repeated failures: {error}") from error

    def _attempt(self, method, path, params, json, limiter, *, refreshed: bool = False) -> PartnerResponse:
        limiter.acquire()
        url = f"{self.base_url.rstrip('/')}/{path.lstrip('/')}"
        started = datetime.now(UTC)
        try:
            response = self.session.request(
                method, url, params=params, json=json, headers=self.auth.headers(), timeout=self.timeout
            )
        except requests.ConnectionError as error:
            not_sent = isinstance(error, requests.ConnectTimeout) or "Connection refused" in str(error)
            raise PartnerUnavailable(
                f"{self.style.name}: cannot connect ({type(error).__name__}).", not_sent=not_sent
            ) from error
        except requests.Timeout as error:
            raise PartnerUnavailable(f"{self.style.name}: no answer within {self.timeout[1]:.0f} s.") from error
        finished = datetime.now(UTC)
        logger.info(
            "%s %s %s -> %s in %d ms",
            self.style.name,
            method,
            path,
            response.status_code,
            (finished - started).total_seconds() * 1000,
        )
        if response.status_code in self.style.auth_failure_statuses and not refreshed and self.auth.refresh():
            return self._attempt(method, path, params, json, limiter, refreshed=True)
        body = self._body(response)
        if response.status_code >= 400 or response.status_code in self.style.throttle_statuses:
            raise self._error(response, body)
        self.style.check_success(body)
        return PartnerResponse(response.status_code, body, dict(response.headers), started, finished)

    def _body(self, response: requests.Response):
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as error:
            if response.status_code >= 500:
                return None
            raise PartnerMalformedResponse(
                f"{self.style.name} answered {response.status_code} with a body that is not JSON: "
                f"{response.text[:120]!r}",
                status=response.status_code,
            ) from error

    def _error(self, response: requests.Response, body) -> PartnerError:
        code, message = self.style.error_details(body)
        status = response.status_code
        text = f"{self.style.name} {status}: {message or response.reason}"
        if status in self.style.throttle_statuses:
            return PartnerRateLimited(text, status=status, code=code, retry_after=_retry_after(response))
        if status >= 500:
            return PartnerUnavailable(text, status=status, code=code, retry_after=_retry_after(response))
        if status in (401, 403):
            return PartnerAuthError(text, status=status, code=code)
        if status == 404:
            return PartnerNotFound(text, status=status, code=code)
        return PartnerRequestError(text, status=status, code=code)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
        except (TypeError, ValueError):
            return None
