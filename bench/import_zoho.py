"""Full import from the Zoho sandbox with its documented rate limit on: wall time against the bound, worker RSS.

    .venv/bin/python -m bench.import_zoho [--skus 10000] [--rate-per-minute 100] [--limit-skus 30000] [--keep]

Each scenario (the budget's 10,000 SKUs, then --limit-skus SKUs, enough calls to outrun the
sandbox's one-minute burst so the rate limit itself is the bottleneck):

1. a fresh database (stockpool_bench_import), migrated;
2. the Zoho sandbox as its own process (the ``run_sandbox zoho`` command) seeded with N items at
   one location ("Head Office"), its token bucket at --rate-per-minute (burst: one minute's worth);
3. an organization, the mirrored warehouse and a ConnectorAccount (zoho_inventory) pointing at
   the sandbox, with no ``rate_limit_per_minute`` override: our client runs at the documented
   100 calls a minute less its 5% safety margin;
4. ``start_sync(account, "full")`` queues the job (its Celery enqueue is replaced by ours) and a
   separate worker process runs ``run_sync_job(job_id)``: wall time, peak RSS (its VmHWM),
   CPU, and where the job's time went;
5. the calls the import made (the sandbox's request log) against the sandbox's token bucket:
   the rate limit's bound (calls beyond the burst / refill rate), the same without burst credit,
   and the bound the calls themselves set (their measured durations, one after another, each
   no earlier than the bucket allows);
6. correctness: N variants, every level's on_hand as the sandbox says (a sample of 200 asked
   through the sandbox's control API, and all N against its seed data), no 429, no ledger
   mismatch, the job succeeded with N processed.

Targets (DESIGN.md "Performance budget"): full import within 1.2x of the lower bound; worker
<= 250 MB RSS during the 10,000-SKU import. Exit status 1 only when a correctness check failed.
"""

import argparse
import contextlib
import json
import os
import random
import resource
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from bench import _harness as h

TARGET_RATIO = 1.2
TARGET_RSS_MB = 250
LOCATION = "Head Office"
SAMPLE = 200
RESULT_MARK = "BENCH-IMPORT-RESULT "


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.import_zoho", description=__doc__.split("\n")[0])
    parser.add_argument("--skus", type=int, default=10_000, help="items seeded in the sandbox (the budget's scenario)")
    parser.add_argument(
        "--rate-per-minute",
        type=float,
        default=100,
        help="the sandbox's rate limit (Zoho documents 100/min; our client is not told otherwise)",
    )
    parser.add_argument(
        "--limit-skus",
        type=int,
        default=30_000,
        help="second scenario: enough SKUs that the calls outrun the burst (0 skips it)",
    )
    parser.add_argument("--max-seconds", type=float, default=1800, help="give up on an import after this long")
    parser.add_argument("--db-name", default="stockpool_bench_import", help=f"bench database ({h.DB_PREFIX}...)")
    parser.add_argument("--redis-url", default=h.DEFAULT_REDIS_URL, help="Redis for the app's cache and limiter")
    parser.add_argument("--keep", action="store_true", help="keep the bench database (of the last scenario run)")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)  # the measured worker process
    parser.add_argument("--serve-sandbox", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)  # run_sandbox's args
    args = parser.parse_args(argv)
    if args.worker is not None or args.serve_sandbox:
        return args
    if not 1 <= args.skus <= 100_000 or not (args.limit_skus == 0 or 1 <= args.limit_skus <= 100_000):
        parser.error("--skus and --limit-skus must be 1..100000 (--limit-skus 0 skips the second scenario)")
    if not 1 <= args.rate_per_minute <= 6000:
        parser.error("--rate-per-minute must be 1..6000")
    if not 30 <= args.max_seconds <= 7200:
        parser.error("--max-seconds must be 30..7200")
    try:
        h.check_db_name(args.db_name)
    except ValueError as exc:
        parser.error(str(exc))
    return args


# --- the measured worker (a separate process: python -m bench.import_zoho --worker JOB_ID) -------


def worker_main(job_id: int) -> int:
    """Run one sync job as a worker would, timing its parts from outside the app's code.

    The wrappers (around the limiter, the client's request, the catalog upsert, the snapshot
    and the page bookkeeping) only read the clock; the app's own code is not changed.
    """
    began = time.perf_counter()
    import django

    django.setup()
    from connectors import http as partner_http
    from connectors import zoho
    from connectors.sync import run_sync_job

    setup_seconds = time.perf_counter() - began
    rss_after_setup = h.status_kb()
    parts = dict.fromkeys(("limiter_wait", "calls", "upsert", "snapshots", "record_page"), 0.0)
    calls: list[dict] = []
    pages: list[dict] = []
    job_began = [0.0]

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
                {
                    "path": path,
                    "at": started - job_began[0],
                    "seconds": elapsed - wait,
                    "waited": wait,
                }
            )

    record_page = zoho.record_page

    def timed_record_page(job, outcome, *, checkpoint, processed, total=None):
        started = time.perf_counter()
        try:
            return record_page(job, outcome, checkpoint=checkpoint, processed=processed, total=total)
        finally:
            now = time.perf_counter()
            parts["record_page"] += now - started
            pages.append({"at": now - job_began[0], "items": processed, "rss_kb": h.status_kb()})

    partner_http.RateLimiter.acquire = timed_acquire
    partner_http.PartnerClient.request = timed_request
    zoho.upsert_items = timed("upsert", zoho.upsert_items)
    zoho.apply_snapshots = timed("snapshots", zoho.apply_snapshots)
    zoho.record_page = timed_record_page

    job_began[0] = time.perf_counter()
    job = run_sync_job(job_id)
    job_seconds = time.perf_counter() - job_began[0]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "status": job.status,
        "setup_seconds": setup_seconds,
        "job_seconds": job_seconds,
        "rss_after_setup_kb": rss_after_setup,
        # VmHWM, not ru_maxrss: Linux carries the pre-exec image's peak (the forking parent's RSS) into
        # ru_maxrss, while VmHWM belongs to this process's own address space
        "hwm_kb": h.status_kb("VmHWM"),
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "parts": parts,
        "calls": calls,
        "pages": pages,
    }
    print(RESULT_MARK + json.dumps(result), flush=True)
    return 0


# --- the sandbox process ---------------------------------------------------------------------------


class SandboxProcess(h.LoggedProcess):
    """The ``run_sandbox zoho`` management command on a free loopback port, seeded, its rate limit on.

    It runs as ``python -m bench.import_zoho --serve-sandbox zoho ...`` (the same command through
    ``call_command``) rather than ``manage.py run_sandbox``: while this was measured, sandboxes
    started as ``manage.py run_sandbox`` were twice stopped from outside mid-import (SIGTERM, by
    another session on this shared machine cleaning up its own sandboxes by name).
    """

    def __init__(self, *, items: int, rate_per_minute: float, env: dict):
        self.items, self.rate_per_minute, self.env = items, rate_per_minute, env
        super().__init__("sandbox.log", prefix="stockpool-bench-sandbox-")
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
            "bench.import_zoho",
            "--serve-sandbox",
            "zoho",
            "--port",
            str(self.port),
            "--seed-items",
            str(self.items),
            "--seed",
            "0",
            "--locations",
            LOCATION,
            "--rate-per-minute",
            repr(float(self.rate_per_minute)),
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
                return self.get("/_sandbox/")
            time.sleep(0.2)
        raise RuntimeError(f"the sandbox did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def get(self, path: str, params: dict | None = None) -> dict:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=30) as response:  # noqa: S310 (loopback)
                return json.loads(response.read())
        except urllib.error.URLError as exc:
            if self.process is not None and self.process.poll() is not None:
                stopped = " (it was stopped: a SIGTERM from outside?)" if "sandbox stopped" in self.log_tail() else ""
                raise RuntimeError(
                    f"the sandbox exited with {self.process.returncode}{stopped} (GET {path}):\n{self.log_tail()}"
                ) from exc
            raise


# --- Redis: the keys this import uses ----------------------------------------------------------------


def clear_import_keys(redis_url: str, cache_prefix: str) -> int:
    """Forget what an earlier run left in the bench Redis database that this import would use: the
    rate-limit bucket of the sandbox's organization, the circuit breakers of accounts, and this run's
    cache keys (the access token). Other sessions' keys in that database are left alone."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = []
        for pattern in ("stockpool:ratelimit:zoho:*", "stockpool:circuit:account:*", f"{cache_prefix}:*"):
            keys += list(client.scan_iter(match=pattern, count=1000))
        return client.delete(*keys) if keys else 0
    finally:
        client.close()


# --- the world: organization, mirrored warehouse, account, job ---------------------------------------


def create_account(state: dict, location_id: str):
    from connectors.models import ConnectorAccount, Kind
    from inventory.models import Organization, Warehouse

    organization = Organization.objects.create(
        name="BMB Wholesale (bench)", slug="bmb-wholesale-bench", kind=Organization.Kind.SUPPLIER
    )
    warehouse = Warehouse.objects.create(
        organization=organization,
        code="bmb-zoho-head-office",
        name="BMB Head Office (Zoho)",
        system_of_record=Warehouse.SystemOfRecord.ZOHO_INVENTORY,
        external_location_id=location_id,
    )
    account = ConnectorAccount(
        kind=Kind.ZOHO_INVENTORY,
        name="BMB Zoho (bench)",
        organization=organization,
        warehouse=warehouse,
        api_base_url=state["api_url"],
        auth_base_url=state["accounts_url"],
        # no rate_limit_per_minute: the client uses Zoho's documented quota with its safety margin
        settings={
            "organization_id": state["organization_id"],
            "location_id": location_id,
            "customer_id": state["customer_id"],
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


def queue_full_sync(account) -> int:
    """``start_sync`` as the admin's button calls it, with the Celery enqueue swapped for nothing:
    the job is run by the worker process this script starts."""
    from connectors import sync
    from connectors.models import SyncJob

    enqueued: list[int] = []
    original = sync._enqueue
    sync._enqueue = enqueued.append
    try:
        job, created = sync.start_sync(account, SyncJob.Kind.FULL)
    finally:
        sync._enqueue = original
    if not created or enqueued != [job.pk]:
        raise RuntimeError(f"start_sync did not queue a new job (created={created}, enqueued={enqueued})")
    return job.pk


# --- running the worker ------------------------------------------------------------------------------


def run_worker(job_id: int, *, env: dict, db_name: str, sandbox: SandboxProcess, max_seconds: float):
    """The worker process: returns (its result dict, wall seconds, CPU meter, polled VmHWM KB)."""
    command = [str(h.VENV_BIN / "python"), "-m", "bench.import_zoho", "--worker", str(job_id)]
    return h.run_measured_worker(
        command,
        role="import worker",
        result_mark=RESULT_MARK,
        env=env,
        db_name=db_name,
        sandbox=sandbox,
        max_seconds=max_seconds,
    )


# --- bounds -------------------------------------------------------------------------------------------


def paced_bound(durations: list[float], burst: float, per_second: float) -> float:
    """When the last call could end if nothing but the calls took time: one after another (paging is
    sequential), each taking its measured time, the i-th starting no earlier than the bucket holds
    its token (full at the first call: ``burst`` at once, then ``per_second``)."""
    clock = 0.0
    for index, seconds in enumerate(durations, start=1):
        clock = max(clock, max(0.0, index - burst) / per_second) + seconds
    return clock


def judge(ok: bool, problems: list) -> str:
    """PASS/MISS, unless the import was wrong: a figure of a failed import is not judged."""
    return h.verdict(ok) if not problems else "not judged (the import failed its checks)"


# --- correctness -------------------------------------------------------------------------------------


def verify(*, account, job_id: int, skus: int, sandbox: SandboxProcess, records: list[dict]) -> tuple[list, list]:
    """Rows to print and problems found."""
    from django.contrib.contenttypes.models import ContentType

    from connectors.models import ExternalRef, SyncConflict, SyncJob
    from connectors.sandbox.base import generate_items
    from inventory.models import StockLevel, StockMovement, Variant
    from inventory.selectors import ledger_mismatches

    problems = []
    job = SyncJob.objects.get(pk=job_id)
    if (job.status, job.processed, job.created_count, job.failed_count) != (SyncJob.Status.SUCCEEDED, skus, skus, 0):
        problems.append(
            f"job {job.pk}: {job.status}, processed {job.processed}, created {job.created_count}, "
            f"failed {job.failed_count}; errors {job.errors[-3:]}"
        )
    variants = Variant.objects.count()
    variant_type = ContentType.objects.get_for_model(Variant)
    refs = ExternalRef.objects.filter(account=account, content_type=variant_type).count()
    other_refs = ExternalRef.objects.filter(account=account).exclude(content_type=variant_type).count()
    on_hand = dict(StockLevel.objects.filter(warehouse=account.warehouse).values_list("variant__sku", "on_hand"))
    if variants != skus or refs != skus or len(on_hand) != skus:
        problems.append(f"{variants} variants, {refs} variant refs, {len(on_hand)} levels; expected {skus} each")

    sample = random.Random(0).sample(sorted(on_hand), min(SAMPLE, len(on_hand)))
    sample_wrong = []
    for sku in sample:
        theirs = sandbox.get("/_sandbox/stock", {"sku": sku, "location": LOCATION})["on_hand"]
        if on_hand[sku] != theirs:
            sample_wrong.append(f"{sku}: ours {on_hand[sku]}, sandbox {theirs}")
    if sample_wrong:
        problems.append(f"{len(sample_wrong)} of {len(sample)} sampled levels differ: {sample_wrong[:5]}")
    seeded = {item.sku: item.stock[LOCATION] for item in generate_items(skus, [LOCATION], seed=0)}
    all_wrong = [sku for sku, units in seeded.items() if on_hand.get(sku) != units]
    if all_wrong:
        problems.append(f"{len(all_wrong)} of {skus} levels differ from the sandbox's seed data: {all_wrong[:5]}")

    throttled = [r for r in records if r["status"] == 429 or r.get("fault") in ("rate_limited", "concurrency")]
    if throttled:
        problems.append(f"the sandbox answered {len(throttled)} calls with 429 (its rate limit was exceeded)")
    mismatches = ledger_mismatches().count()
    if mismatches:
        problems.append(f"{mismatches} levels whose on_hand differs from the sum of their movements")
    violations = sandbox.get("/_sandbox/spec-violations")["violations"]
    if violations:
        problems.append(f"{len(violations)} requests broke the Zoho spec")

    movements = StockMovement.objects.filter(warehouse=account.warehouse).count()
    conflicts = SyncConflict.objects.filter(account=account).count()
    rows = [
        ("job", f"{job.status}: processed {job.processed}, created {job.created_count}, failed {job.failed_count}"),
        (
            "catalog",
            f"{variants} variants, {refs} variant refs, {len(on_hand)} stock levels (expected {skus}); "
            f"{other_refs} other refs (categories)",
        ),
        ("stock, sampled", f"{len(sample) - len(sample_wrong)} of {len(sample)} levels equal the sandbox's stock"),
        ("stock, all", f"{skus - len(all_wrong)} of {skus} levels equal the sandbox's seed data"),
        ("ledger", f"{movements} movements (sync corrections), {mismatches} ledger mismatches, {conflicts} conflicts"),
        ("429 answers", f"{len(throttled)}"),
        ("spec", f"{len(violations)} spec violations"),
        ("verdict", "correct" if not problems else f"WRONG ({len(problems)} checks failed)"),
    ]
    return rows, problems


# --- one scenario ------------------------------------------------------------------------------------


def run_scenario(args, *, skus: int, title: str, cache_prefix: str, django_ready: bool) -> tuple[dict, list[str]]:
    h.say(f"{title}: fresh database {args.db_name}, migrate")
    if django_ready:
        from django.core.management import call_command

        h.close_django_connections()
        h.create_database(args.db_name)
        call_command("migrate", interactive=False, verbosity=0)
    else:
        h.create_database(args.db_name)
        h.prepare_django(args.db_name, args.redis_url, cache_prefix)
    h.close_django_connections()
    from connectors.clients import ZOHO_CALLS_PER_MINUTE
    from connectors.http import RateLimit

    removed = clear_import_keys(args.redis_url, cache_prefix)
    h.say(f"{title}: cleared {removed} Redis keys of earlier runs (rate-limit bucket, circuit, token)")

    h.say(f"{title}: sandbox with {skus} items at {LOCATION!r}, {args.rate_per_minute:g} calls/min")
    seed_began = time.perf_counter()
    sandbox = SandboxProcess(items=skus, rate_per_minute=args.rate_per_minute, env=dict(os.environ))
    try:
        state = sandbox.start()
        h.say(f"{title}: sandbox up at {sandbox.url} in {time.perf_counter() - seed_began:.1f} s")
        if state["counts"]["items"] != skus:
            raise RuntimeError(f"the sandbox holds {state['counts']['items']} items, not {skus}")
        (location,) = [loc["location_id"] for loc in state["locations"] if loc["location_name"] == LOCATION]
        config = sandbox.get("/_sandbox/config")
        account = create_account(state, location)
        job_id = queue_full_sync(account)
        h.close_django_connections()

        worker_env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        h.say(f"{title}: worker process runs run_sync_job({job_id})")
        result, wall, meter, hwm = run_worker(
            job_id, env=worker_env, db_name=args.db_name, sandbox=sandbox, max_seconds=args.max_seconds
        )
        records = sandbox.get("/_sandbox/requests")["requests"]
        h.say(f"{title}: verifying")
        check_rows, problems = verify(account=account, job_id=job_id, skus=skus, sandbox=sandbox, records=records)
    finally:
        sandbox.stop()
        h.close_django_connections()

    # the calls, against the sandbox's token bucket (capacity = rate_per_minute: one minute's burst)
    limited = [r for r in records if r["path"].startswith("/inventory/")]
    tokens = [r for r in records if r["path"].startswith("/oauth/")]
    statuses = {}
    for record in records:
        statuses[record["status"]] = statuses.get(record["status"], 0) + 1
    per_minute = float(config["rate_per_minute"])
    # connectors/sandbox/base.py TokenBucket: the capacity defaults to the rate, i.e. one minute's worth
    burst, per_second = per_minute, per_minute / 60
    n = len(limited)
    rate_bound = max(0.0, n - burst) / per_second
    no_burst = n / per_second
    ours = RateLimit.per_minute(ZOHO_CALLS_PER_MINUTE)
    our_bound = max(0.0, n - ours.capacity) / ours.per_second
    call_seconds = [c["seconds"] for c in result["calls"]]
    calls_alone = sum(call_seconds)
    bound = paced_bound(call_seconds, burst, per_second)
    job_wall = result["job_seconds"]
    ratio = job_wall / bound if bound else float("inf")
    server_ms = sorted(r["duration_ms"] for r in limited)
    parts = result["parts"]
    accounted = sum(parts.values())
    pages = result["pages"]
    rss_mb = max(result["hwm_kb"], hwm) / 1024
    first_page_rss = pages[0]["rss_kb"] / 1024 if pages else 0.0

    by_path: dict[str, int] = {}
    for record in limited:
        path = record["path"].removeprefix("/inventory/v1")
        by_path[path] = by_path.get(path, 0) + 1
    paths_text = ", ".join(f"{count} {path}" for path, count in sorted(by_path.items(), key=lambda kv: -kv[1]))
    status_text = ", ".join(f"{code}: {count}" for code, count in sorted(statuses.items(), key=lambda kv: str(kv[0])))
    versus_rate = (
        f"  (wall / rate-limit bound alone: {job_wall / rate_bound:.2f}x)"
        if rate_bound
        else "  (the rate-limit bound alone is 0 s: the calls fit in one burst)"
    )
    own_work = (job_wall - parts["limiter_wait"] - parts["calls"]) / max(1, len(pages))
    last_rss = pages[-1]["rss_kb"] / 1024 if pages else 0.0
    figures = [
        (
            "import (job)",
            f"{job_wall:.1f} s in run_sync_job ({skus / job_wall:.0f} SKUs/s); the worker process lived "
            f"{wall:.1f} s ({result['setup_seconds']:.1f} s of Python + Django start-up)",
        ),
        (
            "calls",
            f"{n} to the API ({paths_text}; item pages hold 200), {len(tokens)} token mint(s), "
            f"{len(records)} in all; statuses {status_text}",
        ),
        (
            "sandbox bucket",
            f"{per_minute:g} calls/min = {per_second:.3f}/s, burst {burst:g} (one minute's worth); "
            "the token endpoint is not limited",
        ),
        ("rate-limit bound", f"{rate_bound:.1f} s = max(0, {n} - {burst:g}) / {per_second:.3f} per s"),
        ("  without burst", f"{no_burst:.1f} s = {n} / {per_second:.3f} per s (context: an empty bucket at the start)"),
        (
            "  our limiter",
            f"{our_bound:.1f} s = max(0, {n} - {ours.capacity:g}) / {ours.per_second:.3f} per s "
            f"(documented {ZOHO_CALLS_PER_MINUTE}/min less the 5% margin)",
        ),
        (
            "calls alone",
            f"{calls_alone:.1f} s: the {len(call_seconds)} calls' own time in the worker (HTTP + JSON, not the "
            f"limiter's waits); in the sandbox p50 {h.percentile(server_ms, 0.5):.0f} ms, "
            f"max {server_ms[-1] if server_ms else 0:.0f} ms a call",
        ),
        ("lower bound", f"{bound:.1f} s: those calls one after another, none before the sandbox's bucket allows it"),
        (
            "wall / bound",
            f"{ratio:.2f}x  target <= {TARGET_RATIO}x: {judge(ratio <= TARGET_RATIO, problems)}{versus_rate}",
        ),
        (
            "job's time",
            f"limiter waits {parts['limiter_wait']:.1f} s, calls {parts['calls']:.1f} s, catalog upsert "
            f"{parts['upsert']:.1f} s, stock snapshots {parts['snapshots']:.1f} s, job progress "
            f"{parts['record_page']:.1f} s, the rest (commits, parsing, start/finish) {job_wall - accounted:.1f} s",
        ),
        (
            "per page",
            f"{own_work * 1000:.0f} ms of our own work per page (neither calls nor waits), against "
            f"{1000 / per_second:.0f} ms between tokens once the burst is spent",
        ),
        (
            "peak RSS",
            f"{rss_mb:.0f} MB (the worker's VmHWM; polled {hwm / 1024:.0f} MB)  target <= {TARGET_RSS_MB} MB: "
            f"{judge(rss_mb <= TARGET_RSS_MB, problems)}",
        ),
        (
            "  RSS over time",
            f"{result['rss_after_setup_kb'] / 1024:.0f} MB after start-up, {first_page_rss:.0f} MB after page 1, "
            f"{last_rss:.0f} MB after page {len(pages)}",
        ),
        ("worker CPU", f"{result['cpu_seconds']:.1f} s in its {wall:.1f} s life (start-up included)"),
        ("CPU", meter.line()),
    ]
    h.print_block(f"{title}: {skus} SKUs from the Zoho sandbox at {per_minute:g} calls/min", figures)
    h.print_block(f"{title}: correctness", check_rows)
    summary = {
        "title": title,
        "skus": skus,
        "wall": job_wall,
        "bound": bound,
        "rate_bound": rate_bound,
        "ratio": ratio,
        "rss_mb": rss_mb,
        "calls": n,
        "problems": problems,
    }
    return summary, problems


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker is not None:
        return worker_main(args.worker)
    if args.serve_sandbox:
        return h.serve_sandbox(args.serve_sandbox)
    tag = h.run_tag()
    cache_prefix = f"stockpool_bench_{tag}"
    h.say(h.background_load())
    if args.rate_per_minute < 100:
        h.say(
            f"note: the sandbox allows {args.rate_per_minute:g}/min but the account keeps Zoho's documented "
            "100/min (no override): expect 429s"
        )
    started = time.perf_counter()
    scenarios = [(args.skus, "budget")]
    if args.limit_skus:
        scenarios.append((args.limit_skus, "rate-limited"))
    summaries, broken = [], []
    try:
        for index, (skus, title) in enumerate(scenarios):
            summary, problems = run_scenario(
                args, skus=skus, title=title, cache_prefix=cache_prefix, django_ready=index > 0
            )
            summaries.append(summary)
            broken += [f"{title}: {problem}" for problem in problems]
    finally:
        h.close_django_connections()
        try:
            clear_import_keys(args.redis_url, cache_prefix)
        except Exception as exc:  # a Redis hiccup at the end must not hide the figures
            h.say(f"could not clean the bench Redis keys: {exc}")
        if args.keep:
            h.say(f"kept database {args.db_name} ({h.database_url(args.db_name)}), the last scenario's")
        else:
            h.drop_database(args.db_name)
    rows = []
    for s in summaries:
        rows.append(
            (
                f"{s['title']} ({s['skus']} SKUs)",
                f"{s['wall']:.1f} s for {s['calls']} calls; bound {s['bound']:.1f} s (rate limit alone "
                f"{s['rate_bound']:.1f} s): {s['ratio']:.2f}x, target <= {TARGET_RATIO}x: "
                f"{judge(s['ratio'] <= TARGET_RATIO, s['problems'])}; peak RSS {s['rss_mb']:.0f} MB, "
                f"target <= {TARGET_RSS_MB} MB: {judge(s['rss_mb'] <= TARGET_RSS_MB, s['problems'])}; "
                f"{'correct' if not s['problems'] else 'WRONG'}",
            )
        )
    rows.append(("", f"total run time {time.perf_counter() - started:.0f} s"))
    h.print_block("Zoho full import: summary", rows)
    for problem in broken:
        print(f"BROKEN INVARIANT: {problem}", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
