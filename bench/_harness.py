"""What the benchmarks share: a throwaway database, a seeded world, a gunicorn server, a load loop.

Everything stays on 127.0.0.1: PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth),
Redis at 127.0.0.1:6379 (database 9 by default, keys under a per-run prefix), and gunicorn
on a free loopback port. Every load loop is bounded by a deadline and a request count.

The benchmark process itself runs Django against the bench database (to migrate, seed
through the project's services and check invariants afterwards); the server runs in
gunicorn worker processes with the same DATABASE_URL.
"""

import argparse
import contextlib
import http.client
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
DB_PREFIX = "stockpool_bench_"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"
#: So high that the channel throttle never refuses a benchmark request (it still runs on each one).
BENCH_THROTTLE_RATE = "100000000/minute"
LOOPBACK = "127.0.0.1"
CPU_COUNT = os.cpu_count() or 1


# --- command line -------------------------------------------------------------------------------


def add_common_arguments(parser: argparse.ArgumentParser, *, clients: int, duration: float, db_name: str) -> None:
    parser.add_argument("--clients", "-k", type=int, default=clients, help="concurrent HTTP clients (K)")
    parser.add_argument("--duration", "-t", type=float, default=duration, help="seconds per measured phase (T)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument(
        "--worker-class", default="sync", choices=["sync", "gthread"], help="gunicorn worker class (sync: threads=1)"
    )
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker (gthread only)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of unmeasured load before each phase")
    parser.add_argument("--db-name", default=db_name, help=f"bench database (must start with {DB_PREFIX})")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="Redis for the app's cache and throttle")
    parser.add_argument(
        "--throttle-rate",
        default=BENCH_THROTTLE_RATE,
        help="API_THROTTLE_CHANNEL for the server (DRF keeps one timestamp per request in the window)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")


def validate_common_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not 1 <= args.clients <= 64:
        parser.error("--clients must be between 1 and 64 (PostgreSQL allows 100 connections)")
    if not 0.5 <= args.duration <= 600:
        parser.error("--duration must be between 0.5 and 600 seconds")
    if not 1 <= args.workers <= 32 or not 1 <= args.threads <= 64:
        parser.error("--workers must be 1..32 and --threads 1..64")
    if not 0 <= args.warmup <= 60:
        parser.error("--warmup must be between 0 and 60 seconds")
    try:
        check_db_name(args.db_name)
    except ValueError as exc:
        parser.error(str(exc))
    if args.worker_class == "sync":
        args.threads = 1


# --- the database ---------------------------------------------------------------------------------


def check_db_name(name: str) -> str:
    if not re.fullmatch(rf"{DB_PREFIX}[a-z0-9_]{{1,40}}", name):
        raise ValueError(f"the bench database name must match {DB_PREFIX}[a-z0-9_]+, not {name!r}")
    return name


def database_url(name: str) -> str:
    return f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{check_db_name(name)}"


def _admin_execute(sql: str) -> None:
    import psycopg

    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True) as conn:
        conn.execute(sql)


def create_database(name: str) -> None:
    """A fresh, empty database: one left by an earlier run under the same bench name is dropped first."""
    drop_database(name)
    _admin_execute(f'CREATE DATABASE "{check_db_name(name)}"')


def drop_database(name: str) -> None:
    _admin_execute(f'DROP DATABASE IF EXISTS "{check_db_name(name)}" WITH (FORCE)')


def prepare_django(db_name: str, redis_url: str, cache_prefix: str) -> None:
    """Point this process's Django at the bench database and migrate it."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DATABASE_URL"] = database_url(db_name)
    os.environ["REDIS_URL"] = redis_url
    os.environ["CACHE_KEY_PREFIX"] = cache_prefix
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)


def close_django_connections() -> None:
    from django.db import connections

    connections.close_all()


def forget_cache_keys(redis_url: str, cache_prefix: str) -> int:
    """Delete this run's cache keys (the throttle history); other keys in that Redis database stay."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{cache_prefix}:*", count=1000))
        return client.delete(*keys) if keys else 0
    finally:
        client.close()


def sql_rows(sql: str, params=()) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


# --- the world -----------------------------------------------------------------------------------


@dataclass
class World:
    channel: object
    warehouses: list
    variants: list
    api_key: str
    levels: dict = field(default_factory=dict)  # (warehouse_id, variant_id) -> StockLevel id


def seed_world(*, code: str, sku_count: int, stock: list[int], sku_prefix: str) -> World:
    """One supplier, ``len(stock)`` warehouses, one storefront channel drawing from all of them in order,
    ``sku_count`` variants listed on it, ``stock[i]`` units of each received at warehouse ``i``
    (through ``inventory.services``, so the ledger and the listings' sellable state are right),
    and a channel API key made by ``reservations.services.create_api_key``."""
    from inventory.models import (
        Category,
        Channel,
        ChannelListing,
        ChannelWarehouse,
        Organization,
        Product,
        StockLevel,
        StockMovement,
        Variant,
        Warehouse,
    )
    from inventory.services import StockChange, apply_stock_changes
    from reservations.services import create_api_key

    organization = Organization.objects.create(
        name=f"Bench {code}", slug=f"bench-{code}", kind=Organization.Kind.SUPPLIER
    )
    warehouses = [
        Warehouse.objects.create(organization=organization, code=f"bench-{code}-wh{i + 1}", name=f"Bench WH {i + 1}")
        for i in range(len(stock))
    ]
    channel = Channel.objects.create(
        organization=organization, code=f"bench-{code}", name=f"Bench {code}", kind=Channel.Kind.STOREFRONT
    )
    ChannelWarehouse.objects.bulk_create(
        ChannelWarehouse(channel=channel, warehouse=warehouse, priority=i) for i, warehouse in enumerate(warehouses)
    )
    category = Category.objects.create(name=f"Bench {code}", slug=f"bench-{code}")
    product = Product.objects.create(category=category, name=f"Bench product {code}", brand="Bench")
    variants = Variant.objects.bulk_create(
        Variant(product=product, sku=f"{sku_prefix}-{i:05d}", name=f"#{i}", price=Decimal("9.99"))
        for i in range(sku_count)
    )
    ChannelListing.objects.bulk_create(ChannelListing(channel=channel, variant=variant) for variant in variants)
    changes = [
        StockChange(warehouse, variant, StockMovement.Reason.RECEIPT, delta=units, reference="bench seed")
        for warehouse, units in zip(warehouses, stock, strict=True)
        if units
        for variant in variants
    ]
    apply_stock_changes(changes, source=StockMovement.Source.SYSTEM)
    _, key = create_api_key(channel=channel, name="bench client")
    sql_rows("ANALYZE")  # planner statistics, as a live database would have (autovacuum may not have run yet)
    levels = {
        (w, v): pk
        for pk, w, v in StockLevel.objects.filter(variant__in=variants).values_list("pk", "warehouse_id", "variant_id")
    }
    return World(channel=channel, warehouses=warehouses, variants=variants, api_key=key, levels=levels)


# --- the server ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


class LoggedProcess:
    """A child process logging to a file in a temporary directory of its own; ``stop`` ends it and removes the log.

    Stopping is SIGTERM, then SIGKILL after ``stop_timeout`` seconds.
    """

    stop_timeout = 15.0

    def __init__(self, log_name: str, *, prefix: str = "stockpool-bench-"):
        self.process: subprocess.Popen | None = None
        self._log_dir = tempfile.mkdtemp(prefix=prefix)
        self.log_path = Path(self._log_dir) / log_name

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        self._terminate()
        shutil.rmtree(self._log_dir, ignore_errors=True)

    def _terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


class Server(LoggedProcess):
    """gunicorn serving ``wsgi`` on a free loopback port, with the bench database and Redis."""

    def __init__(
        self,
        *,
        db_name: str,
        redis_url: str,
        cache_prefix: str,
        throttle_rate: str,
        workers: int,
        worker_class: str,
        threads: int,
        wsgi: str = "config.wsgi:application",
    ):
        self.wsgi, self.workers, self.worker_class, self.threads = wsgi, workers, worker_class, threads
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": database_url(db_name),
            "REDIS_URL": redis_url,
            "CACHE_KEY_PREFIX": cache_prefix,
            "API_THROTTLE_CHANNEL": throttle_rate,
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        super().__init__("gunicorn.log")
        self.port = 0

    def describe(self) -> str:
        threads = f" x {self.threads} threads" if self.worker_class == "gthread" else ""
        return f"gunicorn {self.wsgi}, {self.workers} {self.worker_class} workers{threads}, 127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 40.0) -> None:
        gunicorn = VENV_BIN / "gunicorn"
        if not gunicorn.exists():
            raise RuntimeError(f"{gunicorn} is missing; run `make venv` first")
        self.port = free_port()
        command = [
            str(gunicorn),
            self.wsgi,
            "--bind",
            f"{LOOPBACK}:{self.port}",
            "--workers",
            str(self.workers),
            "--worker-class",
            self.worker_class,
            "--threads",
            str(self.threads),
            "--chdir",
            str(ROOT),
            "--log-level",
            "warning",
            "--timeout",
            "60",
            "--graceful-timeout",
            "5",
        ]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self._wait_healthy(timeout)

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=5)
                try:
                    conn.request("GET", "/health/")
                    if conn.getresponse().status == 200:
                        return
                finally:
                    conn.close()
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer /health/ within {timeout:.0f} s:\n{self.log_tail()}")

    def pids(self) -> list[int]:
        """The master and its workers."""
        if self.process is None or self.process.poll() is not None:
            return []
        return [self.process.pid, *_children(self.process.pid)]

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()


def _children(pid: int) -> list[int]:
    children = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                children.extend(int(child) for child in handle.read().split())
    return children


# --- the client ----------------------------------------------------------------------------------


class HttpClient:
    """One keep-alive connection (http.client: far less client CPU per request than requests).

    A sync gunicorn worker closes the connection after each response; http.client then opens
    a new one for the next request. A transport failure is reported as status 0.
    """

    def __init__(self, port: int, headers: dict[str, str] | None = None, timeout: float = 10.0):
        self.port, self.timeout = port, timeout
        self.headers = {"Accept": "application/json", **(headers or {})}
        self.conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = self.headers if body is None else {**self.headers, "Content-Type": "application/json"}
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            return 0, b""

    def close(self) -> None:
        self.conn.close()


@dataclass
class Tally:
    """What one client (or, merged, all of them) saw."""

    statuses: Counter = field(default_factory=Counter)
    latencies: list = field(default_factory=list)  # seconds, every request
    notes: list = field(default_factory=list)  # anything the script wants back (e.g. order refs)

    def add(self, status: int, latency: float) -> None:
        self.statuses[status] += 1
        self.latencies.append(latency)

    @property
    def count(self) -> int:
        return sum(self.statuses.values())

    @classmethod
    def merge(cls, tallies) -> "Tally":
        merged = cls()
        for tally in tallies:
            merged.statuses.update(tally.statuses)
            merged.latencies.extend(tally.latencies)
            merged.notes.extend(tally.notes)
        return merged


def run_clients(clients: int, body: Callable[[int], Tally], *, join_timeout: float) -> tuple[Tally, float]:
    """Run ``body(client_index)`` in ``clients`` threads started together; returns the merged tally
    and the wall-clock seconds from the start signal to the last client's end."""
    results: list[Tally | None] = [None] * clients
    errors: list[BaseException] = []
    start = threading.Barrier(clients + 1)

    def run(index: int) -> None:
        try:
            start.wait(timeout=30)
            results[index] = body(index)
        except BaseException as exc:  # reported below: a client that died must not vanish silently
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True, name=f"client-{i}") for i in range(clients)]
    for thread in threads:
        thread.start()
    start.wait(timeout=30)
    began = time.perf_counter()
    deadline = time.monotonic() + join_timeout
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    elapsed = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"{len(errors)} client thread(s) failed: {errors[0]!r}") from errors[0]
    if any(thread.is_alive() for thread in threads):
        raise RuntimeError("client threads did not finish in time")
    return Tally.merge(r for r in results if r is not None), elapsed


def closed_loop(
    http: HttpClient,
    *,
    duration: float,
    max_requests: int,
    request: Callable[[int], tuple[str, str, bytes | None]],
    on_response: Callable[[int, int, bytes, Tally], bool] | None = None,
) -> Tally:
    """Send requests back to back for ``duration`` seconds (or ``max_requests``, or until
    ``on_response`` returns False); latency is send to last byte."""
    tally = Tally()
    deadline = time.perf_counter() + duration
    for i in range(max_requests):
        if time.perf_counter() >= deadline:
            break
        method, path, body = request(i)
        sent = time.perf_counter()
        status, data = http.request(method, path, body)
        tally.add(status, time.perf_counter() - sent)
        if on_response is not None and not on_response(i, status, data, tally):
            break
    return tally


def paced_loop(
    http: HttpClient,
    *,
    duration: float,
    rate: float,
    request: Callable[[int], tuple[str, str, bytes | None]],
    phase: float = 0.0,
) -> Tally:
    """Send at a fixed ``rate`` (requests/s for this client) for ``duration`` seconds.

    Latency is measured from each request's scheduled time, not from when it could be sent,
    so a slow response delays the next request without hiding its own wait (no coordinated
    omission). Requests that fall hopelessly behind schedule are still sent, never skipped.
    """
    tally = Tally()
    interval = 1.0 / rate
    start = time.perf_counter() + phase * interval
    for i in range(int(duration * rate) + 1):
        scheduled = start + i * interval
        if scheduled - start >= duration:
            break
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        method, path, body = request(i)
        status, _ = http.request(method, path, body)
        tally.add(status, time.perf_counter() - scheduled)
    return tally


# --- figures -------------------------------------------------------------------------------------


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), math.ceil(fraction * len(sorted_values))))
    return sorted_values[rank - 1]


@dataclass(frozen=True)
class LatencySummary:
    count: int
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    def line(self) -> str:
        return (
            f"p50 {self.p50_ms:.2f} ms, p90 {self.p90_ms:.2f} ms, p99 {self.p99_ms:.2f} ms, "
            f"max {self.max_ms:.2f} ms (mean {self.mean_ms:.2f} ms, n={self.count})"
        )


def summarize(latencies: list[float]) -> LatencySummary:
    values = sorted(latencies)
    mean = sum(values) / len(values) if values else 0.0
    return LatencySummary(
        count=len(values),
        mean_ms=mean * 1000,
        p50_ms=percentile(values, 0.50) * 1000,
        p90_ms=percentile(values, 0.90) * 1000,
        p99_ms=percentile(values, 0.99) * 1000,
        max_ms=(values[-1] if values else 0.0) * 1000,
    )


def statuses_line(statuses: Counter) -> str:
    return ", ".join(f"{'transport error' if code == 0 else code}: {n}" for code, n in sorted(statuses.items()))


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def print_block(title: str, rows: list[tuple[str, str]]) -> None:
    width = max((len(label) for label, _ in rows), default=0)
    print(f"\n== {title} " + "=" * max(3, 74 - len(title)))
    for label, value in rows:
        print(f"  {label.ljust(width)} : {value}" if label else f"  {value}")
    sys.stdout.flush()


def say(message: str) -> None:
    print(f"-- {message}", flush=True)


def run_tag() -> str:
    return f"{time.strftime('%H%M%S')}{secrets.token_hex(2)}"


# --- where the CPU went --------------------------------------------------------------------------


_TICKS = os.sysconf("SC_CLK_TCK")


def _process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _machine_busy() -> tuple[float, float]:
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return (total - idle) / _TICKS, total / _TICKS


def postgres_backends(db_name: str) -> list[int]:
    """PostgreSQL backend processes connected to ``db_name`` (by their process title)."""
    pids, marker = [], f" {db_name} ".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                title = handle.read()
            if title.startswith(b"postgres:") and marker in title.replace(b"\0", b" ") + b" ":
                pids.append(int(entry))
    return pids


def background_load(seconds: float = 1.0) -> str:
    """How busy the machine is before the benchmark starts (other sessions' tests skew every figure)."""
    busy, _ = _machine_busy()
    time.sleep(seconds)
    used = (_machine_busy()[0] - busy) / seconds
    warning = "  <- busy: figures will be low; rerun on a quiet machine" if used > 0.2 else ""
    return f"{used * 100:.0f}% of {CPU_COUNT * 100}% CPU busy before the start{warning}"


class CpuMeter:
    """Where the machine's CPU went during a phase: the load generator, the server, PostgreSQL, the rest.

    The load generator is this process plus the children it waited for (pgbench). Each group's
    processes are looked up again every ``interval`` seconds, so processes that start during
    the phase (pgbench's backends) count from their start; one that lives less than an
    interval may be missed. "everything else" is the rest of the machine: other sessions,
    Redis, PostgreSQL's background writers, the kernel.
    """

    def __init__(self, groups: dict[str, Callable[[], list[int]]], interval: float = 0.25):
        self.groups, self.interval = groups, interval
        self._first: dict[tuple[str, int], float] = {}
        self._last: dict[tuple[str, int], float] = {}
        self._stop = threading.Event()

    def _sample(self, *, baseline: bool) -> None:
        for name, find in self.groups.items():
            for pid in find():
                cpu = _process_cpu(pid)
                if cpu is None:
                    continue
                self._first.setdefault((name, pid), cpu if baseline else 0.0)
                self._last[(name, pid)] = cpu

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample(baseline=False)

    def __enter__(self):
        self._sample(baseline=True)
        self._load = sum(os.times()[:4])
        self._busy, _ = _machine_busy()
        self._wall = time.perf_counter()
        self._thread = threading.Thread(target=self._run, daemon=True, name="cpu-meter")
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._sample(baseline=False)
        self._stop.set()
        self._thread.join(timeout=5)
        wall = time.perf_counter() - self._wall
        busy, _ = _machine_busy()
        self.shares = {"load generator": (sum(os.times()[:4]) - self._load) / wall}
        for name in self.groups:
            used = sum(last - self._first[key] for key, last in self._last.items() if key[0] == name)
            self.shares[name] = used / wall
        self.machine = (busy - self._busy) / wall
        self.shares["everything else"] = max(0.0, self.machine - sum(self.shares.values()))

    def line(self) -> str:
        parts = ", ".join(f"{name} {share * 100:.0f}%" for name, share in self.shares.items())
        return f"{self.machine * 100:.0f}% of {CPU_COUNT * 100}% busy: {parts}"


# --- processes the scripts start --------------------------------------------------------------


def status_kb(field: str = "VmRSS") -> int:
    """A memory figure of this process from /proc/self/status, in KB."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    return 0


def proc_status(pid: int) -> dict[str, str]:
    fields = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as handle:
        for line in handle:
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    return fields


def serve_sandbox(arguments: list[str]) -> int:
    """``manage.py run_sandbox <arguments>``, under this module's name (see SandboxProcess)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("run_sandbox", *arguments)
    return 0


def run_measured_worker(
    command: list[str], *, role: str, result_mark: str, env: dict, db_name: str, sandbox, max_seconds: float
):
    """Run a benchmark's worker process to its end, watching its CPU and peak memory.

    Returns (the result dict it printed after ``result_mark``, wall seconds, CPU meter, polled VmHWM KB).
    """
    out_dir = tempfile.mkdtemp(prefix="stockpool-bench-worker-")
    out_path, err_path = Path(out_dir) / "stdout", Path(out_dir) / "stderr"
    process = None
    try:
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            started = time.perf_counter()
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        alive = [process.pid]
        meter = CpuMeter(
            {
                role: lambda: list(alive),
                "sandbox": lambda: [sandbox.process.pid] if sandbox.process else [],
                "postgres (bench db)": lambda: postgres_backends(db_name),
            }
        )
        hwm = 0
        deadline = time.monotonic() + max_seconds
        with meter:
            while True:
                status = proc_status(process.pid)
                if "VmHWM" in status:
                    hwm = max(hwm, int(status["VmHWM"].split()[0]))
                if not status or status.get("State", "").startswith("Z"):  # exited, not yet reaped
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the {role} did not finish within {max_seconds:.0f} s; killed")
                time.sleep(0.1)
        _, wait_status = os.waitpid(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(wait_status)
        meter.shares = {("bench process" if k == "load generator" else k): v for k, v in meter.shares.items()}
        output = out_path.read_text(errors="replace")
        lines = [line for line in output.splitlines() if line.startswith(result_mark)]
        if process.returncode != 0 or not lines:
            tail = "\n".join(err_path.read_text(errors="replace").splitlines()[-30:])
            raise RuntimeError(f"the worker exited with {process.returncode}:\n{tail}")
        return json.loads(lines[-1][len(result_mark) :]), wall, meter, hwm
    finally:
        if process is not None and process.returncode is None:  # an error or a deadline: stop our worker
            process.kill()
            process.wait(timeout=10)
        shutil.rmtree(out_dir, ignore_errors=True)
