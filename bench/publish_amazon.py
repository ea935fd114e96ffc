"""Bulk publish to the Amazon sandbox with its documented rate limits on: by feed, not one patch per listing.

    .venv/bin/python -m bench.publish_amazon [--listings 10000] [--compare-listings 50] [--keep]

Each scenario (the budget's 10,000 listings, then, with --compare-listings N, N listings by feed and
the same N by single patches):

1. a fresh database (stockpool_bench_publish), migrated; Redis database 10 flushed (the app's
   rate-limit buckets, circuit breakers and LWA token live there);
2. an organization, a warehouse, a marketplace channel drawing from it, N variants listed on it
   (``bulk_create``, no stock yet, so every listing is at 0);
3. the Amazon sandbox as its own process (``run_sandbox amazon --mirror-channel``): the channel's N
   SKUs listed as MFN listings at what we would publish now (0); its per-operation usage plans on
   (patchListingsItem 5/s burst 5, createFeedDocument and createFeed 0.0083/s burst 15, getFeed 2/s
   burst 15, getFeedDocument 0.0222/s burst 10); its feed processing set through its control API
   (``feed_advance``, see --feed-advance);
4. the ConnectorAccount (amazon_sp_api, the channel, seller_id, marketplace_id, feed_poll_seconds);
5. stock for every variant through ``inventory.services.apply_stock_changes`` in one call: every
   listing's availability moves, so ``connectors.publishing`` queues N publish_quantity messages
   (checked: N pending, each with the listing's availability);
6. a separate worker process runs ``connectors.outbox.deliver_due()`` once: wall time until it
   returns with every publication delivered (or failed), peak RSS (VmHWM), CPU, where its time went;
7. the calls it made (the sandbox's request log) by operation, the sandbox's MFN quantity of every
   SKU against what we published, zero 429s, no spec violations.

Target (DESIGN.md "Performance budget", bulk publish): "by feed or batch, not 10,000 single calls at
5/s". The yardstick is the lower bound for single patches, N / 5 s (2,000 s for 10,000); the
verdict is PASS when the wall time is under 5% of it. Exit status 1 only when a check failed.
"""

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter

from bench import _harness as h

#: The connector's own figures (constants of connectors.amazon, importable without Django set up).
FEED_THRESHOLD = 20
FEED_MAX_MESSAGES = 10_000

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/10"
TARGET_FRACTION = 0.05
PATCH_RATE = 5.0  # patchListingsItem, per second (burst 5)
PATCH_BURST = 5
CHANNEL_CODE = "amazon-us-bench"
SKU_PREFIX = "AMZB"
RESULT_MARK = "BENCH-PUBLISH-RESULT "


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.publish_amazon", description=__doc__.split("\n")[0])
    parser.add_argument("--listings", type=int, default=10_000, help="listings whose quantity moves (the budget's)")
    parser.add_argument(
        "--compare-listings",
        type=int,
        default=50,
        help="also publish this many by feed and the same many by single patches (0 skips the comparison)",
    )
    parser.add_argument(
        "--feed-advance",
        choices=["poll", "clock"],
        default="poll",
        help="the sandbox's feed processing: by getFeed polls, or by seconds on its clock",
    )
    parser.add_argument(
        "--feed-polls-per-step",
        type=int,
        default=1,
        help="poll mode: getFeed answers IN_QUEUE for p polls, IN_PROGRESS for p more, then DONE",
    )
    parser.add_argument(
        "--feed-step-seconds", type=float, default=1.0, help="clock mode: seconds IN_QUEUE, then IN_PROGRESS"
    )
    parser.add_argument(
        "--feed-poll-seconds",
        type=float,
        default=0.5,
        help="the account's feed_poll_seconds (getFeed's quota is 2/s; the app's default is 30)",
    )
    parser.add_argument("--max-seconds", type=float, default=900, help="give up on a delivery after this long")
    parser.add_argument("--db-name", default="stockpool_bench_publish", help=f"bench database ({h.DB_PREFIX}...)")
    parser.add_argument(
        "--redis-url", default=DEFAULT_REDIS_URL, help="Redis for the app (flushed before each scenario and at the end)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench database (of the last scenario run)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # the measured worker process
    parser.add_argument("--single-patches", action="store_true", help=argparse.SUPPRESS)  # worker: no feed
    parser.add_argument("--serve-sandbox", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)  # run_sandbox's args
    args = parser.parse_args(argv)
    if args.worker or args.serve_sandbox:
        return args
    if not 1 <= args.listings <= 50_000:
        parser.error("--listings must be 1..50000 (below 20 they go as single patches, as the connector sends them)")
    if not (args.compare_listings == 0 or FEED_THRESHOLD <= args.compare_listings <= 1_000):
        parser.error(f"--compare-listings must be {FEED_THRESHOLD}..1000 (the feed threshold), or 0 to skip")
    if not 1 <= args.feed_polls_per_step <= 100 or not 0 <= args.feed_step_seconds <= 600:
        parser.error("--feed-polls-per-step must be 1..100 and --feed-step-seconds 0..600")
    if not 0.05 <= args.feed_poll_seconds <= 60:
        parser.error("--feed-poll-seconds must be 0.05..60")
    if not 30 <= args.max_seconds <= 3600:
        parser.error("--max-seconds must be 30..3600")
    if not args.redis_url.startswith(("redis://127.0.0.1:", "redis://localhost:")):
        parser.error("--redis-url must be a Redis on 127.0.0.1")
    try:
        h.check_db_name(args.db_name)
    except ValueError as exc:
        parser.error(str(exc))
    return args


# --- the measured worker (a separate process: python -m bench.publish_amazon --worker) -------------


def worker_main(single_patches: bool) -> int:
    """``connectors.outbox.deliver_due()`` once, as the relay task runs it, timing its parts from outside.

    The wrappers only read the clock (and count SQL statements); the app's code is not changed. With
    ``single_patches`` the connector's feed threshold is lifted above any batch in this process, so the
    same messages go the way fewer than ``FEED_THRESHOLD`` would: one patchListingsItem each.
    """
    began = time.perf_counter()
    import django

    django.setup()
    import requests
    from django.db import connection

    from connectors import amazon, outbox
    from connectors import http as partner_http

    setup_seconds = time.perf_counter() - began
    rss_after_setup = h.status_kb()
    parts = dict.fromkeys(
        ("claim", "push_batch", "await_report", "limiter_wait", "calls", "upload", "download", "mark", "single"),
        0.0,
    )
    calls: list[dict] = []
    queries = [0]
    t0 = [0.0]

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                parts[name] += time.perf_counter() - started

        return wrapper

    acquire = partner_http.RateLimiter.acquire
    request = partner_http.PartnerClient.request

    def timed_acquire(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return acquire(self, *args, **kwargs)
        finally:
            parts["limiter_wait"] += time.perf_counter() - started

    def timed_request(self, method, path, *args, **kwargs):
        waited = parts["limiter_wait"]
        started = time.perf_counter()
        try:
            return request(self, method, path, *args, **kwargs)
        finally:
            elapsed = time.perf_counter() - started
            wait = parts["limiter_wait"] - waited
            parts["calls"] += elapsed - wait
            calls.append(
                {"method": method, "path": path, "at": started - t0[0], "seconds": elapsed - wait, "waited": wait}
            )

    def count_queries(execute, sql, params, many, context):
        queries[0] += 1
        return execute(sql, params, many, context)

    partner_http.RateLimiter.acquire = timed_acquire
    partner_http.PartnerClient.request = timed_request
    requests.Session.put = timed("upload", requests.Session.put)  # the feed document, to the presigned URL
    requests.Session.get = timed("download", requests.Session.get)  # the processing report
    outbox.claim_due = timed("claim", outbox.claim_due)
    outbox._delivered = timed("mark", outbox._delivered)
    outbox._failed = timed("mark", outbox._failed)
    outbox.deliver = timed("single", outbox.deliver)
    amazon.AmazonConnector.push_batch = timed("push_batch", amazon.AmazonConnector.push_batch)
    amazon.AmazonConnector._await_report = timed("await_report", amazon.AmazonConnector._await_report)
    if single_patches:
        amazon.AmazonConnector.feed_threshold = 10**9

    with connection.execute_wrapper(count_queries):
        t0[0] = time.perf_counter()
        delivered = outbox.deliver_due()
        deliver_seconds = time.perf_counter() - t0[0]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "delivered": delivered,
        "setup_seconds": setup_seconds,
        "deliver_seconds": deliver_seconds,
        "rss_after_setup_kb": rss_after_setup,
        # VmHWM, not ru_maxrss: Linux carries the forking parent's peak into the child's ru_maxrss
        "hwm_kb": h.status_kb("VmHWM"),
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "parts": parts,
        "calls": calls,
        "queries": queries[0],
    }
    print(RESULT_MARK + json.dumps(result), flush=True)
    return 0


# --- the sandbox process ---------------------------------------------------------------------------


class SandboxProcess(h.LoggedProcess):
    """``run_sandbox amazon --mirror-channel CODE`` on a free loopback port, its usage plans on.

    It runs as ``python -m bench.publish_amazon --serve-sandbox amazon ...`` (the same command through
    ``call_command``), as ``bench.import_zoho`` does, so that nothing stopping sandboxes by the name
    ``run_sandbox`` stops this one mid-run. It reads the bench database (DATABASE_URL) to mirror the
    channel's listings.
    """

    def __init__(self, *, channel_code: str, env: dict):
        self.channel_code, self.env = channel_code, env
        super().__init__("sandbox.log", prefix="stockpool-bench-amazon-")
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{h.LOOPBACK}:{self.port}"

    def start(self, *, timeout: float = 300.0) -> dict:
        """Start it and wait until its control API answers; returns its state (credentials, ids)."""
        self.port = h.free_port()
        command = [
            str(h.VENV_BIN / "python"),
            "-m",
            "bench.publish_amazon",
            "--serve-sandbox",
            "amazon",
            "--port",
            str(self.port),
            "--mirror-channel",
            self.channel_code,
        ]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command, cwd=h.ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the sandbox exited with {self.process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError, ValueError):
                return self.call("GET", "/_sandbox/")
            time.sleep(0.2)
        raise RuntimeError(f"the sandbox did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def call(self, method: str, path: str, body: dict | None = None, params: dict | None = None) -> dict:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 (loopback)
            f"{self.url}{path}{query}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (loopback)
                return json.loads(response.read())
        except urllib.error.URLError as exc:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"the sandbox exited with {self.process.returncode} ({method} {path}):\n{self.log_tail()}"
                ) from exc
            raise


def flush_redis(redis_url: str) -> int:
    """FLUSHDB of the bench's own Redis database (10 by default: no other benchmark uses it)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = client.dbsize()
        client.flushdb()
        return keys
    finally:
        client.close()


# --- the world -------------------------------------------------------------------------------------


def units_for(index: int) -> int:
    """Stock received for the index-th variant: 1..40 units, so that every listing moves off 0."""
    return 1 + (index * 7) % 40


def seed_catalog(listings: int):
    """Organization, warehouse, marketplace channel, N variants listed on it; no stock yet."""
    from decimal import Decimal

    from inventory.models import (
        Category,
        Channel,
        ChannelListing,
        ChannelWarehouse,
        Organization,
        Product,
        Variant,
        Warehouse,
    )

    organization = Organization.objects.create(
        name="Bench Amazon seller", slug="bench-amazon-seller", kind=Organization.Kind.SUPPLIER
    )
    warehouse = Warehouse.objects.create(organization=organization, code="bench-amz-wh1", name="Bench WH 1")
    fba = Warehouse.objects.create(
        organization=organization,
        code="bench-amazon-fba-us",
        name="Bench Amazon FBA US",
        system_of_record=Warehouse.SystemOfRecord.AMAZON_FBA,
    )
    channel = Channel.objects.create(
        organization=organization, code=CHANNEL_CODE, name="Bench Amazon US", kind=Channel.Kind.MARKETPLACE
    )
    ChannelWarehouse.objects.create(channel=channel, warehouse=warehouse, priority=0)
    category = Category.objects.create(name="Bench Amazon", slug="bench-amazon")
    products = Product.objects.bulk_create(
        Product(category=category, name=f"Bench product {i // 10:05d}", brand="Bench") for i in range(0, listings, 10)
    )
    variants = Variant.objects.bulk_create(
        Variant(product=products[i // 10], sku=f"{SKU_PREFIX}-{i:05d}", name=f"#{i}", price=Decimal("9.99"))
        for i in range(listings)
    )
    ChannelListing.objects.bulk_create(ChannelListing(channel=channel, variant=variant) for variant in variants)
    return organization, warehouse, fba, channel, variants


def create_account(state: dict, *, organization, channel, fba, feed_poll_seconds: float):
    from connectors.models import ConnectorAccount, Kind

    account = ConnectorAccount(
        kind=Kind.AMAZON_SP_API,
        name="Amazon US (bench)",
        organization=organization,
        warehouse=fba,
        channel=channel,
        api_base_url=state["api_url"],
        auth_base_url=state["url"],
        settings={
            "seller_id": state["seller_id"],
            "marketplace_id": state["marketplace_id"],
            "feed_poll_seconds": feed_poll_seconds,
        },
    )
    account.credentials = {
        "client_id": state["client_id"],
        "client_secret": state["client_secret"],
        "refresh_token": state["refresh_token"],
    }
    account.full_clean()
    account.save()
    return account


def receive_stock(warehouse, variants) -> tuple[int, float]:
    """Every variant's stock in one ``apply_stock_changes`` call; returns (relay kicks asked, seconds).

    The relay kick (a Celery ``delay`` after commit) is swapped for a counter: the worker process this
    script starts is the relay, and nothing else should pick the messages up.
    """
    from connectors import outbox
    from inventory.models import StockMovement
    from inventory.services import StockChange, apply_stock_changes

    kicks = [0]
    original = outbox.kick_relay

    def count_kick():
        kicks[0] += 1

    outbox.kick_relay = count_kick
    started = time.perf_counter()
    try:
        apply_stock_changes(
            [
                StockChange(warehouse, variant, StockMovement.Reason.RECEIPT, delta=units_for(i), reference="bench")
                for i, variant in enumerate(variants)
            ],
            source=StockMovement.Source.ADMIN,
        )
    finally:
        outbox.kick_relay = original
    return kicks[0], time.perf_counter() - started


def queued_publications(account, channel, listings: int) -> tuple[dict[str, int], list[str]]:
    """The pending publications ({sku: quantity}) and problems: N of them, each with the listing's availability."""
    from connectors.models import OutboundMessage
    from inventory.models import ChannelListing
    from inventory.selectors import listing_availability

    problems = []
    messages = list(
        OutboundMessage.objects.filter(account=account).values_list("kind", "status", "payload", named=True)
    )
    pending = [
        m
        for m in messages
        if m.kind == OutboundMessage.Kind.PUBLISH_QUANTITY and m.status == OutboundMessage.Status.PENDING
    ]
    if len(pending) != listings or len(messages) != listings:
        problems.append(f"{len(pending)} pending publish_quantity messages of {len(messages)}; expected {listings}")
    queued = {m.payload["sku"]: m.payload["quantity"] for m in pending}
    ours = {
        entry.rules.sku: entry.available
        for entry in listing_availability(ChannelListing.objects.filter(channel=channel))
    }
    wrong = [sku for sku, quantity in ours.items() if queued.get(sku) != quantity]
    if wrong:
        problems.append(f"{len(wrong)} queued quantities differ from the listings' availability: {wrong[:5]}")
    return queued, problems


# --- running the worker ----------------------------------------------------------------------------


def run_worker(*, single_patches: bool, env: dict, db_name: str, sandbox: SandboxProcess, max_seconds: float):
    """The delivering process: returns (its result dict, wall seconds of its life, CPU meter, polled VmHWM KB)."""
    command = [str(h.VENV_BIN / "python"), "-m", "bench.publish_amazon", "--worker"]
    if single_patches:
        command.append("--single-patches")
    return h.run_measured_worker(
        command,
        role="delivering worker",
        result_mark=RESULT_MARK,
        env=env,
        db_name=db_name,
        sandbox=sandbox,
        max_seconds=max_seconds,
    )


# --- the calls, as the sandbox logged them -----------------------------------------------------------

OPERATIONS = (
    ("POST", "/auth/o2/token", "LWA token"),
    ("POST", "/feeds/2021-06-30/documents", "createFeedDocument"),
    ("PUT", "/feed-documents/", "upload (presigned URL)"),
    ("POST", "/feeds/2021-06-30/feeds", "createFeed"),
    ("GET", "/feeds/2021-06-30/feeds/", "getFeed"),
    ("GET", "/feeds/2021-06-30/documents/", "getFeedDocument"),
    ("GET", "/feed-documents/", "report download"),
    ("PATCH", "/listings/2021-08-01/items/", "patchListingsItem"),
)


def operation(record: dict) -> str:
    for method, prefix, name in OPERATIONS:
        if record["method"] == method and (
            record["path"] == prefix or (prefix.endswith("/") and record["path"].startswith(prefix))
        ):
            return name
    return f"{record['method']} {record['path']}"


def count_operations(records: list[dict]) -> Counter:
    counted = Counter(operation(r) for r in records)
    order = [name for _, _, name in OPERATIONS]
    return Counter(dict(sorted(counted.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99)))


# --- checks ------------------------------------------------------------------------------------------


def verify(*, account, queued: dict[str, int], sandbox: SandboxProcess, records: list[dict], single: bool):
    """Rows to print and problems found."""
    from connectors.models import OutboundMessage

    problems = []
    statuses = Counter(OutboundMessage.objects.filter(account=account).values_list("status", flat=True).order_by())
    delivered = {
        m.payload["sku"]: m.payload["quantity"]
        for m in OutboundMessage.objects.filter(account=account, status=OutboundMessage.Status.DELIVERED).only(
            "payload"
        )
    }
    errors = list(
        OutboundMessage.objects.filter(account=account).exclude(last_error="").values_list("last_error", flat=True)[:3]
    )
    if len(delivered) != len(queued) or statuses.get(OutboundMessage.Status.DELIVERED, 0) != len(queued):
        problems.append(f"{len(delivered)} of {len(queued)} publications delivered ({dict(statuses)}); {errors}")
    if delivered != {sku: queued[sku] for sku in delivered}:
        problems.append("a delivered payload differs from the one queued")

    theirs = {entry["sku"]: entry["quantity"] for entry in sandbox.call("GET", "/_sandbox/listings")["listings"]}
    wrong = [sku for sku, quantity in delivered.items() if theirs.get(sku) != quantity]
    if wrong:
        problems.append(
            f"{len(wrong)} SKUs' MFN quantity on the sandbox differs from what we published: "
            f"{[(sku, delivered[sku], theirs.get(sku)) for sku in wrong[:5]]}"
        )
    throttled = [r for r in records if r["status"] == 429 or r.get("fault") in ("rate_limited", "concurrency")]
    if throttled:
        problems.append(
            f"the sandbox answered {len(throttled)} calls with 429 (a usage plan was exceeded): "
            + "; ".join(describe_throttled(records, r) for r in throttled[:3])
        )
    failed_calls = [r for r in records if r["status"] is None or r["status"] >= 400]
    if failed_calls and len(failed_calls) != len(throttled):
        problems.append(f"{len(failed_calls)} calls failed: {[(r['path'], r['status']) for r in failed_calls[:3]]}")
    feeds = sandbox.call("GET", "/_sandbox/feeds")["feeds"]
    patches = [r for r in records if operation(r) == "patchListingsItem" and r["status"] == 200]
    by_feed = not single and len(queued) >= FEED_THRESHOLD
    expected_feeds = -(-len(queued) // FEED_MAX_MESSAGES) if by_feed else 0
    if len(feeds) != expected_feeds or len(patches) != (0 if by_feed else len(queued)):
        problems.append(f"{len(feeds)} feeds and {len(patches)} patches for {len(queued)} publications")
    report_errors = sum(((f["_sandbox"].get("report") or {}).get("summary") or {}).get("errors", 0) for f in feeds)
    if report_errors:
        problems.append(f"the feeds' processing reports hold {report_errors} errors")
    violations = sandbox.call("GET", "/_sandbox/spec-violations")["violations"]
    if violations:
        problems.append(f"{len(violations)} requests broke the SP-API models: {violations[0]['errors'][:2]}")
    summaries = [((f["_sandbox"].get("report") or {}).get("summary") or {}) for f in feeds]
    rows = [
        ("outbox", ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))),
        ("sandbox MFN", f"{len(delivered) - len(wrong)} of {len(delivered)} SKUs hold the quantity we published"),
        (
            "feeds",
            "; ".join(
                f"{f['feedId']} {f['processingStatus']}, {s.get('messagesAccepted', 0)} of "
                f"{s.get('messagesProcessed', 0)} messages accepted, {s.get('errors', 0)} errors"
                for f, s in zip(feeds, summaries, strict=True)
            )
            or "none (single patches)",
        ),
        ("429 answers", f"{len(throttled)}"),
        ("spec", f"{len(violations)} spec violations"),
        ("verdict", "correct" if not problems else f"WRONG ({len(problems)} checks failed)"),
    ]
    return rows, problems


def describe_throttled(records: list[dict], record: dict) -> str:
    """Which call of its operation a 429 answered, and how soon after that operation's first call."""
    from datetime import datetime

    name = operation(record)
    same = [r for r in records if operation(r) == name]
    first = datetime.fromisoformat(same[0]["at"])
    return (
        f"{name} #{same.index(record) + 1} of {len(same)}, "
        f"{(datetime.fromisoformat(record['at']) - first).total_seconds():.3f} s after the first"
    )


def judge(ok: bool, problems: list, judged: bool = True) -> str:
    """PASS/MISS for the budget's scenario, unless the publication was wrong; the comparison is not judged."""
    if problems:
        return "not judged (the publication failed its checks)"
    return h.verdict(ok) if judged else "(comparison, not judged)"


# --- one scenario ------------------------------------------------------------------------------------


def run_scenario(args, *, listings: int, single: bool, title: str, cache_prefix: str, django_ready: bool) -> dict:
    h.say(f"{title}: fresh database {args.db_name}, migrate")
    if django_ready:
        from django.core.management import call_command

        h.close_django_connections()
        h.create_database(args.db_name)
        call_command("migrate", interactive=False, verbosity=0)
    else:
        h.create_database(args.db_name)
        h.prepare_django(args.db_name, args.redis_url, cache_prefix)
    h.say(f"{title}: flushed {flush_redis(args.redis_url)} keys from {args.redis_url}")

    began = time.perf_counter()
    organization, warehouse, fba, channel, variants = seed_catalog(listings)
    h.say(f"{title}: {listings} variants listed on {CHANNEL_CODE} in {time.perf_counter() - began:.1f} s")
    h.close_django_connections()

    began = time.perf_counter()
    sandbox = SandboxProcess(channel_code=CHANNEL_CODE, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    try:
        state = sandbox.start()
        feed_config = {"feed_advance": args.feed_advance}
        if args.feed_advance == "poll":
            feed_config["feed_polls_per_step"] = args.feed_polls_per_step
        else:
            feed_config["feed_step_seconds"] = args.feed_step_seconds
        config = sandbox.call("POST", "/_sandbox/config", feed_config)
        rate_limits = sandbox.call("GET", "/_sandbox/rate-limits")["rate_limits"]
        h.say(
            f"{title}: sandbox up at {sandbox.url} in {time.perf_counter() - began:.1f} s with "
            f"{state['counts']['listings']} MFN listings; enforce_rate_limits={config['enforce_rate_limits']}"
        )
        from connectors import amazon
        from connectors.sandbox.amazon import USAGE_PLANS

        if (amazon.FEED_THRESHOLD, amazon.FEED_MAX_MESSAGES) != (FEED_THRESHOLD, FEED_MAX_MESSAGES):
            raise RuntimeError("connectors.amazon's FEED_THRESHOLD or FEED_MAX_MESSAGES changed: update this script")

        documented = {op: {"rate": rate, "burst": burst} for op, (rate, burst) in USAGE_PLANS.items()}
        if state["counts"]["listings"] != listings or not config["enforce_rate_limits"] or rate_limits != documented:
            raise RuntimeError(
                f"the sandbox holds {state['counts']['listings']} listings, or its usage plans are off or not the "
                f"documented ones: {rate_limits}"
            )

        account = create_account(
            state, organization=organization, channel=channel, fba=fba, feed_poll_seconds=args.feed_poll_seconds
        )
        kicks, stock_seconds = receive_stock(warehouse, variants)
        queued, problems = queued_publications(account, channel, listings)
        h.say(
            f"{title}: stock for {listings} variants in one apply_stock_changes ({stock_seconds:.1f} s): "
            f"{len(queued)} publications queued, relay kicked {kicks} time(s) (swapped for a counter)"
        )
        if problems:
            raise RuntimeError(f"the publications were not queued as expected: {problems}")
        h.close_django_connections()

        h.say(f"{title}: worker process runs connectors.outbox.deliver_due()" + (" (single patches)" * single))
        result, life, meter, hwm = run_worker(
            single_patches=single,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            db_name=args.db_name,
            sandbox=sandbox,
            max_seconds=args.max_seconds,
        )
        records = sandbox.call("GET", "/_sandbox/requests")["requests"]
        check_rows, problems = verify(account=account, queued=queued, sandbox=sandbox, records=records, single=single)
    finally:
        sandbox.stop()
        h.close_django_connections()

    by_feed = not single and listings >= FEED_THRESHOLD
    wall = result["deliver_seconds"]
    bound = listings / PATCH_RATE
    burst_bound = max(0, listings - PATCH_BURST) / PATCH_RATE
    ours = max(0, listings - PATCH_BURST) / (PATCH_RATE * 0.95)
    ratio = wall / bound
    operations = count_operations(records)
    api_calls = sum(count for name, count in operations.items() if name != "LWA token")
    parts = result["parts"]
    call_list = result["calls"]
    polls = [r for r in records if operation(r) == "getFeed"]
    processing_ms = max((r["duration_ms"] for r in polls), default=0.0)
    # push_batch = building the feed + createFeedDocument + upload + createFeed + _await_report (getFeed
    # polls and the sleeps between them, getFeedDocument, the report download)
    posts = sum(c["seconds"] + c["waited"] for c in call_list if c["method"] == "POST")
    gets = sum(c["seconds"] + c["waited"] for c in call_list if c["method"] == "GET")
    build = parts["push_batch"] - parts["await_report"] - parts["upload"] - posts
    sleeps = parts["await_report"] - gets - parts["download"]
    rss_mb = max(result["hwm_kb"], hwm) / 1024
    if not by_feed:
        where = (
            f"claim {parts['claim']:.2f} s, {len(call_list)} patches {parts['calls']:.1f} s, "
            f"limiter waits {parts['limiter_wait']:.1f} s (patchListingsItem: 5 at once, then 4.75/s), "
            f"marking delivered {parts['mark']:.2f} s, the rest {wall - parts['claim'] - parts['single']:.2f} s"
        )
    else:
        where = (
            f"claim {parts['claim']:.2f} s, building the feed {build:.2f} s, feed API calls {parts['calls']:.2f} s "
            f"(the sandbox's processing inside one of them: {processing_ms / 1000:.2f} s), "
            f"upload {parts['upload']:.2f} s, waiting for processing {sleeps:.2f} s "
            f"(sleeps between getFeed polls), report download {parts['download']:.2f} s, limiter waits "
            f"{parts['limiter_wait']:.2f} s, marking {listings} delivered {parts['mark']:.2f} s, the rest "
            f"{wall - parts['claim'] - parts['push_batch'] - parts['mark']:.2f} s"
        )
    feed_mode = (
        f"poll: IN_QUEUE for {args.feed_polls_per_step} getFeed poll(s), IN_PROGRESS for as many, then DONE"
        if args.feed_advance == "poll"
        else f"clock: IN_QUEUE {args.feed_step_seconds:g} s, IN_PROGRESS {args.feed_step_seconds:g} s, then DONE"
    )
    figures = [
        (
            "publish (wall)",
            f"{wall:.2f} s in deliver_due() for {result['delivered']} publications; the worker process lived "
            f"{life:.1f} s ({result['setup_seconds']:.1f} s of Python + Django start-up)",
        ),
        (
            "calls",
            f"{api_calls} to the API + {operations.get('LWA token', 0)} LWA token: "
            + ", ".join(f"{name} {count}" for name, count in operations.items()),
        ),
        (
            "sandbox feeds",
            f"{feed_mode}; the account polls every {args.feed_poll_seconds:g} s"
            + (
                f"; processing inside the getFeed that answered DONE: {processing_ms / 1000:.2f} s"
                if polls
                else " (no feed)"
            ),
        ),
        (
            "single-patch bound",
            f"{bound:.0f} s = {listings} / {PATCH_RATE:g} per s (patchListingsItem's documented rate); with its "
            f"burst of {PATCH_BURST}: {burst_bound:.0f} s; at our limiter's 95%: {ours:.0f} s",
        ),
        (
            "wall / bound",
            f"{ratio * 100:.2f}%  target < {TARGET_FRACTION * 100:g}%: "
            f"{judge(ratio < TARGET_FRACTION, problems, judged=title == 'budget')}",
        ),
        ("worker's time", where),
        ("SQL", f"{result['queries']} statements in deliver_due()"),
        (
            "peak RSS",
            f"{rss_mb:.0f} MB (the worker's VmHWM; polled {hwm / 1024:.0f} MB; "
            f"{result['rss_after_setup_kb'] / 1024:.0f} MB after start-up)",
        ),
        ("worker CPU", f"{result['cpu_seconds']:.1f} s in its {life:.1f} s life (start-up included)"),
        ("CPU", meter.line()),
    ]
    how = "feed" if by_feed else "single patches"
    h.print_block(f"{title}: {listings} quantities to the Amazon sandbox ({how})", figures)
    h.print_block(f"{title}: correctness", check_rows)
    return {
        "title": title,
        "listings": listings,
        "how": how,
        "wall": wall,
        "bound": bound,
        "ratio": ratio,
        "calls": api_calls,
        "rss_mb": rss_mb,
        "problems": problems,
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker_main(args.single_patches)
    if args.serve_sandbox:
        return h.serve_sandbox(args.serve_sandbox)
    cache_prefix = f"stockpool_bench_{h.run_tag()}"
    h.say(h.background_load())
    started = time.perf_counter()
    scenarios = [(args.listings, False, "budget")]
    if args.compare_listings:
        scenarios += [
            (args.compare_listings, False, "compare, feed"),
            (args.compare_listings, True, "compare, patches"),
        ]
    summaries, broken = [], []
    try:
        for index, (listings, single, title) in enumerate(scenarios):
            summary = run_scenario(
                args, listings=listings, single=single, title=title, cache_prefix=cache_prefix, django_ready=index > 0
            )
            summaries.append(summary)
            broken += [f"{title}: {problem}" for problem in summary["problems"]]
    finally:
        h.close_django_connections()
        try:
            flush_redis(args.redis_url)
        except Exception as exc:  # a Redis hiccup at the end must not hide the figures
            h.say(f"could not flush {args.redis_url}: {exc}")
        if args.keep:
            h.say(f"kept database {args.db_name} ({h.database_url(args.db_name)}), the last scenario's")
        else:
            h.drop_database(args.db_name)
    rows = [
        (
            f"{s['title']} ({s['listings']}, {s['how']})",
            f"{s['wall']:.2f} s, {s['calls']} API calls; single-patch bound {s['bound']:.0f} s: "
            f"{s['ratio'] * 100:.2f}%, target < {TARGET_FRACTION * 100:g}%: "
            f"{judge(s['ratio'] < TARGET_FRACTION, s['problems'], judged=s['title'] == 'budget')}; "
            f"peak RSS {s['rss_mb']:.0f} MB; "
            f"{'correct' if not s['problems'] else 'WRONG'}",
        )
        for s in summaries
    ]
    pair = [s for s in summaries if s["title"].startswith("compare")]
    if len(pair) == 2:
        feed, patches = pair
        rows.append(
            (
                f"feed vs patches ({feed['listings']})",
                f"{feed['wall']:.2f} s by feed against {patches['wall']:.2f} s by single patches "
                f"({patches['wall'] / feed['wall']:.1f}x); at 4.75 patches/s the patches would take "
                f"{max(0, summaries[0]['listings'] - PATCH_BURST) / (PATCH_RATE * 0.95):.0f} s for "
                f"{summaries[0]['listings']}",
            )
        )
    rows.append(("", f"total run time {time.perf_counter() - started:.0f} s"))
    h.print_block("Amazon bulk publish: summary", rows)
    for problem in broken:
        print(f"BROKEN INVARIANT: {problem}", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
