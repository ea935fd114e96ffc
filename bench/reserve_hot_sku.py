"""Reservations on one hot SKU: K HTTP clients against the raw-SQL ceiling, and zero oversell.

    .venv/bin/python -m bench.reserve_hot_sku [--clients 16] [--duration 20] [--workers 4] [--keep]

1. Hot SKU, large stock: K clients POST /api/v1/reservations/ (1 unit, a unique order_ref
   each) back to back for T seconds. Reservations/s, latency, status counts; then the stock
   is audited in SQL (on_hand >= reserved, reserved == the active reservation lines, one unit
   per 201, every 201's order_ref held in the database).
2. The ceiling: pgbench on the same database and stock row, K connections, T seconds, running
   the transaction the reserve path runs at its core, in the app's order: insert the
   reservation, lock the level FOR UPDATE, reserved + 1, insert the line, commit.
3. Small stock: the level is set to 50 units; K clients each reserve 1 unit at a time until
   they are refused. Exactly 50 must get 201 and every client must end on a 409.

Exit status 1 only when an invariant broke (oversell, lost or phantom holds); a missed
performance target is reported, not failed.
"""

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench import _harness as h

TARGET_RATIO = 0.50
#: Upper bound on requests per client per phase (the phases end on time long before this).
MAX_REQUESTS_PER_CLIENT = 1_000_000

PGBENCH_SCRIPT = r"""
\set n :n + 1
BEGIN;
INSERT INTO reservations_reservation
    (id, channel_id, order_ref, kind, status, expires_at,
     release_reason, invoice_number, customer_name, created_at, updated_at)
VALUES
    (gen_random_uuid(), :channel_id, 'pgb-' || :tag || '-' || :client_id || '-' || :n, 'checkout', 'active',
     now() + interval '15 minutes', '', '', '', now(), now())
RETURNING id AS rid \gset
SELECT id, on_hand, reserved FROM inventory_stocklevel WHERE id = :level_id FOR UPDATE;
UPDATE inventory_stocklevel SET reserved = reserved + 1, updated_at = now() WHERE id = :level_id;
INSERT INTO reservations_reservationline (reservation_id, variant_id, warehouse_id, quantity)
VALUES (':rid', :variant_id, :warehouse_id, 1);
COMMIT;
"""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.reserve_hot_sku", description=__doc__.split("\n")[0])
    h.add_common_arguments(parser, clients=16, duration=20.0, db_name="stockpool_bench_reserve")
    parser.add_argument("--stock", type=int, default=1_000_000, help="units on hand for the hot-SKU phase")
    parser.add_argument("--small-stock", type=int, default=50, help="units on hand for the sell-out phase")
    parser.add_argument("--no-pgbench", action="store_true", help="skip the raw-SQL ceiling")
    args = parser.parse_args(argv)
    h.validate_common_arguments(parser, args)
    if not 1 <= args.small_stock <= 10_000 or not 1_000 <= args.stock <= 100_000_000:
        parser.error("--small-stock must be 1..10000 and --stock 1000..100000000")
    return args


# --- the app under load --------------------------------------------------------------------------


def reserve_load(args, server: h.Server, world: h.World, *, label: str, duration: float, stop_on_409: bool):
    """K clients reserving 1 unit each per request; returns (tally, elapsed). The tally's notes
    are (order_ref, status) pairs for every 201 and every transport error."""
    sku = world.variants[0].sku
    headers = {"Authorization": f"Api-Key {world.api_key}"}
    max_requests = args.small_stock + 2 if stop_on_409 else MAX_REQUESTS_PER_CLIENT

    def client(index: int) -> h.Tally:
        http = h.HttpClient(server.port, headers)

        def request(i):
            body = {"order_ref": f"{label}-{index}-{i}", "items": [{"sku": sku, "quantity": 1}]}
            return "POST", "/api/v1/reservations/", json.dumps(body).encode()

        def on_response(i, status, data, tally):
            if status in (0, 201):
                tally.notes.append((f"{label}-{index}-{i}", status))
            return not (stop_on_409 and status == 409)

        try:
            return h.closed_loop(
                http, duration=duration, max_requests=max_requests, request=request, on_response=on_response
            )
        finally:
            http.close()

    return h.run_clients(args.clients, client, join_timeout=duration + 60)


def measured(args, server, world, *, label, duration, stop_on_409=False):
    meter = h.CpuMeter({"gunicorn": server.pids, "postgres (bench db)": lambda: h.postgres_backends(args.db_name)})
    with meter:
        tally, elapsed = reserve_load(args, server, world, label=label, duration=duration, stop_on_409=stop_on_409)
    return tally, elapsed, meter


# --- the stock audit -----------------------------------------------------------------------------


def level_row(level_id: int) -> tuple[int, int]:
    ((on_hand, reserved),) = h.sql_rows("SELECT on_hand, reserved FROM inventory_stocklevel WHERE id = %s", [level_id])
    return on_hand, reserved


def audit(tally: h.Tally, *, reserved_before: int, level_id: int) -> dict:
    """Everything that would show an oversell or a lost hold, in units."""
    over, drift = h.sql_rows(
        """
        WITH held AS (
            SELECT line.warehouse_id, line.variant_id, SUM(line.quantity) AS units
            FROM reservations_reservationline line
            JOIN reservations_reservation r ON r.id = line.reservation_id AND r.status = 'active'
            WHERE line.warehouse_id IS NOT NULL
            GROUP BY line.warehouse_id, line.variant_id
        )
        SELECT COALESCE(SUM(GREATEST(level.reserved - level.on_hand, 0)), 0),
               COALESCE(SUM(ABS(level.reserved - COALESCE(held.units, 0))), 0)
        FROM inventory_stocklevel level
        LEFT JOIN held ON held.warehouse_id = level.warehouse_id AND held.variant_id = level.variant_id
        """
    )[0]
    acknowledged = [ref for ref, status in tally.notes if status == 201]
    unanswered = [ref for ref, status in tally.notes if status == 0]
    held_refs = {
        ref
        for (ref,) in h.sql_rows(
            "SELECT order_ref FROM reservations_reservation WHERE status = 'active' AND order_ref = ANY(%s)",
            [acknowledged + unanswered],
        )
    }
    on_hand, reserved = level_row(level_id)
    units = reserved - reserved_before
    lost = sum(1 for ref in acknowledged if ref not in held_refs)  # a 201 with no hold behind it
    held_unanswered = sum(1 for ref in unanswered if ref in held_refs)  # held, but the client never heard
    unexplained = abs(units - len(acknowledged) - held_unanswered)  # units held beyond what was answered
    return {
        "on_hand": on_hand,
        "reserved": reserved,
        "units": units,
        "acknowledged": len(acknowledged),
        "on_hand_below_reserved": int(over),
        "reserved_vs_lines": int(drift),
        "lost_201s": lost,
        "held_unanswered": held_unanswered,
        "unexplained_units": unexplained,
        "oversold": int(over) + int(drift) + lost + unexplained,
    }


def audit_rows(result: dict) -> list[tuple[str, str]]:
    return [
        (
            "level after",
            f"on_hand {result['on_hand']}, reserved {result['reserved']} (+{result['units']} in this phase)",
        ),
        ("201s vs units held", f"{result['acknowledged']} acknowledged, {result['units']} units held"),
        (
            "OVERSOLD units",
            f"{result['oversold']}  (on_hand < reserved: {result['on_hand_below_reserved']}, "
            f"reserved != active lines: {result['reserved_vs_lines']}, 201 without a hold: {result['lost_201s']}, "
            f"units held beyond the 201s: {result['unexplained_units']}) -> "
            + ("OK" if result["oversold"] == 0 else "BROKEN"),
        ),
    ] + (
        [("held, answer lost", f"{result['held_unanswered']} (transport errors whose hold was taken)")]
        if result["held_unanswered"]
        else []
    )


def reset_level(world: h.World, on_hand: int) -> None:
    """Expire every hold through the app's expiry service, then count the level to ``on_hand``."""
    from django.utils import timezone

    from inventory.models import StockMovement
    from inventory.services import adjust_stock
    from reservations.models import Reservation
    from reservations.services import expire_overdue

    Reservation.objects.filter(status=Reservation.Status.ACTIVE).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    expire_overdue()
    adjust_stock(
        warehouse=world.warehouses[0],
        variant=world.variants[0],
        reason=StockMovement.Reason.COUNT,
        source=StockMovement.Source.SYSTEM,
        set_on_hand=on_hand,
        reference="bench reset",
    )


# --- the ceiling ---------------------------------------------------------------------------------


def pgbench_ceiling(args, world: h.World, level_id: int) -> dict | None:
    pgbench = shutil.which("pgbench")
    if pgbench is None:
        return None
    warehouse, variant = world.warehouses[0], world.variants[0]
    with tempfile.TemporaryDirectory(prefix="stockpool-bench-") as tmp:
        script = Path(tmp) / "reserve.sql"
        script.write_text(PGBENCH_SCRIPT)
        command = [pgbench, "-h", h.PG_HOST, "-p", str(h.PG_PORT), "-U", h.PG_USER, "-n", "-M", "simple"]
        command += ["-f", str(script), "-c", str(args.clients), "-j", str(min(2, args.clients))]
        command += ["-T", str(max(1, round(args.duration)))]
        variables = {
            "n": 0,
            "tag": int(time.time()),
            "channel_id": world.channel.pk,
            "level_id": level_id,
            "variant_id": variant.pk,
            "warehouse_id": warehouse.pk,
        }
        for name, value in variables.items():
            command += ["-D", f"{name}={value}"]
        command.append(args.db_name)
        meter = h.CpuMeter({"postgres (bench db)": lambda: h.postgres_backends(args.db_name)})
        with meter:
            done = subprocess.run(command, capture_output=True, text=True, timeout=args.duration + 120, check=False)
    output = done.stdout + done.stderr
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", output)
    latency = re.search(r"latency average = ([\d.]+) ms", output)
    processed = re.search(r"number of transactions actually processed: (\d+)", output)
    failed = re.search(r"number of failed transactions: (\d+)", output)
    if done.returncode != 0 or tps is None:
        h.say(f"pgbench failed (exit {done.returncode}):\n{output[-2000:]}")
        return None
    return {
        "tps": float(tps.group(1)),
        "latency_ms": float(latency.group(1)) if latency else None,
        "processed": int(processed.group(1)) if processed else None,
        "failed": int(failed.group(1)) if failed else None,
        "command": f"pgbench -n -M simple -f reserve.sql -c {args.clients} -j {min(2, args.clients)} "
        f"-T {max(1, round(args.duration))} -D level_id={level_id} ... {args.db_name}",
        "cpu": meter,
    }


# --- the run -------------------------------------------------------------------------------------


def main(argv=None) -> int:
    args = parse_args(argv)
    tag = h.run_tag()
    cache_prefix = f"stockpool_bench_{tag}"
    h.say(h.background_load())
    started = time.perf_counter()
    broken: list[str] = []
    h.say(f"fresh database {args.db_name}: create, migrate, seed 1 SKU with {args.stock} units on one channel")
    h.create_database(args.db_name)
    server = None
    try:
        h.prepare_django(args.db_name, args.redis_url, cache_prefix)
        world = h.seed_world(code="hot", sku_count=1, stock=[args.stock], sku_prefix="HOT")
        level_id = world.levels[(world.warehouses[0].pk, world.variants[0].pk)]
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

        # 1. the hot SKU
        if args.warmup:
            h.say(f"warm-up {args.warmup:.0f} s")
            reserve_load(args, server, world, label=f"warm{tag}", duration=args.warmup, stop_on_409=False)
        reserved_before = level_row(level_id)[1]
        h.say(f"phase 1: {args.clients} clients reserve 1 unit each, back to back, for {args.duration:.0f} s")
        tally, elapsed, cpu = measured(args, server, world, label=f"hot{tag}", duration=args.duration)
        hot = audit(tally, reserved_before=reserved_before, level_id=level_id)
        created = tally.statuses.get(201, 0)
        app_rate = created / elapsed
        if hot["oversold"]:
            broken.append(f"hot SKU: {hot['oversold']} units oversold or unaccounted")
        hot_rows = [
            ("reservations/s", f"{app_rate:.1f}  ({created} created in {elapsed:.1f} s)"),
            ("latency", h.summarize(tally.latencies).line()),
            ("status codes", h.statuses_line(tally.statuses)),
            *audit_rows(hot),
            ("CPU", cpu.line()),
        ]
        h.print_block(f"hot SKU via HTTP: {args.clients} clients, {server.describe()}", hot_rows)

        # 2. the raw-SQL ceiling on the same row
        ceiling = None
        if not args.no_pgbench:
            reset_level(world, args.stock)
            reserved_before = level_row(level_id)[1]
            h.say(f"phase 2: pgbench, {args.clients} connections, {max(1, round(args.duration))} s, same stock row")
            ceiling = pgbench_ceiling(args, world, level_id)
            if ceiling is None:
                h.say("pgbench is not available (apt-get install postgresql-client); no ceiling this run")
            else:
                on_hand, reserved = level_row(level_id)
                pg_audit = audit(h.Tally(), reserved_before=reserved_before, level_id=level_id)
                if pg_audit["on_hand_below_reserved"] or pg_audit["reserved_vs_lines"]:
                    broken.append("pgbench phase left the stock inconsistent")
                pg_rows = [
                    (
                        "transactions/s",
                        f"{ceiling['tps']:.1f}  ({ceiling['processed']} processed, "
                        f"{ceiling['failed']} failed, latency average {ceiling['latency_ms']} ms)",
                    ),
                    (
                        "level after",
                        f"on_hand {on_hand}, reserved {reserved} (+{reserved - reserved_before}); "
                        f"reserved != active lines: "
                        f"{pg_audit['reserved_vs_lines']}, on_hand < reserved: {pg_audit['on_hand_below_reserved']}",
                    ),
                    ("CPU", ceiling["cpu"].line()),
                    ("command", ceiling["command"]),
                ]
                h.print_block("raw-SQL ceiling: pgbench, insert + lock + update + insert + commit", pg_rows)

        # 3. sell-out: exactly the stock, no more
        reset_level(world, args.small_stock)
        reserved_before = level_row(level_id)[1]
        h.say(f"phase 3: {args.small_stock} units; {args.clients} clients reserve until refused")
        small, small_elapsed, _ = measured(
            args, server, world, label=f"out{tag}", duration=min(30.0, args.duration + 10), stop_on_409=True
        )
        sellout = audit(small, reserved_before=reserved_before, level_id=level_id)
        won, refused = small.statuses.get(201, 0), small.statuses.get(409, 0)
        exact = won == args.small_stock and refused == args.clients and sellout["reserved"] == args.small_stock
        if sellout["oversold"] or won > args.small_stock:
            broken.append(f"sell-out: {won} reservations of {args.small_stock} units, oversold {sellout['oversold']}")
        h.print_block(
            f"sell-out: {args.small_stock} units, {args.clients} clients until refused",
            [
                ("status codes", h.statuses_line(small.statuses) + f"  ({small_elapsed:.2f} s)"),
                ("expected", f"201: {args.small_stock}, 409: {args.clients} -> " + ("OK" if exact else "DIFFERENT")),
                *audit_rows(sellout),
            ],
        )

        # the verdict
        rows = [("app", f"{app_rate:.1f} reservations/s (HTTP, {args.clients} clients, {server.describe()})")]
        if ceiling:
            ratio = app_rate / ceiling["tps"] if ceiling["tps"] else 0.0
            rows += [
                ("ceiling", f"{ceiling['tps']:.1f} transactions/s (pgbench, {args.clients} connections)"),
                (
                    "app / ceiling",
                    f"{ratio * 100:.1f}%  target >= {TARGET_RATIO * 100:.0f}%: {h.verdict(ratio >= TARGET_RATIO)}",
                ),
            ]
        else:
            rows.append(("app / ceiling", "n/a (no pgbench figure)"))
        rows += [
            (
                "oversold",
                f"{hot['oversold'] + sellout['oversold']} units  target 0: {'PASS' if not broken else 'BROKEN'}",
            ),
            ("sell-out", f"{won} of {args.small_stock} units reserved, {refused} refusals"),
            ("", f"load generator: Python threads on the same {h.CPU_COUNT} cores as the server and PostgreSQL"),
            ("", f"total run time {time.perf_counter() - started:.0f} s"),
        ]
        h.print_block("reserve on a hot SKU: summary", rows)
    finally:
        if server is not None:
            server.stop()
        h.close_django_connections()
        try:
            h.forget_cache_keys(args.redis_url, cache_prefix)
        except Exception as exc:  # a Redis hiccup at the end must not hide the figures
            h.say(f"could not clean the bench cache keys: {exc}")
        if args.keep:
            h.say(f"kept database {args.db_name} ({h.database_url(args.db_name)})")
        else:
            h.drop_database(args.db_name)
    for problem in broken:
        print(f"BROKEN INVARIANT: {problem}", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
