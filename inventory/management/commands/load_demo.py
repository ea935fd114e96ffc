"""``manage.py load_demo``: build or top up the demo world and print how to log in."""

import contextlib
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from config.progress import ProgressBar
from inventory import events
from inventory.demo import build_demo_world

#: The demo's steps, in order, each with the domain event ``build_demo_world`` sends when it is done.
STEPS = (
    ("catalogue and opening stock", events.movements_booked),
    ("listings and their availability", events.listings_recomputed),
    ("partner accounts and alert rules", events.demo_world_loaded),
)


class Command(BaseCommand):
    help = (
        "Load the demo world (BMB Wholesale, its resellers' channels, BookBarber's POS, Amazon) and the admin login. "
        "Safe to rerun: nothing is duplicated and stock staff changed since is left alone."
    )

    def handle(self, *args, **options):
        started = time.monotonic()
        password = settings.DEMO_ADMIN_PASSWORD
        bar = ProgressBar(
            self.stdout,
            total=len(STEPS),
            label="Loading the demo world",
            detail=STEPS[0][0],
            enabled=options["verbosity"] > 0,
        )
        with bar, _steps_reported_to(bar):
            world = build_demo_world(admin_password=password)
        elapsed = time.monotonic() - started
        self.stdout.write(self.style.SUCCESS(f"Demo world ready in {elapsed:.1f} s:"))
        rows = [
            ("organizations", world.organizations),
            ("warehouses", world.warehouses),
            ("channels", world.channels),
            ("variants", world.variants),
            ("listings", f"{world.listings} ({world.sellable_listings} sellable)"),
            ("stock levels", f"{world.stock_levels} ({world.empty_levels} empty, {world.low_levels} low)"),
            ("units on hand", world.units_on_hand),
        ]
        for label, value in rows:
            self.stdout.write(f"  {label:<14} {value}")
        self.stdout.write(f"Admin login: {world.admin_username} / {password}")
        for username, role in world.role_usernames.items():
            self.stdout.write(f"{role} login: {username} / {password}")


class _steps_reported_to:
    """Moves ``bar`` on as the demo's steps end, told by the domain events ``build_demo_world`` sends.

    The bar only moves forward (an event may come again later, e.g. stock booked by an app's part of
    the demo), and these receivers never raise: the events are sent inside the demo's transaction,
    where a raising receiver would refuse the change. They are connected after the apps' own, so
    ``demo_world_loaded`` reaches them once the apps have added their part.
    """

    def __init__(self, bar: ProgressBar):
        self.bar = bar

    def __enter__(self):
        for number, (_, signal) in enumerate(STEPS, start=1):
            signal.connect(self._receiver(number), weak=False, dispatch_uid=f"load_demo.progress.{number}")
        return self

    def __exit__(self, *exc):
        for number, (_, signal) in enumerate(STEPS, start=1):
            signal.disconnect(dispatch_uid=f"load_demo.progress.{number}")

    def _receiver(self, done: int):
        following = STEPS[done][0] if done < len(STEPS) else "committing"

        def step_done(**kwargs):
            with contextlib.suppress(Exception):  # progress is cosmetic: never refuse the demo's writes
                self.bar.update(done, detail=following, forward_only=True)

        return step_done
