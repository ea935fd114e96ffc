"""Propagation of an Amazon order: from its ORDER_CHANGE notification to the new quantity at the Medusa sandbox.

    .venv/bin/python -m bench.amazon_orders [--orders 100] [--skus 20] [--status Pending] [--keep]

One world and the processes production runs: gunicorn (as the other benchmarks run it), the Celery worker and
beat with config/Procfile's own commands, and the Amazon and Medusa sandboxes as processes of their own.

1. a supplier's warehouse (not mirrored), an Amazon marketplace channel and a Medusa storefront both drawing
   from it, N SKUs listed on both with stock received through ``inventory.services``; the sandboxes list them
   at what we would publish now (``run_sandbox amazon|medusa --mirror-channel``), the Amazon one with its
   documented usage plans on; the Amazon account's webhook secret is the relay's API key and the sandbox
   relays its notifications (ORDER_CHANGE and the MFN quantity change, as Amazon sends both) to our intake;
   the Amazon offers are learnt once beforehand (one searchListingsItems per 20 SKUs), as in steady state;
2. M times, one after another, a buyer orders one unit of a SKU on Amazon (the sandbox's ``POST
   /_sandbox/orders``, MFN): Amazon takes the unit at once and sends ORDER_CHANGE, then the quantity change; from
   the moment the order is placed the bench polls the Medusa sandbox's stocked quantity every --poll-interval
   until it shows the SKU's figure less the unit (one not there within --change-timeout is a failure):
   p50/p95/max, and where the time went (event stored, processed, Medusa's publication delivered);
3. checks: every order booked exactly once (a channel order per Amazon order id, holding or selling one
   unit); our availability, the Amazon and the Medusa sandboxes' figures equal for every SKU; the outbox
   settled; on_hand >= reserved >= 0, reserved equal to the active lines, the ledger balanced; no 429 and no
   spec violation at either sandbox.

Target (DESIGN.md "Performance budget", propagation): p95 <= 1 s. Exit status 1 only when a check failed.
"""

import argparse
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from types import SimpleNamespace

from bench import _harness as h
from bench.webhooks import (
    CeleryProcess,
    ControlClient,
    SandboxProcess,
    check_outbox_settled,
    flush_redis,
    health_line,
    sandbox_quantity,
    stock_invariants,
)

TARGET_P95_S = 1.0
#: This script's own Redis database (the app's cache, rate-limit buckets and the Celery broker), flushed at the
#: start and the end: the other benchmarks use 9, 10 and 11, the tests 1 and others.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
WAREHOUSE = "bench-amz-main"
FBA = "bench-amz-fba"
AMAZON_CHANNEL = "bench-amz-us"
MEDUSA_CHANNEL = "bench-amz-medusa"
MEDUSA_LOCATION = "US Warehouse"
SKU_PREFIX = "AOB"
WARMUP_ORDERS = 3


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.amazon_orders", description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=100, help="Amazon orders placed, one after another")
    parser.add_argument("--skus", type=int, default=20, help="SKUs the orders go round")
    parser.add_argument(
        "--status", choices=["Pending", "Unshipped"], default="Pending", help="the orders' status when placed"
    )
    parser.add_argument("--poll-interval", type=float, default=0.01, help="seconds between polls of Medusa")
    parser.add_argument("--change-timeout", type=float, default=10.0, help="an order not arrived by then failed")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--db-name", default="stockpool_bench_amazon_orders", help=f"bench database ({h.DB_PREFIX}...)")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="Redis for the app (flushed)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    args = parser.parse_args(argv)
    if not 1 <= args.orders <= 2_000 or not 1 <= args.skus <= 500:
        parser.error("--orders must be 1..2000 and --skus 1..500")
    if not 0.001 <= args.poll_interval <= 1 or not 1 <= args.change_timeout <= 120:
        parser.error("--poll-interval must be 0.001..1 s and --change-timeout 1..120 s")
    if not args.redis_url.startswith(("redis://127.0.0.1:", "redis://localhost:")):
        parser.error("--redis-url must be a Redis on 127.0.0.1 (it is flushed)")
    try:
        h.check_db_name(args.db_name)
    except ValueError as exc:
        parser.error(str(exc))
    return args


# --- the world ---------------------------------------------------------------------------------------


@dataclass
class World:
    organization: object
    warehouse: object
    fba: object
    amazon_channel: object
    medusa_channel: object
    variants: dict[str, int]  # sku -> variant id
    available: dict[str, int]  # sku -> what every channel may sell now


def seed_world(skus: int, orders: int) -> World:
    """A supplier's warehouse, both channels drawing from it and ``skus`` variants listed on both, each with enough
    units that every order finds one."""
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

    organization = Organization.objects.create(name="Bench BMB", slug="bench-bmb", kind=Organization.Kind.SUPPLIER)
    warehouse = Warehouse.objects.create(organization=organization, code=WAREHOUSE, name="Bench cash & carry")
    fba = Warehouse.objects.create(
        organization=organization, code=FBA, name="Bench FBA", system_of_record=Warehouse.SystemOfRecord.AMAZON_FBA
    )
    amazon = Channel.objects.create(
        organization=organization, code=AMAZON_CHANNEL, name="Bench Amazon US", kind=Channel.Kind.MARKETPLACE
    )
    medusa = Channel.objects.create(
        organization=organization, code=MEDUSA_CHANNEL, name="Bench Medusa", kind=Channel.Kind.STOREFRONT
    )
    ChannelWarehouse.objects.bulk_create(
        ChannelWarehouse(channel=channel, warehouse=warehouse, priority=0) for channel in (amazon, medusa)
    )
    category = Category.objects.create(name="Bench Amazon orders", slug="bench-amazon-orders")
    product = Product.objects.create(organization=organization, category=category, name="Bench disposable")
    variants = Variant.objects.bulk_create(
        Variant(product=product, sku=f"{SKU_PREFIX}-{i:04d}", name=f"#{i}", price=Decimal("19.99")) for i in range(skus)
    )
    ChannelListing.objects.bulk_create(
        ChannelListing(channel=channel, variant=variant) for channel in (amazon, medusa) for variant in variants
    )
    units = orders // skus + WARMUP_ORDERS + 20
    apply_stock_changes(
        [
            StockChange(warehouse, v, StockMovement.Reason.RECEIPT, delta=units, reference="bench seed")
            for v in variants
        ],
        source=StockMovement.Source.SYSTEM,
    )
    h.sql_rows("ANALYZE")
    return World(
        organization, warehouse, fba, amazon, medusa, {v.sku: v.pk for v in variants}, {v.sku: units for v in variants}
    )


def create_accounts(world: World, amazon_state: dict, medusa_state: dict) -> SimpleNamespace:
    from connectors.models import ConnectorAccount, Kind

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
    amazon.credentials = {key: amazon_state[key] for key in ("client_id", "client_secret", "refresh_token")}
    amazon.webhook_secret = amazon_state["relay_api_key"]
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
    for account in (amazon, medusa):
        account.full_clean()
        account.save()
    return SimpleNamespace(amazon=amazon, medusa=medusa)


def medusa_listings(world: World) -> dict[str, int]:
    from inventory.models import ChannelListing

    return dict(ChannelListing.objects.filter(channel=world.medusa_channel).values_list("variant__sku", "pk"))


def learn_offers(account, world: World) -> float:
    """Steady state: what Amazon fulfils and under which product type, known before the first order."""
    from connectors.amazon import AmazonConnector

    began = time.perf_counter()
    offers = AmazonConnector(account).offers({pk: sku for sku, pk in world.variants.items()})
    if len(offers) != len(world.variants) or any(o.fulfillment != "MFN" for o in offers.values()):
        raise RuntimeError(f"learnt {len(offers)} offers for {len(world.variants)} SKUs, or some not MFN")
    return time.perf_counter() - began


# --- propagation -------------------------------------------------------------------------------------


@dataclass
class Order:
    sku: str
    expected: int
    started: float  # time.time() when the buyer ordered
    order_id: str = ""
    notified_s: float = 0.0  # until the sandbox's control call returned: both notifications delivered and answered
    answer: str = ""
    event_pk: int | None = None
    medusa_s: float | None = None
    stages: dict = field(default_factory=dict)


def place_and_wait(args, controls: dict[str, ControlClient], sku: str, expected: int) -> Order:
    order = Order(sku=sku, expected=expected, started=time.time())
    t0 = time.perf_counter()
    result = controls["amazon"].call(
        "POST", "/_sandbox/orders", {"sku": sku, "quantity": 1, "fulfillment_channel": "MFN", "status": args.status}
    )
    order.notified_s = time.perf_counter() - t0
    order.order_id = result["order"]["AmazonOrderId"]
    change = next((d for d in result.get("deliveries") or [] if d.get("event") == "ORDER_CHANGE"), {})
    try:
        answer = json.loads(change.get("response_body") or "{}")
    except ValueError:
        answer = {}
    order.answer, order.event_pk = str(answer.get("status", "")), answer.get("id")
    deadline, tick = t0 + args.change_timeout, t0
    while True:
        if sandbox_quantity(controls["medusa"], sku, MEDUSA_LOCATION) == expected:
            order.medusa_s = time.perf_counter() - t0
            return order
        now = time.perf_counter()
        if now >= deadline:
            return order
        tick = max(tick + args.poll_interval, now)
        time.sleep(tick - now)


def record_stages(order: Order, accounts, listing_id: int) -> None:
    """Our side's timestamps: the event stored and processed, Medusa's publication claimed and delivered."""
    from connectors.models import OutboundMessage, WebhookEvent
    from connectors.publishing import dedupe_key

    deadline = time.monotonic() + 3
    while True:
        event = WebhookEvent.objects.filter(pk=order.event_pk).values("received_at", "processed_at").first()
        message = (
            OutboundMessage.objects.filter(account=accounts.medusa, dedupe_key=dedupe_key(listing_id))
            .values("sent_at", "delivered_at", "status", "payload")
            .first()
        )
        done = message and message["status"] == "delivered" and message["payload"]["quantity"] == order.expected
        if (done and event and event["processed_at"]) or time.monotonic() > deadline:
            break
        time.sleep(0.02)

    def at(moment):
        return moment.timestamp() - order.started if moment is not None else None

    if event:
        order.stages["ORDER_CHANGE stored (received_at)"] = at(event["received_at"])
        order.stages["ORDER_CHANGE processed: order booked"] = at(event["processed_at"])
    if done:
        order.stages["Medusa publication claimed (sent_at)"] = at(message["sent_at"])
        order.stages["Medusa publication marked delivered"] = at(message["delivered_at"])


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    return (
        f"p50 {h.percentile(ordered, 0.5) * 1000:.0f} ms, p95 {h.percentile(ordered, 0.95) * 1000:.0f} ms, "
        f"max {ordered[-1] * 1000:.0f} ms ({len(values)} orders)"
    )


def check_books(world: World, accounts, controls: dict[str, ControlClient], orders: list[Order]) -> list[str]:
    from inventory.models import ChannelListing
    from inventory.selectors import listing_availability
    from reservations.models import Reservation

    problems = []
    booked = Counter(
        Reservation.objects.filter(channel=world.amazon_channel, kind="channel_order").values_list(
            "order_ref", flat=True
        )
    )
    placed = {order.order_id for order in orders}
    if set(booked) != placed or any(count != 1 for count in booked.values()):
        problems.append(f"{len(placed)} Amazon orders placed, {sum(booked.values())} channel orders booked")
    available = {
        (entry.rules.channel_id, entry.rules.sku): entry.available
        for entry in listing_availability(ChannelListing.objects.all())
    }
    for sku, expected in world.available.items():
        figures = {
            "amazon channel": available[(world.amazon_channel.pk, sku)],
            "medusa channel": available[(world.medusa_channel.pk, sku)],
            "amazon sandbox": sandbox_quantity(controls["amazon"], sku, "DEFAULT"),
            "medusa sandbox": sandbox_quantity(controls["medusa"], sku, MEDUSA_LOCATION),
        }
        if any(value != expected for value in figures.values()):
            problems.append(f"{sku}: expected {expected}, {figures}")
    return problems + stock_invariants()


def partner_checks(sandboxes: dict[str, SandboxProcess]) -> tuple[str, list[str]]:
    problems, calls = [], Counter()
    for name, sandbox in sandboxes.items():
        log = sandbox.call("GET", "/_sandbox/requests")["requests"]
        throttled = sum(1 for r in log if r.get("status") == 429)
        if throttled:
            problems.append(f"{throttled} answers 429 at the {name} sandbox")
        violations = sandbox.call("GET", "/_sandbox/spec-violations").get("violations") or []
        if violations:
            problems.append(f"{len(violations)} spec violations at the {name} sandbox")
        for record in log:
            operation = "/".join(record["path"].split("/")[1:3])
            calls[f"{name} {record['method']} /{operation} {record.get('status')}"] += 1
    return ", ".join(f"{what} x{count}" for what, count in sorted(calls.items())), problems


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.pop("CELERY_BROKER_URL", None)  # the broker is REDIS_URL's database, as in production
    tag = h.run_tag()
    cache_prefix = f"stockpool_bench_{tag}"
    h.say(h.background_load())
    started = time.perf_counter()
    broken: list[str] = []
    h.say(f"fresh database {args.db_name}; flushed {flush_redis(args.redis_url)} keys from {args.redis_url}")
    h.create_database(args.db_name)
    server = worker = beat = None
    sandboxes: dict[str, SandboxProcess] = {}
    controls: dict[str, ControlClient] = {}
    try:
        h.prepare_django(args.db_name, args.redis_url, cache_prefix)
        world = seed_world(args.skus, args.orders)
        h.close_django_connections()
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        sandboxes = {
            "amazon": SandboxProcess("amazon", ["--mirror-channel", AMAZON_CHANNEL], env),
            "medusa": SandboxProcess(
                "medusa", ["--mirror-channel", MEDUSA_CHANNEL, "--mirror-location", MEDUSA_LOCATION], env
            ),
        }
        for sandbox in sandboxes.values():
            sandbox.launch()
        states = {name: sandbox.wait_ready() for name, sandbox in sandboxes.items()}
        controls = {name: ControlClient(sandbox.port) for name, sandbox in sandboxes.items()}
        if not sandboxes["amazon"].call("GET", "/_sandbox/config").get("enforce_rate_limits"):
            raise RuntimeError("the Amazon sandbox's usage plans are off")
        accounts = create_accounts(world, states["amazon"], states["medusa"])
        learnt = learn_offers(accounts.amazon, world)
        listing_ids = medusa_listings(world)
        h.say(
            f"seeded {args.skus} SKUs listed on {AMAZON_CHANNEL} and {MEDUSA_CHANNEL}; sandboxes up; "
            f"Amazon offers learnt in {learnt:.2f} s"
        )
        h.close_django_connections()

        server = h.Server(
            db_name=args.db_name,
            redis_url=args.redis_url,
            cache_prefix=cache_prefix,
            throttle_rate=h.BENCH_THROTTLE_RATE,
            workers=args.workers,
            worker_class="sync",
            threads=1,
        )
        server.start()
        sandboxes["amazon"].call(
            "POST",
            "/_sandbox/webhook",
            {
                "url": f"http://{h.LOOPBACK}:{server.port}/webhooks/{accounts.amazon.pk}/",
                "events": ["ORDER_CHANGE", "LISTINGS_ITEM_MFN_QUANTITY_CHANGE"],
            },
        )
        celery_env = {k: v for k, v in server.env.items() if k != "LOG_LEVEL"}
        worker, beat = CeleryProcess("worker", celery_env), CeleryProcess("beat", celery_env)
        worker.start()
        beat.start()
        worker.wait_for(" ready.")
        beat.wait_for("beat: Starting")
        deadline = time.monotonic() + 45
        while health_line(server) != "worker ok, beat ok" and time.monotonic() < deadline:
            time.sleep(0.5)
        h.say(f"server: {server.describe()}; celery: `{worker.describe()}` + `{beat.describe()}`")

        skus = list(world.variants)
        orders: list[Order] = []
        for index in range(WARMUP_ORDERS + args.orders):
            sku = skus[index % len(skus)]
            world.available[sku] -= 1
            order = place_and_wait(args, controls, sku, world.available[sku])
            if index >= WARMUP_ORDERS:
                record_stages(order, accounts, listing_ids[sku])
            orders.append(order)
            if order.medusa_s is None:
                broken.append(f"order {order.order_id} of {sku} not at Medusa within {args.change_timeout:g} s")
            if (index + 1) % 25 == 0:
                h.say(f"{index + 1 - WARMUP_ORDERS} of {args.orders} orders")
        measured = orders[WARMUP_ORDERS:]

        statuses, problems = check_outbox_settled(accounts)
        broken += problems + check_books(world, accounts, controls, orders)
        calls, problems = partner_checks(sandboxes)
        broken += problems
        arrived = [order.medusa_s for order in measured if order.medusa_s is not None]
        p95 = h.percentile(sorted(arrived), 0.95) if len(arrived) == len(measured) else float("inf")
        stages = {}
        for order in measured:
            for stage, seconds in order.stages.items():
                if seconds is not None:
                    stages.setdefault(stage, []).append(seconds)
        rows = [
            ("orders", f"{len(measured)} MFN orders of 1 unit, {args.status}, one after another over {args.skus} SKUs"),
            ("ORDER_CHANGE -> Medusa", percentiles(arrived) if arrived else "none arrived"),
            (
                "p95",
                (f"{p95 * 1000:.0f} ms" if p95 != float("inf") else "not all arrived")
                + f"  target <= {TARGET_P95_S * 1000:.0f} ms: {h.verdict(p95 <= TARGET_P95_S)}",
            ),
            ("notifications", percentiles([o.notified_s for o in measured]) + ": both relayed and answered 202"),
            *[(f"  {stage}", percentiles(values)) for stage, values in stages.items()],
            ("intake answers", ", ".join(f"{k} x{v}" for k, v in Counter(o.answer for o in measured).items())),
            ("outbox", ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))),
            ("partner calls", calls),
            ("server", server.describe()),
            ("checks", "all passed" if not broken else f"{len(broken)} FAILED (below)"),
            ("", f"pollers: Python in this process, on the same {h.CPU_COUNT} cores"),
            ("", f"total run time {time.perf_counter() - started:.0f} s"),
        ]
        h.print_block("Amazon order -> Medusa: summary", rows)
    finally:
        for client in controls.values():
            client.close()
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
