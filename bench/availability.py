"""Availability reads: 32 clients asking for 5 SKUs each, against a trivial DRF endpoint.

    .venv/bin/python -m bench.availability [--clients 32] [--duration 15] [--workers 4] [--keep]

One gunicorn server (bench/wsgi_with_trivial.py: the app plus /bench/ping/) serves every phase:

1. saturation, availability: K clients send GET /api/v1/availability/?sku=A&...&sku=E (5 random
   SKUs of 500, channel API key) back to back for T seconds: requests/s and latency.
2. saturation, trivial: the same K clients against GET /bench/ping/ (a DRF APIView with no
   authentication, permission or throttle returning {"ok": true}): the throughput ceiling.
3. paced, availability: K clients at a fixed total rate (--paced-fraction of phase 1's
   throughput, 50% by default); latency counted from each request's scheduled time.

Targets (DESIGN.md "Performance budget"): p99 <= 15 ms; availability throughput >= 80% of the
trivial endpoint's. With K clients sending back to back, the mean latency is K / throughput
(Little's law), so the saturated p99 can only meet 15 ms above ~K/0.015 requests/s; phase 3
shows the latency below saturation. Exit status 1 only if the API returns wrong availability.
"""

import argparse
import json
import random
import sys
import time
from urllib.parse import urlencode

from bench import _harness as h

TARGET_P99_MS = 15.0
TARGET_RATIO = 0.80
SKUS_PER_CALL = 5
MAX_REQUESTS_PER_CLIENT = 1_000_000


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.availability", description=__doc__.split("\n")[0])
    h.add_common_arguments(parser, clients=32, duration=15.0, db_name="stockpool_bench_availability")
    parser.add_argument("--skus", type=int, default=500, help="SKUs listed on the channel")
    parser.add_argument(
        "--stock", type=int, nargs=2, default=[120, 30], metavar=("WH1", "WH2"), help="units per SKU per warehouse"
    )
    parser.add_argument(
        "--paced-fraction",
        type=float,
        default=0.5,
        help="phase 3's total rate as a fraction of phase 1's throughput (0 skips phase 3)",
    )
    args = parser.parse_args(argv)
    h.validate_common_arguments(parser, args)
    if not SKUS_PER_CALL <= args.skus <= 20_000 or min(args.stock) < 0:
        parser.error(f"--skus must be {SKUS_PER_CALL}..20000 and --stock not negative")
    if not 0 <= args.paced_fraction <= 1:
        parser.error("--paced-fraction must be between 0 and 1")
    return args


def availability_path(skus: list[str]) -> str:
    return "/api/v1/availability/?" + urlencode([("sku", sku) for sku in skus])


def check_answers(server: h.Server, world: h.World, expected: int) -> list[str]:
    """The API must say what the stock says: every asked SKU sellable with ``expected`` units."""
    http = h.HttpClient(server.port, {"Authorization": f"Api-Key {world.api_key}"})
    problems = []
    try:
        skus = [variant.sku for variant in world.variants]
        for start in range(0, min(len(skus), 50), SKUS_PER_CALL):
            asked = skus[start : start + SKUS_PER_CALL]
            status, data = http.request("GET", availability_path(asked))
            if status != 200:
                problems.append(f"GET {availability_path(asked)} answered {status}: {data[:200]!r}")
                continue
            body = json.loads(data)
            got = {item["sku"]: (item["available"], item["sellable"]) for item in body["items"]}
            want = dict.fromkeys(asked, (expected, expected > 0))
            if got != want or body["unknown_skus"]:
                problems.append(f"asked {asked}: got {got}, unknown {body['unknown_skus']}; expected {want}")
    finally:
        http.close()
    return problems


def load(args, server: h.Server, headers: dict, make_path, *, duration: float, rate: float | None = None):
    """K clients for ``duration`` seconds, back to back or (``rate`` = total requests/s) paced."""

    def client(index: int) -> h.Tally:
        http = h.HttpClient(server.port, headers)
        rng = random.Random(index)

        def request(i):
            return "GET", make_path(rng), None

        try:
            if rate is None:
                return h.closed_loop(http, duration=duration, max_requests=MAX_REQUESTS_PER_CLIENT, request=request)
            return h.paced_loop(
                http, duration=duration, rate=rate / args.clients, request=request, phase=index / args.clients
            )
        finally:
            http.close()

    meter = h.CpuMeter({"gunicorn": server.pids, "postgres (bench db)": lambda: h.postgres_backends(args.db_name)})
    with meter:
        tally, elapsed = h.run_clients(args.clients, client, join_timeout=duration + 60)
    return tally, elapsed, meter


def phase_rows(tally: h.Tally, elapsed: float, meter: h.CpuMeter) -> tuple[float, h.LatencySummary, list]:
    ok = tally.statuses.get(200, 0)
    rate = ok / elapsed
    latency = h.summarize(tally.latencies)
    rows = [
        ("requests/s", f"{rate:.1f}  ({ok} answered 200 in {elapsed:.1f} s)"),
        ("latency", latency.line()),
        ("status codes", h.statuses_line(tally.statuses)),
        ("CPU", meter.line()),
    ]
    return rate, latency, rows


def main(argv=None) -> int:
    args = parse_args(argv)
    tag = h.run_tag()
    cache_prefix = f"stockpool_bench_{tag}"
    h.say(h.background_load())
    started = time.perf_counter()
    broken: list[str] = []
    h.say(f"fresh database {args.db_name}: create, migrate, seed {args.skus} SKUs in 2 warehouses on one channel")
    h.create_database(args.db_name)
    server = None
    try:
        h.prepare_django(args.db_name, args.redis_url, cache_prefix)
        world = h.seed_world(code="avail", sku_count=args.skus, stock=list(args.stock), sku_prefix="AV")
        h.close_django_connections()
        server = h.Server(
            db_name=args.db_name,
            redis_url=args.redis_url,
            cache_prefix=cache_prefix,
            throttle_rate=args.throttle_rate,
            workers=args.workers,
            worker_class=args.worker_class,
            threads=args.threads,
            wsgi="bench.wsgi_with_trivial:application",
        )
        server.start()
        h.say(f"server up: {server.describe()}")
        broken += check_answers(server, world, sum(args.stock))

        skus = [variant.sku for variant in world.variants]
        channel_headers = {"Authorization": f"Api-Key {world.api_key}"}

        def availability(rng: random.Random) -> str:
            return availability_path(rng.sample(skus, SKUS_PER_CALL))

        def ping(rng: random.Random) -> str:
            return "/bench/ping/"

        if args.warmup:
            h.say(f"warm-up {args.warmup:.0f} s per endpoint")
            load(args, server, channel_headers, availability, duration=args.warmup)
            load(args, server, {}, ping, duration=args.warmup)

        h.say(f"phase 1: availability, {args.clients} clients back to back, {args.duration:.0f} s")
        avail_rate, avail_latency, rows = phase_rows(
            *load(args, server, channel_headers, availability, duration=args.duration)
        )
        h.print_block(f"availability, saturated: {args.clients} clients, {SKUS_PER_CALL} SKUs per call", rows)

        h.say(f"phase 2: trivial DRF endpoint, {args.clients} clients back to back, {args.duration:.0f} s")
        ping_rate, ping_latency, rows = phase_rows(*load(args, server, {}, ping, duration=args.duration))
        h.print_block(f"trivial DRF endpoint /bench/ping/, saturated: {args.clients} clients", rows)

        paced_latency = None
        if args.paced_fraction:
            rate = avail_rate * args.paced_fraction
            h.say(f"phase 3: availability paced at {rate:.0f} requests/s in total, {args.duration:.0f} s")
            paced_rate, paced_latency, rows = phase_rows(
                *load(args, server, channel_headers, availability, duration=args.duration, rate=rate)
            )
            rows.insert(0, ("offered load", f"{rate:.1f} requests/s ({args.paced_fraction:.0%} of phase 1)"))
            h.print_block(f"availability, paced: {args.clients} clients at a fixed rate", rows)

        ratio = avail_rate / ping_rate if ping_rate else 0.0
        little_ms = args.clients / avail_rate * 1000 if avail_rate else 0.0
        rows = [
            ("server", server.describe()),
            (
                "availability",
                f"{avail_rate:.1f} requests/s, p50 {avail_latency.p50_ms:.2f} ms, "
                f"p99 {avail_latency.p99_ms:.2f} ms (saturated)",
            ),
            (
                "trivial DRF",
                f"{ping_rate:.1f} requests/s, p50 {ping_latency.p50_ms:.2f} ms, "
                f"p99 {ping_latency.p99_ms:.2f} ms (saturated)",
            ),
            (
                "throughput ratio",
                f"{ratio * 100:.1f}%  target >= {TARGET_RATIO * 100:.0f}%: {h.verdict(ratio >= TARGET_RATIO)}",
            ),
            (
                "p99, saturated",
                f"{avail_latency.p99_ms:.2f} ms  target <= {TARGET_P99_MS:.0f} ms: "
                f"{h.verdict(avail_latency.p99_ms <= TARGET_P99_MS)}  (Little's law: mean >= "
                f"{args.clients} / {avail_rate:.0f} per s = {little_ms:.0f} ms)",
            ),
        ]
        if paced_latency is not None:
            rows.append(
                (
                    "p99, paced",
                    f"{paced_latency.p99_ms:.2f} ms at {paced_rate:.0f} requests/s  target <= "
                    f"{TARGET_P99_MS:.0f} ms: {h.verdict(paced_latency.p99_ms <= TARGET_P99_MS)}",
                )
            )
        rows += [
            ("answers", "correct" if not broken else f"WRONG ({len(broken)} checks failed)"),
            ("", f"load generator: Python threads on the same {h.CPU_COUNT} cores as the server and PostgreSQL"),
            ("", f"total run time {time.perf_counter() - started:.0f} s"),
        ]
        h.print_block("availability: summary", rows)
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
