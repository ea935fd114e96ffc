"""Webhook intake and propagation: signed events at full speed, and a Cin7 stock change to Amazon and Medusa.

    .venv/bin/python -m bench.webhooks [--clients 16] [--duration 8] [--changes 200] [--keep]

One world, one gunicorn server (run as the other benchmarks run it), the Celery worker and beat
started with config/Procfile's own commands, and the Cin7, Amazon and Medusa sandboxes as
processes of their own:

1. intake, no worker: K clients POST signed events (``Stockpool-Signature``, a distinct event id
   each) to ``/webhooks/<Medusa account>/`` back to back for T seconds: latency to the 202 and
   events/s. Every event answered 202 must be stored exactly once (WebhookEvent rows).
2. the worker and beat start (config/Procfile's ``worker:`` and ``beat:`` lines) and work off that
   backlog: events processed per second.
3. intake with the worker and beat running (production's figure: they share the cores), then the
   backlog is worked off again.
4. intake paced at --paced-fraction of phase 3's throughput, worker running; latency counted from
   each event's scheduled time.
5. propagation: N times, one after another, the Cin7 sandbox's clerk sets a SKU's stock (its
   control API), which sends ``Stock/AvailableStockLevelChanged`` to our intake; from that moment
   the bench polls the Amazon sandbox's MFN quantity and the Medusa sandbox's stocked_quantity
   every --poll-interval until both show the new figure (one not there within --change-timeout is
   a failure): p50/p95/max for Amazon, Medusa and both, and where the time went.
6. checks: every change arrived; every final quantity the same in Cin7, our database, our channel
   availability, Amazon and Medusa; every event processed once; the outbox settled; on_hand >=
   reserved >= 0 and the ledger balanced; no 429, no spec violation; and (--repeat-probe) a level
   set back to a figure Cin7 reported before reaches both too.

Targets (DESIGN.md "Performance budget"): intake p99 <= 25 ms to the 202 and >= 500 events/s;
propagation p95 <= 1 s. Exit status 1 only when a check failed.
"""

import argparse
import contextlib
import http.client
import json
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from bench import _harness as h

TARGET_INTAKE_P99_MS = 25.0
TARGET_INTAKE_RATE = 500.0
TARGET_PROPAGATION_P95_S = 1.0
#: This script's own Redis database (the app's cache, rate-limit buckets and the Celery broker):
#: flushed at the start and the end. Other work uses 1, 9 and 10.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"
MAX_REQUESTS_PER_CLIENT = 1_000_000
#: A change sets its SKU to a figure of 0..MAX_QUANTITY that SKU never had (a figure it had before: see --repeat-probe).
MAX_QUANTITY = 99
#: Unmeasured changes before the measured ones: the sandboxes' first calls (the Medusa sandbox loads its
#: OpenAPI spec on its first write, ~1.2 s) and the LWA token mint are paid here.
WARMUP_CHANGES = 3

CIN7_LOCATION = "Retail Store"
MEDUSA_LOCATION = "US Warehouse"
AMAZON_LOCATION = "DEFAULT"  # the sandbox's "location" for a listing's MFN quantity
STOCK_EVENT = "Stock/AvailableStockLevelChanged"
#: What the intake phases send: an event of our Medusa subscriber recipe that the connector stores,
#: acknowledges and processes without touching stock (so processing is the fixed cost of an event).
INTAKE_EVENT_TYPE = "inventory.inventory-level.updated"
CIN7_SECRET = "bench-cin7-verification-token-0123456789"  # noqa: S105 (a throwaway bench secret)
MEDUSA_SECRET = "whsec-bench-medusa-0123456789abcdef"  # noqa: S105
SHOP_CODE = "bench-cin7-shop"
FBA_CODE = "bench-amazon-fba"
AMAZON_CHANNEL = "bench-amazon-us"
MEDUSA_CHANNEL = "bench-medusa-store"
SKU_PREFIX = "WHB"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__.split("\n")[0])
    h.add_common_arguments(parser, clients=16, duration=8.0, db_name="stockpool_bench_webhooks")
    parser.set_defaults(redis_url=DEFAULT_REDIS_URL)
    parser.add_argument(
        "--paced-fraction",
        type=float,
        default=0.5,
        help="phase 4's total rate as a fraction of phase 3's throughput (0 skips phase 4)",
    )
    parser.add_argument("--changes", type=int, default=200, help="stock changes propagated, one after another")
    parser.add_argument("--skus", type=int, default=50, help="SKUs the changes go round (listed on both channels)")
    parser.add_argument(
        "--poll-interval", type=float, default=0.01, help="seconds between polls of the Amazon and Medusa sandboxes"
    )
    parser.add_argument("--change-timeout", type=float, default=10.0, help="a change not arrived by then failed")
    parser.add_argument(
        "--min-interval",
        type=float,
        default=0.0,
        help="seconds from one trigger to the next at least (0: the next as soon as the last has arrived)",
    )
    parser.add_argument(
        "--cin7-rate-per-minute",
        type=float,
        default=6000,
        help="the Cin7 sandbox's rate limit and the account's rate_limit_per_minute (Cin7 documents 60; "
        "6000 as in the connector tests; 0: the documented 60 for both)",
    )
    parser.add_argument(
        "--repeat-probe",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="after the changes, set one SKU back to a figure Cin7 reported before and check it arrives",
    )
    parser.add_argument("--skip-intake", action="store_true", help="only the propagation phase")
    parser.add_argument("--skip-propagation", action="store_true", help="only the intake phases")
    parser.add_argument("--seed", type=int, default=0, help="seed of the quantities the changes set")
    parser.add_argument("--logs", default="", metavar="DIR", help="copy the worker's, beat's and sandboxes' logs here")
    parser.add_argument("--serve-sandbox", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)  # run_sandbox's args
    args = parser.parse_args(argv)
    if args.serve_sandbox:
        return args
    h.validate_common_arguments(parser, args)
    if not 0 <= args.paced_fraction <= 1:
        parser.error("--paced-fraction must be between 0 and 1")
    if not 1 <= args.changes <= 5_000 or not 1 <= args.skus <= 2_000:
        parser.error("--changes must be 1..5000 and --skus 1..2000")
    if -(-args.changes // args.skus) + 2 > MAX_QUANTITY:
        parser.error(f"each SKU takes a figure of 0..{MAX_QUANTITY} it never had: give more --skus")
    if not 0.001 <= args.poll_interval <= 1 or not 1 <= args.change_timeout <= 120:
        parser.error("--poll-interval must be 0.001..1 s and --change-timeout 1..120 s")
    if not 0 <= args.min_interval <= 10:
        parser.error("--min-interval must be 0..10 s")
    if args.cin7_rate_per_minute < 0:
        parser.error("--cin7-rate-per-minute must not be negative")
    if not args.redis_url.startswith(("redis://127.0.0.1:", "redis://localhost:")):
        parser.error("--redis-url must be a Redis on 127.0.0.1 (it is flushed)")
    return args


# --- processes ---------------------------------------------------------------------------------------


class SandboxProcess(h.LoggedProcess):
    """``run_sandbox <partner> ARGS`` on a free loopback port, as its own process.

    It runs as ``python -m bench.webhooks --serve-sandbox <partner> ...`` (the same management command
    through ``call_command``), as ``bench.import_zoho`` does, so that nothing stopping sandboxes by the
    name ``run_sandbox`` stops this one mid-run. It reads the bench database (DATABASE_URL) to mirror
    the warehouse or channel it is given.
    """

    def __init__(self, partner: str, arguments: list[str], env: dict):
        self.partner, self.arguments, self.env = partner, arguments, env
        super().__init__("sandbox.log", prefix=f"stockpool-bench-{partner}-")
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{h.LOOPBACK}:{self.port}"

    def describe(self) -> str:
        return f"run_sandbox {self.partner} --port {self.port} {shlex.join(self.arguments)}"

    def launch(self) -> None:
        self.port = h.free_port()
        command = [str(h.VENV_BIN / "python"), "-m", "bench.webhooks", "--serve-sandbox", self.partner]
        command += ["--port", str(self.port), *self.arguments]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command, cwd=h.ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    def wait_ready(self, timeout: float = 120.0) -> dict:
        """Wait until its control API answers; returns its state (credentials, ids)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the {self.partner} sandbox exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            with contextlib.suppress(OSError, ValueError):
                return self.call("GET", "/_sandbox/")
            time.sleep(0.2)
        raise RuntimeError(f"the {self.partner} sandbox did not answer within {timeout:.0f} s:\n{self.log_tail()}")

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
                    f"the {self.partner} sandbox exited with {self.process.returncode} ({method} {path}):\n"
                    f"{self.log_tail()}"
                ) from exc
            raise

    def pids(self) -> list[int]:
        return [self.process.pid] if self.process is not None and self.process.poll() is None else []


class ControlClient:
    """One keep-alive connection to a sandbox's control API (the pollers' and the trigger's)."""

    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection(h.LOOPBACK, port, timeout=30)

    def call(self, method: str, path: str, body: dict | None = None, params: dict | None = None) -> dict:
        if params:
            path = f"{path}?{urllib.parse.urlencode(params)}"
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in range(2):  # a keep-alive connection the server closed is opened again once
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                payload = response.read()
                break
            except (OSError, http.client.HTTPException):
                self.conn.close()
                if attempt:
                    raise
        if response.status >= 400:
            raise RuntimeError(f"{method} {path} on port {self.port} answered {response.status}: {payload[:300]!r}")
        return json.loads(payload)

    def close(self) -> None:
        self.conn.close()


def procfile_command(role: str) -> list[str]:
    """config/Procfile's command for ``role`` (``worker``, ``beat``), its .venv path made absolute."""
    for line in (h.ROOT / "config" / "Procfile").read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() == role:
            words = shlex.split(command.strip())
            if words and not os.path.isabs(words[0]):
                words[0] = str(h.ROOT / words[0])
            return words
    raise RuntimeError(f"config/Procfile has no {role!r} line")


class CeleryProcess(h.LoggedProcess):
    """The Celery worker or beat, with config/Procfile's command, in a process group of its own (so that
    stopping it also stops its pool processes, and nothing else)."""

    stop_timeout = 20.0

    def __init__(self, role: str, env: dict):
        self.role, self.env = role, env
        self.command = procfile_command(role)
        super().__init__(f"{role}.log", prefix=f"stockpool-bench-celery-{role}-")

    def describe(self) -> str:
        return shlex.join([Path(self.command[0]).name if i == 0 else w for i, w in enumerate(self.command)])

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=h.ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def wait_for(self, marker: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery {self.role} exited with {self.process.returncode}:\n{self.log_tail()}")
            if marker in self.log_text():
                return
            time.sleep(0.1)
        raise RuntimeError(f"celery {self.role} did not log {marker!r} within {timeout:.0f} s:\n{self.log_tail()}")

    def pids(self) -> list[int]:
        if self.process is None or self.process.poll() is not None:
            return []
        found, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(h._children(pid))
        return found

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def _terminate(self) -> None:
        super()._terminate()  # SIGTERM: a warm shutdown, the pool finishes its tasks
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)  # our own group: pool processes left behind


def keep_logs(directory: Path, processes) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for process in processes:
        if process is not None and process.log_path.exists():
            name = getattr(process, "role", None) or getattr(process, "partner", "process")
            shutil.copy(process.log_path, directory / f"{name}.log")
    h.say(f"logs copied to {directory}")


def flush_redis(redis_url: str) -> int:
    """FLUSHDB of this script's own Redis database (11 by default: no other work uses it)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = client.dbsize()
        client.flushdb()
        return keys
    finally:
        client.close()


TASK_LINE = re.compile(r"Task (?P<task>[\w.]+)\[[^\]]+\] succeeded in (?P<seconds>[\d.]+)s")


def task_runtimes(log: str) -> dict[str, list[float]]:
    """Seconds per succeeded task, by task name, from a worker log at INFO."""
    runtimes: dict[str, list[float]] = {}
    for match in TASK_LINE.finditer(log):
        runtimes.setdefault(match["task"].rsplit(".", 1)[-1], []).append(float(match["seconds"]))
    return runtimes


def health_line(server: h.Server) -> str:
    """What /health/ says of the worker's and beat's heartbeats (the app's own proof that both run)."""
    client = h.HttpClient(server.port)
    try:
        status, data = client.request("GET", "/health/")
    finally:
        client.close()
    body = json.loads(data) if status == 200 else {}
    marks = {name: (body.get(name) or {}).get("ok") for name in ("worker", "beat")}
    return ", ".join(f"{name} {'ok' if ok else 'stale or missing'}" for name, ok in marks.items())


# --- the world ---------------------------------------------------------------------------------------


@dataclass
class World:
    organization: object
    shop: object
    fba: object
    amazon_channel: object
    medusa_channel: object
    skus: list[str]
    stock: dict[str, int]  # sku -> units seeded at the shop
    listing_ids: dict[tuple[str, str], int] = field(default_factory=dict)  # (channel code, sku) -> listing id


def initial_units(index: int) -> int:
    return 10 + (index * 7) % 40


def seed_world(skus: int) -> World:
    """A supplier with a Cin7-mirrored shop (and an FBA warehouse the Amazon account needs), an Amazon
    marketplace channel and a Medusa storefront both drawing from the shop, ``skus`` variants listed on
    both, and stock received at the shop through ``inventory.services`` (source ``system``: not pushed)."""
    from inventory.models import (
        Category,
        Channel,
        ChannelListing,
        ChannelWarehouse,
        Organization,
        Product,
        StockMovement,
        Variant,
        Warehouse,
    )
    from inventory.services import StockChange, apply_stock_changes

    organization = Organization.objects.create(
        name="Bench BookBarber", slug="bench-bookbarber", kind=Organization.Kind.SUPPLIER
    )
    shop = Warehouse.objects.create(
        organization=organization,
        code=SHOP_CODE,
        name="Bench shop (Cin7)",
        system_of_record=Warehouse.SystemOfRecord.CIN7_CORE,
    )
    fba = Warehouse.objects.create(
        organization=organization,
        code=FBA_CODE,
        name="Bench Amazon FBA",
        system_of_record=Warehouse.SystemOfRecord.AMAZON_FBA,
    )
    amazon_channel = Channel.objects.create(
        organization=organization, code=AMAZON_CHANNEL, name="Bench Amazon US", kind=Channel.Kind.MARKETPLACE
    )
    medusa_channel = Channel.objects.create(
        organization=organization, code=MEDUSA_CHANNEL, name="Bench Medusa", kind=Channel.Kind.STOREFRONT
    )
    ChannelWarehouse.objects.bulk_create(
        ChannelWarehouse(channel=channel, warehouse=shop, priority=0) for channel in (amazon_channel, medusa_channel)
    )
    category = Category.objects.create(name="Bench webhooks", slug="bench-webhooks")
    product = Product.objects.create(category=category, name="Bench clipper", brand="Bench")
    variants = Variant.objects.bulk_create(
        Variant(product=product, sku=f"{SKU_PREFIX}-{i:04d}", name=f"#{i}", price=Decimal("12.50")) for i in range(skus)
    )
    listings = ChannelListing.objects.bulk_create(
        ChannelListing(channel=channel, variant=variant)
        for channel in (amazon_channel, medusa_channel)
        for variant in variants
    )
    apply_stock_changes(
        [
            StockChange(shop, variant, StockMovement.Reason.RECEIPT, delta=initial_units(i), reference="bench seed")
            for i, variant in enumerate(variants)
        ],
        source=StockMovement.Source.SYSTEM,
    )
    h.sql_rows("ANALYZE")
    by_pk = {v.pk: v.sku for v in variants}
    codes = {amazon_channel.pk: AMAZON_CHANNEL, medusa_channel.pk: MEDUSA_CHANNEL}
    return World(
        organization=organization,
        shop=shop,
        fba=fba,
        amazon_channel=amazon_channel,
        medusa_channel=medusa_channel,
        skus=[v.sku for v in variants],
        stock={v.sku: initial_units(i) for i, v in enumerate(variants)},
        listing_ids={(codes[listing.channel_id], by_pk[listing.variant_id]): listing.pk for listing in listings},
    )


@dataclass
class Accounts:
    cin7: object
    amazon: object
    medusa: object


def create_accounts(world: World, *, cin7_state: dict, amazon_state: dict, medusa_state: dict, cin7_rate: float):
    """The three ConnectorAccounts, pointed at the sandboxes, credentials and webhook secrets encrypted as usual."""
    from connectors.models import ConnectorAccount, Kind

    cin7 = ConnectorAccount(
        kind=Kind.CIN7_CORE,
        name="Cin7 (bench)",
        organization=world.organization,
        warehouse=world.shop,
        api_base_url=cin7_state["api_url"],
        settings={
            "location": CIN7_LOCATION,
            "customer": cin7_state["customer_name"],
            **({"rate_limit_per_minute": cin7_rate} if cin7_rate else {}),
        },
    )
    cin7.credentials = {"account_id": cin7_state["account_id"], "application_key": cin7_state["application_key"]}
    cin7.webhook_secret = CIN7_SECRET
    amazon = ConnectorAccount(
        kind=Kind.AMAZON_SP_API,
        name="Amazon US (bench)",
        organization=world.organization,
        warehouse=world.fba,
        channel=world.amazon_channel,
        api_base_url=amazon_state["api_url"],
        auth_base_url=amazon_state["url"],
        settings={"seller_id": amazon_state["seller_id"], "marketplace_id": amazon_state["marketplace_id"]},
    )
    amazon.credentials = {
        "client_id": amazon_state["client_id"],
        "client_secret": amazon_state["client_secret"],
        "refresh_token": amazon_state["refresh_token"],
    }
    location_id = next(loc["id"] for loc in medusa_state["locations"] if loc["name"] == MEDUSA_LOCATION)
    medusa = ConnectorAccount(
        kind=Kind.MEDUSA,
        name="Medusa (bench)",
        organization=world.organization,
        channel=world.medusa_channel,
        api_base_url=medusa_state["api_url"],
        settings={"location_id": location_id},
    )
    medusa.credentials = {"secret_key": medusa_state["secret_key"]}
    medusa.webhook_secret = MEDUSA_SECRET
    for account in (cin7, amazon, medusa):
        account.full_clean()
        account.save()
    return Accounts(cin7=cin7, amazon=amazon, medusa=medusa)


def link_cin7(account, skus: int) -> float:
    """A full Cin7 sync, run here (its Celery enqueue left out), so that every variant has its Cin7 product id."""
    from django.contrib.contenttypes.models import ContentType

    from connectors.models import ExternalRef, SyncJob
    from connectors.sync import run_sync_job, start_sync
    from inventory.models import Variant

    began = time.perf_counter()
    job, _ = start_sync(account, SyncJob.Kind.FULL, enqueue=False)
    job = run_sync_job(job.pk)
    refs = ExternalRef.objects.filter(account=account, content_type=ContentType.objects.get_for_model(Variant)).count()
    if job.status != SyncJob.Status.SUCCEEDED or refs != skus:
        raise RuntimeError(f"the Cin7 full sync ended {job.status} with {refs} product refs for {skus} SKUs")
    return time.perf_counter() - began


def sandbox_quantity(client: ControlClient, sku: str, location: str) -> int | float:
    return client.call("GET", "/_sandbox/stock", params={"sku": sku, "location": location})["on_hand"]


def quantities_everywhere(world: World, accounts: Accounts, controls: dict[str, ControlClient]) -> dict[str, dict]:
    """Per SKU: Cin7's on-hand, ours at the shop, our availability on each channel, Amazon's MFN, Medusa's stocked."""
    from inventory.models import ChannelListing, StockLevel
    from inventory.selectors import listing_availability

    ours = dict(
        StockLevel.objects.filter(warehouse=world.shop, variant__sku__in=world.skus).values_list(
            "variant__sku", "on_hand"
        )
    )
    available = {
        (entry.rules.channel_id, entry.rules.sku): entry.available
        for entry in listing_availability(
            ChannelListing.objects.filter(channel__in=[world.amazon_channel, world.medusa_channel])
        )
    }
    return {
        sku: {
            "cin7": sandbox_quantity(controls["cin7"], sku, CIN7_LOCATION),
            "ours": ours.get(sku),
            "amazon channel": available.get((world.amazon_channel.pk, sku)),
            "medusa channel": available.get((world.medusa_channel.pk, sku)),
            "amazon": sandbox_quantity(controls["amazon"], sku, AMAZON_LOCATION),
            "medusa": sandbox_quantity(controls["medusa"], sku, MEDUSA_LOCATION),
        }
        for sku in world.skus
    }


def disagreements(quantities: dict[str, dict], expected: dict[str, int]) -> list[str]:
    return [
        f"{sku}: expected {expected[sku]}, " + ", ".join(f"{place} {value}" for place, value in found.items())
        for sku, found in quantities.items()
        if any(value != expected[sku] for value in found.values())
    ]


# --- intake ------------------------------------------------------------------------------------------


def medusa_event(event_id: str, index: int) -> bytes:
    """A level event as our Medusa subscriber recipe sends it (the sandbox's shape)."""
    quantity = index % 50
    return json.dumps(
        {
            "id": event_id,
            "type": INTAKE_EVENT_TYPE,
            "created_at": datetime.now(UTC).isoformat(),
            "data": {
                "id": f"ilev_{index:026d}",
                "inventory_item_id": f"iitem_{index % 997:025d}",
                "location_id": "sloc_01BENCHUSWAREHOUSE000000",
                "stocked_quantity": quantity,
                "reserved_quantity": 0,
                "incoming_quantity": 0,
                "available_quantity": quantity,
                "sku": f"{SKU_PREFIX}-{index % 997:04d}",
            },
        },
        separators=(",", ":"),
    ).encode()


def intake_load(args, server: h.Server, account_id: int, *, label: str, duration: float, rate: float | None, groups):
    """K clients sending signed events, back to back (or, with ``rate``, paced at that total rate).

    Returns (tally, elapsed, CPU meter); the tally's notes are the event ids sent."""
    from connectors import signing

    path = f"/webhooks/{account_id}/"

    def client(index: int) -> h.Tally:
        http = h.HttpClient(server.port)
        sent: list[str] = []

        def request(i):
            event_id = f"evt_{label}_{index:02d}_{i:07d}"
            body = medusa_event(event_id, i)
            http.headers = {"Accept": "application/json", signing.HEADER: signing.sign(MEDUSA_SECRET, body)}
            sent.append(event_id)
            return "POST", path, body

        try:
            if rate is None:
                tally = h.closed_loop(http, duration=duration, max_requests=MAX_REQUESTS_PER_CLIENT, request=request)
            else:
                tally = h.paced_loop(
                    http, duration=duration, rate=rate / args.clients, request=request, phase=index / args.clients
                )
        finally:
            http.close()
        tally.notes.extend(sent)
        return tally

    meter = h.CpuMeter(groups)
    with meter:
        tally, elapsed = h.run_clients(args.clients, client, join_timeout=duration + 60)
    return tally, elapsed, meter


def stored_events(account, label: str) -> dict[str, str]:
    """event id -> status of this phase's stored events."""
    from connectors.models import WebhookEvent

    return dict(
        WebhookEvent.objects.filter(account=account, event_id__startswith=f"evt_{label}_").values_list(
            "event_id", "status"
        )
    )


def check_stored(tally: h.Tally, label: str, account) -> tuple[str, list[str]]:
    """Every event answered 202 stored exactly once, nothing stored that was not sent."""
    stored = stored_events(account, label)
    sent = set(tally.notes)
    accepted = tally.statuses.get(202, 0)
    unanswered = tally.statuses.get(0, 0)
    refused = {code: n for code, n in tally.statuses.items() if code not in (0, 202)}
    rows = h.sql_rows(
        "SELECT count(*), count(DISTINCT event_id) FROM connectors_webhookevent WHERE account_id = %s "
        "AND event_id LIKE %s",
        [account.pk, f"evt\\_{label}\\_%"],
    )
    (total, distinct) = rows[0]
    problems = []
    phantom = [event_id for event_id in stored if event_id not in sent]
    if phantom:
        problems.append(f"{len(phantom)} stored events were never sent: {phantom[:3]}")
    if total != distinct:
        problems.append(f"{total - distinct} events stored more than once")
    if not unanswered and len(stored) != accepted:
        problems.append(f"{len(stored)} events stored for {accepted} answered 202")
    if unanswered and not accepted <= len(stored) <= accepted + unanswered:
        problems.append(f"{len(stored)} events stored for {accepted} answered 202 and {unanswered} unanswered")
    if refused:
        problems.append(f"validly signed events refused: {refused}")
    line = (
        f"{len(stored)} events stored, each once, for {len(sent)} sent ({accepted} answered 202"
        + (f", {unanswered} unanswered" if unanswered else "")
        + ")"
    )
    return line, problems


def wait_processed(account, *, timeout: float) -> tuple[float, Counter]:
    """Wait until none of the account's events is still ``received``; (seconds waited, statuses)."""
    from django.db.models import Count

    from connectors.models import WebhookEvent

    began = time.perf_counter()
    deadline = time.monotonic() + timeout
    while True:
        counts = Counter(
            {
                row["status"]: row["n"]
                for row in WebhookEvent.objects.filter(account=account)
                .order_by()
                .values("status")
                .annotate(n=Count("id"))
            }
        )
        if not counts.get(WebhookEvent.Status.RECEIVED) or time.monotonic() > deadline:
            return time.perf_counter() - began, counts
        time.sleep(0.2)


def processing_rate(account, label: str) -> tuple[int, float]:
    """(events of the phase processed, events per second between the first and the last processed_at)."""
    ((count, first, last),) = h.sql_rows(
        "SELECT count(*), min(processed_at), max(processed_at) FROM connectors_webhookevent "
        "WHERE account_id = %s AND event_id LIKE %s AND status = 'processed'",
        [account.pk, f"evt\\_{label}\\_%"],
    )
    span = (last - first).total_seconds() if count > 1 else 0.0
    return count, (count - 1) / span if span > 0 else 0.0


def intake_phase(args, server, accounts, groups, *, title: str, label: str, rate: float | None = None):
    """One intake phase: load, figures, the stored-once check. Returns (summary dict, problems)."""
    duration = args.duration
    sessions = sessions_opened(args.db_name)
    tally, elapsed, meter = intake_load(
        args, server, accounts.medusa.pk, label=label, duration=duration, rate=rate, groups=groups
    )
    sessions = sessions_opened(args.db_name) - sessions
    accepted = tally.statuses.get(202, 0)
    events_rate = accepted / elapsed if elapsed else 0.0
    latency = h.summarize(tally.latencies)
    stored_line, problems = check_stored(tally, label, accounts.medusa)
    rows = []
    if rate is not None:
        rows.append(("offered load", f"{rate:.1f} events/s ({args.paced_fraction:.0%} of the saturated phase)"))
    rows += [
        (
            "events/s",
            f"{events_rate:.1f}  ({accepted} answered 202 in {elapsed:.1f} s)"
            + (
                f"  target >= {TARGET_INTAKE_RATE:.0f}: {h.verdict(events_rate >= TARGET_INTAKE_RATE)}"
                if rate is None
                else ""
            ),
        ),
        ("latency to 202", latency.line() + ("  (from each event's scheduled time)" if rate is not None else "")),
        (
            "p99",
            f"{latency.p99_ms:.2f} ms  target <= {TARGET_INTAKE_P99_MS:.0f} ms: "
            f"{h.verdict(latency.p99_ms <= TARGET_INTAKE_P99_MS)}"
            + (
                f"  (Little's law: mean >= {args.clients} / {events_rate:.0f} per s = "
                f"{args.clients / events_rate * 1000:.0f} ms)"
                if rate is None and events_rate
                else ""
            ),
        ),
        ("status codes", h.statuses_line(tally.statuses)),
        ("stored", stored_line + (" -> OK" if not problems else " -> BROKEN")),
        ("CPU", meter.line()),
        ("CPU per event", cpu_per_event(meter, elapsed, accepted)),
        ("PostgreSQL sessions", sessions_line(sessions, accepted)),
    ]
    h.print_block(title, rows)
    per_event = {name: meter.shares.get(name, 0.0) * elapsed / accepted * 1000 if accepted else 0.0 for name in groups}
    return {"title": title, "rate": events_rate, "latency": latency, "elapsed": elapsed, "cpu": per_event}, problems


def sessions_opened(db_name: str) -> int:
    """PostgreSQL sessions ever opened to the bench database (``pg_stat_database.sessions``).

    A backend that lives for one task is missed by the CPU meter (it samples every 0.25 s): its CPU and the
    fork show as "everything else". This count says how many there were."""
    rows = h.sql_rows("SELECT sessions FROM pg_stat_database WHERE datname = %s", [db_name])
    return int(rows[0][0] or 0) if rows else 0


def sessions_line(opened: int, events: int, what: str = "event") -> str:
    return f"{opened} opened" + (f" ({opened / events:.2f} per {what})" if events else "")


def cpu_per_event(meter: h.CpuMeter, wall: float, events: int) -> str:
    """Milliseconds of CPU per event, by group (the groups that used any)."""
    if not events:
        return "(no events)"
    parts = [
        f"{name} {share * wall / events * 1000:.2f} ms"
        for name, share in meter.shares.items()
        if name != "everything else" and share >= 0.005
    ]
    return ", ".join(parts)


def drain(args, accounts, label: str, *, title: str, groups, before=None, timeout: float = 180.0):
    """Wait until the worker has processed every stored event; print how fast it did and its CPU per event.

    ``before`` (optional) runs inside the measured window first: starting the worker. Returns (summary, problems).
    """
    from connectors.models import WebhookEvent

    done_before = wait_processed(accounts.medusa, timeout=0)[1].get(WebhookEvent.Status.PROCESSED, 0)
    meter = h.CpuMeter(groups)
    sessions = sessions_opened(args.db_name)
    began = time.perf_counter()
    with meter:
        if before is not None:
            before()
        waited, counts = wait_processed(accounts.medusa, timeout=timeout)
    wall = time.perf_counter() - began
    sessions = sessions_opened(args.db_name) - sessions
    processed, rate = processing_rate(accounts.medusa, label)
    in_window = counts.get(WebhookEvent.Status.PROCESSED, 0) - done_before
    problems = []
    left = counts.get(WebhookEvent.Status.RECEIVED, 0)
    bad = counts.get(WebhookEvent.Status.FAILED, 0) + counts.get(WebhookEvent.Status.REJECTED, 0)
    if left:
        problems.append(f"{left} events still unprocessed {timeout:.0f} s after the phase")
    if bad:
        problems.append(f"{bad} events failed or were rejected")
    rows = [
        ("backlog", f"{in_window} events worked off in {wall:.1f} s" + (" (worker start-up included)" * bool(before))),
        (
            "processing",
            f"{rate:.1f} events/s ({processed} of the phase's events, first to last processed_at; "
            f"celery worker, Procfile's --concurrency)",
        ),
        (
            "statuses",
            ", ".join(f"{status}: {n}" for status, n in sorted(counts.items())) + (" -> OK" if not problems else ""),
        ),
    ]
    if wall >= 1.0 and in_window:  # too short a window says nothing about CPU
        rows[2:2] = [
            ("CPU per event", cpu_per_event(meter, wall, in_window) + " (per event processed)"),
            ("PostgreSQL sessions", sessions_line(sessions, in_window, "event processed")),
        ]
        rows.append(("CPU", meter.line()))
    h.print_block(title, rows)
    return {"waited": waited, "rate": rate, "sessions": sessions / in_window if in_window else 0.0}, problems


# --- propagation -------------------------------------------------------------------------------------


@dataclass
class Change:
    index: int
    sku: str
    quantity: int
    started: float  # time.time() at the trigger
    hook_s: float  # until the Cin7 sandbox's control call returned: its webhook delivered and answered
    delivery_status: int | None
    delivery_ms: float | None  # the webhook POST as the Cin7 sandbox timed it
    answer: str  # our intake's "status": accepted / duplicate
    event_pk: int | None
    amazon_s: float | None = None
    medusa_s: float | None = None
    stages: dict = field(default_factory=dict)  # stage -> seconds after the trigger

    @property
    def both_s(self) -> float | None:
        return None if self.amazon_s is None or self.medusa_s is None else max(self.amazon_s, self.medusa_s)


def trigger_and_wait(args, controls: dict[str, ControlClient], index: int, sku: str, quantity: int) -> Change:
    """A clerk sets the level in Cin7 (which sends its webhook); poll both storefronts until it is there."""
    started = time.time()
    t0 = time.perf_counter()
    result = controls["cin7"].call(
        "POST", "/_sandbox/stock", {"sku": sku, "location": CIN7_LOCATION, "on_hand": quantity}
    )
    hook_s = time.perf_counter() - t0
    delivery = (result.get("deliveries") or [{}])[0]
    try:
        answer = json.loads(delivery.get("response_body") or "{}")
    except ValueError:
        answer = {}
    change = Change(
        index=index,
        sku=sku,
        quantity=quantity,
        started=started,
        hook_s=hook_s,
        delivery_status=delivery.get("status"),
        delivery_ms=delivery.get("duration_ms"),
        answer=str(answer.get("status", "")),
        event_pk=answer.get("id"),
    )
    deadline = t0 + args.change_timeout
    tick = t0
    while True:
        if change.amazon_s is None and sandbox_quantity(controls["amazon"], sku, AMAZON_LOCATION) == quantity:
            change.amazon_s = time.perf_counter() - t0
        if change.medusa_s is None and sandbox_quantity(controls["medusa"], sku, MEDUSA_LOCATION) == quantity:
            change.medusa_s = time.perf_counter() - t0
        now = time.perf_counter()
        if change.both_s is not None or now >= deadline:
            return change
        tick += args.poll_interval
        if tick > now:
            time.sleep(tick - now)
        else:
            tick = now


def record_stages(change: Change, accounts: Accounts, world: World, *, timeout: float = 3.0) -> None:
    """Our side's timestamps of one change (the event's, each publication's), once the relay has marked both."""
    from connectors.models import OutboundMessage, WebhookEvent
    from connectors.publishing import dedupe_key

    keys = {
        "Amazon": (accounts.amazon, dedupe_key(world.listing_ids[(AMAZON_CHANNEL, change.sku)])),
        "Medusa": (accounts.medusa, dedupe_key(world.listing_ids[(MEDUSA_CHANNEL, change.sku)])),
    }
    deadline = time.monotonic() + timeout
    while True:
        event = (
            WebhookEvent.objects.filter(pk=change.event_pk).values("received_at", "processed_at", "status").first()
            if change.event_pk
            else None
        )
        messages = {
            name: OutboundMessage.objects.filter(account=account, dedupe_key=key)
            .values("sent_at", "delivered_at", "status", "payload")
            .first()
            for name, (account, key) in keys.items()
        }
        settled = all(
            m and m["status"] == OutboundMessage.Status.DELIVERED and m["payload"].get("quantity") == change.quantity
            for m in messages.values()
        )
        if (settled and event and event["processed_at"]) or time.monotonic() > deadline:
            break
        time.sleep(0.02)

    def at(moment) -> float | None:
        return moment.timestamp() - change.started if moment is not None else None

    if event:
        change.stages["event stored (received_at)"] = at(event["received_at"])
        change.stages["event processed (processed_at)"] = at(event["processed_at"])
    for name, message in messages.items():
        if message and message["payload"].get("quantity") == change.quantity:
            change.stages[f"{name} publication claimed (sent_at)"] = at(message["sent_at"])
            change.stages[f"{name} publication marked delivered"] = at(message["delivered_at"])


def record_partner_calls(changes: list[Change], logs: dict[str, list[dict]]) -> dict[str, list[float]]:
    """Attribute each sandbox's logged calls to the change whose window (its trigger to the next's) holds them;
    returns the sandboxes' own handling time (ms) of those calls, per kind."""
    starts = [c.started for c in changes] + [float("inf")]

    def moment(record) -> float:
        return datetime.fromisoformat(record["at"]).timestamp()

    wanted = {
        "Cin7 availability read starts": (
            "cin7",
            lambda r: r["method"] == "GET" and "productavailability" in r["path"].lower(),
        ),
        "Amazon PATCH reaches the sandbox": ("amazon", lambda r: r["method"] == "PATCH"),
        "Medusa GET inventory item": (
            "medusa",
            lambda r: r["method"] == "GET" and "/admin/inventory-items" in r["path"],
        ),
        "Medusa POST level reaches the sandbox": (
            "medusa",
            lambda r: r["method"] == "POST" and "/location-levels/" in r["path"],
        ),
    }
    handling: dict[str, list[float]] = {}
    for stage, (partner, matches) in wanted.items():
        records = sorted(((moment(r), r) for r in logs[partner] if matches(r)), key=lambda pair: pair[0])
        position = 0
        for i, change in enumerate(changes):
            while position < len(records) and records[position][0] < starts[i]:
                position += 1
            if position < len(records) and records[position][0] < starts[i + 1]:
                change.stages[stage] = records[position][0] - change.started
                handling.setdefault(stage, []).append(records[position][1]["duration_ms"])
    return handling


#: The partner calls of a change, by the stage they mark.
CALL_NAMES = {
    "Cin7 availability read starts": "Cin7 availability read",
    "Amazon PATCH reaches the sandbox": "Amazon PATCH",
    "Medusa GET inventory item": "Medusa GET",
    "Medusa POST level reaches the sandbox": "Medusa POST",
}
STAGE_ORDER = (
    "webhook answered (Cin7 -> our 202)",
    "event stored (received_at)",
    "Cin7 availability read starts",
    "event processed (processed_at)",
    "Amazon publication claimed (sent_at)",
    "Amazon PATCH reaches the sandbox",
    "Amazon publication marked delivered",
    "Amazon quantity seen",
    "Medusa publication claimed (sent_at)",
    "Medusa GET inventory item",
    "Medusa POST level reaches the sandbox",
    "Medusa publication marked delivered",
    "Medusa quantity seen",
)


def stage_rows(changes: list[Change]) -> list[tuple[str, str]]:
    for change in changes:
        change.stages["webhook answered (Cin7 -> our 202)"] = change.hook_s
        if change.amazon_s is not None:
            change.stages["Amazon quantity seen"] = change.amazon_s
        if change.medusa_s is not None:
            change.stages["Medusa quantity seen"] = change.medusa_s
    rows = []
    for stage in STAGE_ORDER:
        values = sorted(c.stages[stage] for c in changes if c.stages.get(stage) is not None)
        if values:
            rows.append(
                (
                    f"  {stage}",
                    f"p50 {h.percentile(values, 0.5) * 1000:7.1f} ms, p95 {h.percentile(values, 0.95) * 1000:7.1f} ms"
                    f"  (n={len(values)})",
                )
            )
    return rows


def summary_line(values: list[float | None], total: int) -> tuple[str, float]:
    arrived = sorted(v for v in values if v is not None)
    if not arrived:
        return f"none of {total} arrived", float("inf")
    p95 = h.percentile(arrived, 0.95) if len(arrived) == total else float("inf")
    return (
        f"p50 {h.percentile(arrived, 0.5) * 1000:.0f} ms, p95 "
        + (f"{p95 * 1000:.0f} ms" if len(arrived) == total else f"> {h.percentile(arrived, 1.0) * 1000:.0f} ms")
        + f", max {arrived[-1] * 1000:.0f} ms (mean {sum(arrived) / len(arrived) * 1000:.0f} ms; "
        f"{len(arrived)} of {total} arrived)",
        p95,
    )


def check_outbox_settled(accounts: Accounts, timeout: float = 15.0) -> tuple[Counter, list[str]]:
    from connectors.models import OutboundMessage

    deadline = time.monotonic() + timeout
    while True:
        statuses = Counter(
            OutboundMessage.objects.filter(account__in=[accounts.amazon, accounts.medusa])
            .order_by()
            .values_list("status", flat=True)
        )
        busy = statuses.get(OutboundMessage.Status.PENDING, 0) + statuses.get(OutboundMessage.Status.SENDING, 0)
        if not busy or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    problems = []
    if busy:
        problems.append(f"{busy} publications still pending or sending {timeout:.0f} s after the last change")
    if statuses.get(OutboundMessage.Status.DEAD):
        problems.append(f"{statuses[OutboundMessage.Status.DEAD]} publications dead-lettered")
    return statuses, problems


def stock_invariants() -> list[str]:
    """on_hand >= reserved >= 0, reserved == active reservation lines, on_hand == the ledger."""
    from inventory.selectors import ledger_mismatches

    ((negative, drift),) = h.sql_rows(
        """
        WITH held AS (
            SELECT line.warehouse_id, line.variant_id, SUM(line.quantity) AS units
            FROM reservations_reservationline line
            JOIN reservations_reservation r ON r.id = line.reservation_id AND r.status = 'active'
            WHERE line.warehouse_id IS NOT NULL
            GROUP BY line.warehouse_id, line.variant_id
        )
        SELECT COUNT(*) FILTER (WHERE level.reserved < 0 OR level.on_hand < level.reserved),
               COUNT(*) FILTER (WHERE level.reserved <> COALESCE(held.units, 0))
        FROM inventory_stocklevel level
        LEFT JOIN held ON held.warehouse_id = level.warehouse_id AND held.variant_id = level.variant_id
        """
    )
    problems = []
    if negative:
        problems.append(f"{negative} stock levels with on_hand < reserved or reserved < 0")
    if drift:
        problems.append(f"{drift} stock levels whose reserved differs from their active reservation lines")
    mismatches = ledger_mismatches().count()
    if mismatches:
        problems.append(f"{mismatches} stock levels whose on_hand differs from the sum of their movements")
    return problems


def partner_checks(sandboxes: dict[str, SandboxProcess], logs: dict[str, list[dict]]) -> tuple[list, list[str]]:
    problems = []
    throttled = {
        name: sum(1 for r in records if r["status"] in (429, 503) or r.get("fault")) for name, records in logs.items()
    }
    failed = {
        name: sum(1 for r in records if r["status"] is None or r["status"] >= 400) for name, records in logs.items()
    }
    violations = {name: len(s.call("GET", "/_sandbox/spec-violations")["violations"]) for name, s in sandboxes.items()}
    if any(throttled.values()):
        problems.append(f"throttled or faulted calls: {throttled}")
    if any(failed.values()):
        problems.append(f"failed calls: {failed}")
    if any(violations.values()):
        problems.append(f"spec violations: {violations}")
    rows = [
        ("429/503 answers", ", ".join(f"{name} {n}" for name, n in throttled.items())),
        ("failed calls", ", ".join(f"{name} {n}" for name, n in failed.items())),
        ("spec", ", ".join(f"{name} {n} violations" for name, n in violations.items())),
    ]
    return rows, problems


def count_calls(logs: dict[str, list[dict]], since: float) -> str:
    def after(records):
        return [r for r in records if datetime.fromisoformat(r["at"]).timestamp() >= since]

    cin7 = after(logs["cin7"])
    amazon = after(logs["amazon"])
    medusa = after(logs["medusa"])
    reads = sum(1 for r in cin7 if "productavailability" in r["path"].lower())
    patches = sum(1 for r in amazon if r["method"] == "PATCH")
    tokens = sum(1 for r in amazon if r["path"] == "/auth/o2/token")
    gets = sum(1 for r in medusa if r["method"] == "GET")
    posts = sum(1 for r in medusa if r["method"] == "POST")
    return (
        f"Cin7 {reads} availability reads; Amazon {patches} patchListingsItem + {tokens} LWA token; "
        f"Medusa {gets} GET + {posts} POST"
    )


def repeat_probe(args, controls, accounts, world, history: dict[str, list[int]], current: dict[str, int]):
    """Set a SKU back to the figure Cin7 reported before its current one (A -> B -> A): the webhook's body is
    then byte for byte one we stored before. The new figure must reach both storefronts all the same."""
    sku = world.skus[0]
    earlier, now = history[sku][-2], history[sku][-1]
    change = trigger_and_wait(args, controls, -1, sku, earlier)
    current[sku] = earlier
    history[sku].append(earlier)
    arrived = change.both_s is not None
    seen = (
        f"Amazon {sandbox_quantity(controls['amazon'], sku, AMAZON_LOCATION)}, "
        f"Medusa {sandbox_quantity(controls['medusa'], sku, MEDUSA_LOCATION)}"
    )
    line = (
        f"{sku} {now} -> {earlier} (a figure Cin7 reported before): our intake answered "
        f"{change.delivery_status} {change.answer or '?'}; "
        + (
            f"arrived in {change.both_s * 1000:.0f} ms -> OK"
            if arrived
            else f"after {args.change_timeout:g} s the storefronts still show {seen} -> LOST"
        )
    )
    problems = (
        []
        if arrived
        else [
            f"a Cin7 level set back to an earlier figure ({sku}: {now} -> {earlier}) never reached Amazon or Medusa: "
            f"its webhook body equals one stored before, so the intake answered '{change.answer}' and it was "
            "never processed"
        ]
    )
    return line, problems


def propagation_phase(args, *, world, accounts, sandboxes, controls, worker, groups):
    """The changes, their figures, where the time went, and the checks. Returns (summary, problems)."""
    skus = world.skus
    current = dict(world.stock)
    history = {sku: [units] for sku, units in world.stock.items()}
    rng = random.Random(args.seed)

    def one_change(index: int, sku: str) -> Change:
        quantity = rng.choice([q for q in range(MAX_QUANTITY + 1) if q not in history[sku]])
        change = trigger_and_wait(args, controls, index, sku, quantity)
        history[sku].append(quantity)
        current[sku] = quantity
        return change

    warmups = [one_change(-1, sku) for sku in skus[-WARMUP_CHANGES:]] if args.warmup else []
    if any(change.both_s is None for change in warmups):
        raise RuntimeError("a warm-up change did not arrive: the pipeline does not work")
    if warmups:
        h.say(
            f"warm-up: {len(warmups)} changes (the sandboxes' first calls, the LWA token), arrived in "
            + ", ".join(f"{change.both_s * 1000:.0f}" for change in warmups)
            + " ms; not counted"
        )
    time.sleep(1.0)  # every warm-up publication marked delivered, the limiters' buckets refilled
    log_offset = len(worker.log_text())
    sessions = sessions_opened(args.db_name)
    began_wall = time.time()
    began = time.perf_counter()
    changes: list[Change] = []
    meter = h.CpuMeter(groups)
    with meter:
        for index in range(args.changes):
            next_at = time.perf_counter() + args.min_interval
            change = one_change(index, skus[index % len(skus)])
            record_stages(change, accounts, world)
            changes.append(change)
            if (index + 1) % 50 == 0:
                h.say(f"propagation: {index + 1} of {args.changes} changes")
            if args.min_interval and index + 1 < args.changes:
                time.sleep(max(0.0, next_at - time.perf_counter()))
    wall = time.perf_counter() - began
    sessions = sessions_opened(args.db_name) - sessions
    worker_log = worker.log_text()[log_offset:]
    logs = {name: s.call("GET", "/_sandbox/requests")["requests"] for name, s in sandboxes.items()}
    handling = record_partner_calls(changes, logs)

    problems = []
    failed = [c for c in changes if c.both_s is None]
    if failed:
        problems.append(
            f"{len(failed)} of {len(changes)} changes did not reach both storefronts within "
            f"{args.change_timeout:g} s: "
            + "; ".join(
                f"#{c.index} {c.sku}={c.quantity} (Amazon {'ok' if c.amazon_s is not None else 'missing'}, "
                f"Medusa {'ok' if c.medusa_s is not None else 'missing'}, webhook {c.delivery_status} {c.answer})"
                for c in failed[:3]
            )
        )
    not_accepted = [c for c in changes if c.delivery_status != 202 or c.answer != "accepted"]
    if not_accepted:
        problems.append(
            f"{len(not_accepted)} webhooks not answered 202 accepted: "
            + ", ".join(f"#{c.index} {c.delivery_status} {c.answer}" for c in not_accepted[:3])
        )

    amazon_line, _ = summary_line([c.amazon_s for c in changes], len(changes))
    medusa_line, _ = summary_line([c.medusa_s for c in changes], len(changes))
    both_line, both_p95 = summary_line([c.both_s for c in changes], len(changes))
    hooks = sorted(c.hook_s for c in changes)
    intake_ms = sorted(c.delivery_ms for c in changes if c.delivery_ms is not None)
    runtimes = task_runtimes(worker_log)
    task_line = "; ".join(
        f"{name} {len(values)} runs, p50 {h.percentile(sorted(values), 0.5) * 1000:.0f} ms, "
        f"max {max(values) * 1000:.0f} ms"
        for name, values in sorted(runtimes.items())
        if name in ("process_webhook_task", "deliver_outbox_task")
    )
    figures = [
        ("Amazon", amazon_line),
        ("Medusa", medusa_line),
        ("both", both_line),
        (
            "p95, both",
            (f"{both_p95 * 1000:.0f} ms" if both_p95 != float("inf") else "not all arrived")
            + f"  target <= {TARGET_PROPAGATION_P95_S * 1000:.0f} ms: "
            + h.verdict(both_p95 <= TARGET_PROPAGATION_P95_S),
        ),
        (
            "webhook",
            f"Cin7's POST answered 202 at p50 {h.percentile(intake_ms, 0.5):.1f} ms (the sandbox's timing); the "
            f"trigger (its control call, which sends the webhook synchronously) returned at p50 "
            f"{h.percentile(hooks, 0.5) * 1000:.1f} ms",
        ),
        (
            "run",
            f"{len(changes)} changes over {len(skus)} SKUs in {wall:.1f} s ({len(changes) / wall:.1f} a second), "
            "one after another"
            + (f", triggers at least {args.min_interval:g} s apart" if args.min_interval else "")
            + f"; polls every {args.poll_interval * 1000:.0f} ms (an arrival is timed when the poll that saw it "
            "returned)",
        ),
        ("partner calls", count_calls(logs, began_wall)),
        (
            "sandboxes' own time",
            "p50 "
            + ", ".join(
                f"{CALL_NAMES[stage]} {h.percentile(sorted(values), 0.5):.1f} ms" for stage, values in handling.items()
            )
            + " (handling, from their request logs)",
        ),
        ("worker tasks", task_line or "(none logged)"),
        ("PostgreSQL sessions", sessions_line(sessions, len(changes), "change")),
        ("where the time went", "stage reached, from the trigger (our clocks and the sandboxes' request logs):"),
        *stage_rows(changes),
        ("CPU", meter.line()),
    ]
    h.print_block(f"propagation: Cin7 stock webhook -> Amazon and Medusa sandboxes, {len(changes)} changes", figures)

    # the checks
    quantities = quantities_everywhere(world, accounts, controls)
    wrong = disagreements(quantities, current)
    if wrong:
        problems.append(f"{len(wrong)} SKUs' final quantities disagree: {wrong[:3]}")
    statuses, outbox_problems = check_outbox_settled(accounts)
    problems += outbox_problems
    from connectors.models import WebhookEvent

    events = Counter(WebhookEvent.objects.filter(account=accounts.cin7).order_by().values_list("status", flat=True))
    accepted = sum(1 for c in warmups + changes if c.answer == "accepted")
    if events.get(WebhookEvent.Status.PROCESSED, 0) != accepted or sum(events.values()) != accepted:
        problems.append(f"Cin7 events {dict(events)} for {accepted} accepted webhooks")
    invariant_problems = stock_invariants()
    problems += invariant_problems
    partner_rows, partner_problems = partner_checks(sandboxes, logs)
    problems += partner_problems
    check_rows = [
        ("arrived", f"{len(changes) - len(failed)} of {len(changes)} changes at both storefronts"),
        (
            "final quantities",
            f"{len(skus) - len(wrong)} of {len(skus)} SKUs the same in Cin7, our shop level, our Amazon and "
            "Medusa channel availability, the Amazon sandbox and the Medusa sandbox",
        ),
        (
            "Cin7 events",
            ", ".join(f"{status}: {n}" for status, n in sorted(events.items()))
            + f" for {accepted} webhooks answered accepted ({len(warmups)} of them warm-up changes)",
        ),
        ("outbox", ", ".join(f"{status}: {n}" for status, n in sorted(statuses.items()))),
        (
            "stock invariants",
            "on_hand >= reserved >= 0, reserved == active lines, ledger balanced: "
            + ("OK" if not invariant_problems else "BROKEN"),
        ),
        *partner_rows,
    ]
    if args.repeat_probe:
        line, probe_problems = repeat_probe(args, controls, accounts, world, history, current)
        check_rows.append(("repeat A->B->A", line))
        problems += probe_problems
    check_rows.append(("verdict", "correct" if not problems else f"WRONG ({len(problems)} checks failed)"))
    h.print_block("propagation: correctness", check_rows)
    return {
        "amazon": amazon_line,
        "medusa": medusa_line,
        "both": both_line,
        "p95": both_p95,
        "failed": len(failed),
    }, problems


# --- the run -----------------------------------------------------------------------------------------


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.serve_sandbox:
        return h.serve_sandbox(args.serve_sandbox)
    os.environ.pop("CELERY_BROKER_URL", None)  # the broker is REDIS_URL's database, as in production
    tag = h.run_tag()
    cache_prefix = f"stockpool_bench_{tag}"
    h.say(h.background_load())
    started = time.perf_counter()
    broken: list[str] = []
    summaries: dict = {}
    h.say(f"fresh database {args.db_name}; flushed {flush_redis(args.redis_url)} keys from {args.redis_url}")
    h.create_database(args.db_name)
    server = None
    sandboxes: dict[str, SandboxProcess] = {}
    controls: dict[str, ControlClient] = {}
    worker = beat = None
    try:
        h.prepare_django(args.db_name, args.redis_url, cache_prefix)
        world = seed_world(args.skus)
        h.say(
            f"seeded {args.skus} SKUs at {SHOP_CODE} (Cin7-mirrored), listed on {AMAZON_CHANNEL} and {MEDUSA_CHANNEL}"
        )
        h.close_django_connections()
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        cin7_rate = args.cin7_rate_per_minute or 0
        sandboxes = {
            "cin7": SandboxProcess(
                "cin7",
                ["--mirror-warehouse", SHOP_CODE, "--mirror-location", CIN7_LOCATION]
                + (["--rate-per-minute", f"{cin7_rate:g}"] if cin7_rate else []),
                env,
            ),
            "amazon": SandboxProcess("amazon", ["--mirror-channel", AMAZON_CHANNEL], env),
            "medusa": SandboxProcess(
                "medusa", ["--mirror-channel", MEDUSA_CHANNEL, "--mirror-location", MEDUSA_LOCATION], env
            ),
        }
        for sandbox in sandboxes.values():
            sandbox.launch()
        states = {name: sandbox.wait_ready() for name, sandbox in sandboxes.items()}
        controls = {name: ControlClient(sandbox.port) for name, sandbox in sandboxes.items()}
        for sandbox in sandboxes.values():
            h.say(f"sandbox up: {sandbox.describe()}")
        amazon_config = sandboxes["amazon"].call("GET", "/_sandbox/config")
        if not amazon_config.get("enforce_rate_limits"):
            raise RuntimeError("the Amazon sandbox's usage plans are off")

        accounts = create_accounts(
            world,
            cin7_state=states["cin7"],
            amazon_state=states["amazon"],
            medusa_state=states["medusa"],
            cin7_rate=cin7_rate,
        )
        seconds = link_cin7(accounts.cin7, args.skus)
        h.say(
            f"accounts: Cin7 #{accounts.cin7.pk}, Amazon #{accounts.amazon.pk}, Medusa #{accounts.medusa.pk}; "
            f"Cin7 full sync linked {args.skus} products in {seconds:.1f} s"
        )
        wrong = disagreements(quantities_everywhere(world, accounts, controls), world.stock)
        if wrong:
            raise RuntimeError(f"the sandboxes do not start from our figures: {wrong[:3]}")
        h.close_django_connections()

        server = h.Server(
            db_name=args.db_name,
            redis_url=args.redis_url,
            cache_prefix=cache_prefix,
            throttle_rate=args.throttle_rate,
            workers=args.workers,
            worker_class=args.worker_class,
            threads=args.threads,
        )
        server.start()
        h.say(f"server up: {server.describe()}")
        hook_url = f"http://{h.LOOPBACK}:{server.port}/webhooks/{accounts.cin7.pk}/"
        sandboxes["cin7"].call(
            "POST",
            "/_sandbox/webhook",
            {"url": hook_url, "types": [STOCK_EVENT], "headers": {"verification-token": CIN7_SECRET}},
        )
        celery_env = {k: v for k, v in server.env.items() if k != "LOG_LEVEL"}  # the app's default, as in production
        worker, beat = CeleryProcess("worker", celery_env), CeleryProcess("beat", celery_env)
        groups = {
            "gunicorn": server.pids,
            "celery worker": worker.pids,
            "celery beat": beat.pids,
            "sandboxes": lambda: [pid for s in sandboxes.values() for pid in s.pids()],
            "postgres (bench db)": lambda: h.postgres_backends(args.db_name),
        }

        def start_celery() -> None:
            worker.start()
            beat.start()
            worker.wait_for(" ready.")
            beat.wait_for("beat: Starting")
            deadline = time.monotonic() + 45
            while health_line(server) != "worker ok, beat ok" and time.monotonic() < deadline:
                time.sleep(0.5)  # beat sends the worker's heartbeat task at its first tick
            h.say(f"celery up: `{worker.describe()}` and `{beat.describe()}`; /health/: {health_line(server)}")

        if not args.skip_intake:
            if args.warmup:
                h.say(f"warm-up {args.warmup:.0f} s")
                intake_load(
                    args, server, accounts.medusa.pk, label=f"{tag}w", duration=args.warmup, rate=None, groups={}
                )
            h.say(f"phase 1: intake, no worker: {args.clients} clients, signed events, {args.duration:g} s")
            summaries["no worker"], problems = intake_phase(
                args,
                server,
                accounts,
                groups,
                title=f"intake, no worker: {args.clients} clients, {server.describe()}",
                label=f"{tag}a",
            )
            broken += [f"intake without worker: {p}" for p in problems]
            h.say("phase 2: the Celery worker and beat start and work off the backlog")
            summaries["backlog"], problems = drain(
                args,
                accounts,
                f"{tag}a",
                title="processing the backlog: worker started after phase 1",
                groups=groups,
                before=start_celery,
            )
            broken += [f"backlog: {p}" for p in problems]
            h.say(f"phase 3: intake with the worker and beat running: {args.clients} clients, {args.duration:g} s")
            summaries["worker"], problems = intake_phase(
                args,
                server,
                accounts,
                groups,
                title=f"intake, worker and beat running: {args.clients} clients, {server.describe()}",
                label=f"{tag}b",
            )
            broken += [f"intake with worker: {p}" for p in problems]
            summaries["worker backlog"], problems = drain(
                args, accounts, f"{tag}b", title="processing, worker running during phase 3", groups=groups
            )
            broken += [f"intake with worker, processing: {p}" for p in problems]
            if args.paced_fraction:
                rate = summaries["worker"]["rate"] * args.paced_fraction
                h.say(f"phase 4: intake paced at {rate:.0f} events/s in total, worker running, {args.duration:g} s")
                summaries["paced"], problems = intake_phase(
                    args,
                    server,
                    accounts,
                    groups,
                    title=f"intake, paced, worker and beat running: {args.clients} clients at a fixed rate",
                    label=f"{tag}c",
                    rate=rate,
                )
                broken += [f"paced intake: {p}" for p in problems]
                summaries["paced backlog"], problems = drain(
                    args, accounts, f"{tag}c", title="processing, worker running during phase 4", groups=groups
                )
                broken += [f"paced intake, processing: {p}" for p in problems]
        else:
            start_celery()

        if not args.skip_propagation:
            h.say(f"phase 5: propagation, {args.changes} changes one after another; /health/: {health_line(server)}")
            summaries["propagation"], problems = propagation_phase(
                args,
                world=world,
                accounts=accounts,
                sandboxes=sandboxes,
                controls=controls,
                worker=worker,
                groups=groups,
            )
            broken += [f"propagation: {p}" for p in problems]

        rows = [("server", server.describe())]
        if worker is not None:
            rows.append(("celery", f"`{worker.describe()}` + `{beat.describe()}`, broker {args.redis_url}"))
        for key, label in (("no worker", "intake, no worker"), ("worker", "intake, worker running")):
            if key in summaries:
                s = summaries[key]
                rows.append(
                    (
                        label,
                        f"{s['rate']:.1f} events/s (target >= {TARGET_INTAKE_RATE:.0f}: "
                        f"{h.verdict(s['rate'] >= TARGET_INTAKE_RATE)}), p50 {s['latency'].p50_ms:.2f} ms, "
                        f"p99 {s['latency'].p99_ms:.2f} ms (target <= {TARGET_INTAKE_P99_MS:.0f} ms: "
                        f"{h.verdict(s['latency'].p99_ms <= TARGET_INTAKE_P99_MS)}), {args.clients} clients saturating",
                    )
                )
        if "paced" in summaries:
            s = summaries["paced"]
            rows.append(
                (
                    "intake, paced",
                    f"{s['rate']:.1f} events/s offered and taken, p50 {s['latency'].p50_ms:.2f} ms, "
                    f"p99 {s['latency'].p99_ms:.2f} ms (target <= {TARGET_INTAKE_P99_MS:.0f} ms: "
                    f"{h.verdict(s['latency'].p99_ms <= TARGET_INTAKE_P99_MS)})",
                )
            )
        if "backlog" in summaries:
            backlog = summaries["backlog"]
            rows.append(
                (
                    "processing",
                    f"{backlog['rate']:.1f} events/s by the worker alone; {backlog['sessions']:.2f} new PostgreSQL "
                    "sessions per event processed",
                )
            )
        if "propagation" in summaries:
            p = summaries["propagation"]
            rows += [
                ("propagation, Amazon", p["amazon"]),
                ("propagation, Medusa", p["medusa"]),
                ("propagation, both", p["both"]),
                (
                    "propagation p95",
                    (f"{p['p95'] * 1000:.0f} ms" if p["p95"] != float("inf") else "not all arrived")
                    + f"  target <= {TARGET_PROPAGATION_P95_S * 1000:.0f} ms: "
                    + h.verdict(p["p95"] <= TARGET_PROPAGATION_P95_S),
                ),
            ]
        rows += [
            ("checks", "all passed" if not broken else f"{len(broken)} FAILED (below)"),
            ("", f"load generator and pollers: Python in this process, on the same {h.CPU_COUNT} cores"),
            ("", f"total run time {time.perf_counter() - started:.0f} s"),
        ]
        h.print_block("webhooks: summary", rows)
    finally:
        for client in controls.values():
            client.close()
        if args.logs:
            keep_logs(Path(args.logs), [worker, beat, *sandboxes.values()])
        for process in (beat, worker):
            if process is not None:
                process.stop()
        if server is not None:
            server.stop()
        for sandbox in sandboxes.values():
            sandbox.stop()
        h.close_django_connections()
        try:
            flush_redis(args.redis_url)
        except Exception as exc:  # a Redis hiccup at the end must not hide the figures
            h.say(f"could not flush {args.redis_url}: {exc}")
        if args.keep:
            h.say(f"kept database {args.db_name} ({h.database_url(args.db_name)})")
        else:
            h.drop_database(args.db_name)
    for problem in broken:
        print(f"BROKEN INVARIANT: {problem}", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
