"""Sync jobs: start, run page by page (each page one transaction, with the job's progress and
checkpoint), resume after a killed worker, and the catalog upsert both systems of record share."""

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify

from connectors.http import PartnerError
from connectors.models import ConnectorAccount, ExternalRef, SyncConflict, SyncJob
from inventory.models import Category, Product, Variant

logger = logging.getLogger(__name__)

#: A running job whose worker has not shown a sign of life for this long is run again.
STALLED_AFTER = timedelta(minutes=2)
UNCATEGORIZED = "Uncategorized"


@dataclass
class RemoteItem:
    """A partner's product, in the terms of our catalog."""

    external_id: str
    sku: str
    name: str
    product_name: str
    category: str = ""
    category_node: Category | None = None  # the mirrored category, where the partner has a tree
    brand: str = ""
    barcode: str = ""
    price: Decimal | None = None
    cost_price: Decimal | None = None
    active: bool = True
    track_inventory: bool = True
    reorder_point: int | None = None


@dataclass
class PageOutcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: "PageOutcome") -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.failed += other.failed
        self.errors += other.errors


def money(value) -> Decimal | None:
    """A partner's price (a number or a string) as Decimal cents; None when it gave none."""
    if value in (None, ""):
        return None
    return Decimal(str(value)).quantize(Decimal("0.01"))


# --- jobs -------------------------------------------------------------------------------------


def start_sync(account: ConnectorAccount, kind: str, *, started_by=None, enqueue: bool = True) -> tuple[SyncJob, bool]:
    """Queue a sync, or return the one of that kind already queued or running for the account.

    ``enqueue=False`` leaves running it to the caller (reconciliation runs its jobs itself).
    """
    with transaction.atomic():
        ConnectorAccount.objects.select_for_update().get(pk=account.pk)
        active = account.sync_jobs.filter(kind=kind, status__in=[SyncJob.Status.QUEUED, SyncJob.Status.RUNNING])
        if existing := active.first():
            return existing, False
        job = SyncJob.objects.create(account=account, kind=kind, started_by=started_by)
        if enqueue:
            transaction.on_commit(lambda: _enqueue(job.pk))
    return job, True


def _enqueue(job_id: int) -> None:
    from connectors.tasks import run_sync_job_task

    run_sync_job_task.delay(job_id)


def run_sync_job(job_id: int) -> SyncJob:
    """Run (or resume, from its checkpoint) a queued or stalled job to its end."""
    from connectors.registry import connector_for

    now = timezone.now()
    claimed = SyncJob.objects.filter(pk=job_id, status__in=[SyncJob.Status.QUEUED, SyncJob.Status.RUNNING]).update(
        status=SyncJob.Status.RUNNING, heartbeat_at=now
    )
    job = SyncJob.objects.select_related("account", "account__warehouse").get(pk=job_id)
    if not claimed:
        return job
    if job.started_at is None:
        SyncJob.objects.filter(pk=job.pk).update(started_at=now)
    account = job.account
    try:
        connector_for(account).pull(job)
    except Exception as error:  # a failed job says why; it must never be left "running"
        text = str(error) if isinstance(error, PartnerError) else f"Internal error: {type(error).__name__}: {error}"
        _finish(job, SyncJob.Status.FAILED, error=text)
        ConnectorAccount.objects.filter(pk=account.pk).update(last_failure_at=timezone.now(), last_error=text)
        logger.warning(
            "Sync job %s of %s failed: %s", job.pk, account, text, exc_info=not isinstance(error, PartnerError)
        )
    else:
        _finish(job, SyncJob.Status.SUCCEEDED)
        ConnectorAccount.objects.filter(pk=account.pk).update(last_success_at=timezone.now(), last_error="")
    job.refresh_from_db()
    return job


def record_page(job: SyncJob, outcome: PageOutcome, *, checkpoint: dict, processed: int, total=None) -> None:
    """Add a page's counts and move the checkpoint; call inside the page's transaction."""
    updates = {
        "processed": F("processed") + processed,
        "created_count": F("created_count") + outcome.created,
        "updated_count": F("updated_count") + outcome.updated,
        "unchanged_count": F("unchanged_count") + outcome.unchanged,
        "failed_count": F("failed_count") + outcome.failed,
        "checkpoint": checkpoint,
        "heartbeat_at": timezone.now(),
    }
    if total is not None:
        updates["total"] = total
    SyncJob.objects.filter(pk=job.pk).update(**updates)
    if outcome.errors:
        add_errors(job, outcome.errors)
    job.checkpoint = checkpoint


def add_errors(job: SyncJob, errors: list[str]) -> None:
    current = SyncJob.objects.filter(pk=job.pk).values_list("errors", flat=True).get()
    SyncJob.objects.filter(pk=job.pk).update(errors=(current + errors)[-SyncJob.MAX_ERRORS_KEPT :])


def _finish(job: SyncJob, status: str, *, error: str = "") -> None:
    if error:
        add_errors(job, [error])
    SyncJob.objects.filter(pk=job.pk).update(status=status, finished_at=timezone.now())


def stalled_jobs():
    return SyncJob.objects.filter(status=SyncJob.Status.RUNNING, heartbeat_at__lt=timezone.now() - STALLED_AFTER)


# --- catalog -------------------------------------------------------------------------------------


def upsert_items(account: ConnectorAccount, items: list[RemoteItem]) -> tuple[dict[str, Variant], PageOutcome]:
    """Create or update our variants from the partner's items; returns them by external id.

    A partner item is matched by its external reference, else by SKU (a catalog that already
    exists here is linked, not duplicated). Price differences on linked variants are settled
    by the account's conflict strategy. A variant of another organization's catalogue (a retailer's
    system holding its supplier's SKUs) is linked, for the stock of the account's warehouse, but
    never changed by it.
    """
    outcome = PageOutcome()
    valid = []
    for item in items:
        if not item.sku or not item.external_id:
            outcome.failed += 1
            outcome.errors.append(f"Item {item.external_id or '?'} ({item.name!r}) has no SKU; skipped.")
        else:
            valid.append(item)
    variant_type = ContentType.objects.get_for_model(Variant)
    refs = dict(
        ExternalRef.objects.filter(
            account=account, content_type=variant_type, external_id__in=[i.external_id for i in valid]
        ).values_list("external_id", "object_id")
    )
    by_pk = Variant.objects.select_related("product").in_bulk(refs.values())
    by_sku = {v.sku: v for v in Variant.objects.filter(sku__in=[i.sku for i in valid]).select_related("product")}
    linked: dict[str, Variant] = {}
    to_create = []
    for item in valid:
        variant = by_pk.get(refs.get(item.external_id)) or by_sku.get(item.sku)
        if variant is None:
            to_create.append(item)
            continue
        if variant.product.organization_id not in (None, account.organization_id):
            outcome.unchanged += 1  # another organization's catalogue: linked for its stock here, never changed
        elif _update_variant(account, variant, item):
            outcome.updated += 1
        else:
            outcome.unchanged += 1
        linked[item.external_id] = variant
    created = _create_variants(account, to_create)
    outcome.created += len(created)
    linked.update(created)
    ExternalRef.objects.bulk_create(
        [
            ExternalRef(
                account=account,
                content_type=variant_type,
                object_id=variant.pk,
                external_id=external_id,
                external_code=variant.sku,
            )
            for external_id, variant in linked.items()
            if external_id not in refs
        ],
        ignore_conflicts=True,
    )
    return linked, outcome


def _create_variants(account: ConnectorAccount, items: list[RemoteItem]) -> dict[str, Variant]:
    """New products and variants for a page's unknown items, in a few bulk queries; the products join the
    catalogue of the account's organization (the system of record's owner)."""
    if not items:
        return {}
    items = list({item.sku: item for item in items}.values())
    categories = _categories({item.category or UNCATEGORIZED for item in items if item.category_node is None})
    taken = set(
        Variant.objects.filter(barcode__in=[i.barcode for i in items if i.barcode]).values_list("barcode", flat=True)
    )
    products = Product.objects.bulk_create(
        Product(
            organization_id=account.organization_id,
            category=item.category_node or categories[item.category or UNCATEGORIZED],
            name=item.product_name,
            brand=item.brand,
        )
        for item in items
    )
    variants = []
    for item, product in zip(items, products, strict=True):
        barcode = item.barcode if item.barcode and item.barcode not in taken else ""
        taken.add(barcode)
        variants.append(
            Variant(
                product=product,
                sku=item.sku,
                name=item.name if item.name != item.product_name else "",
                barcode=barcode,
                price=item.price or Decimal("0"),
                cost_price=item.cost_price,
                active=item.active,
                track_inventory=item.track_inventory,
                reorder_point=item.reorder_point,
            )
        )
    Variant.objects.bulk_create(variants)
    return {item.external_id: variant for item, variant in zip(items, variants, strict=True)}


def _categories(names: set[str]) -> dict[str, Category]:
    found = {c.name: c for c in Category.objects.filter(parent__isnull=True, name__in=names)}
    for name in names - set(found):
        found[name], _ = Category.objects.get_or_create(parent=None, slug=slugify(name)[:120], defaults={"name": name})
    return found


def _update_variant(account: ConnectorAccount, variant: Variant, item: RemoteItem) -> bool:
    changed = []
    for name in ("active", "track_inventory", "reorder_point", "cost_price"):
        value = getattr(item, name)
        if value is not None and getattr(variant, name) != value:
            setattr(variant, name, value)
            changed.append(name)
    if item.price is not None and item.price != variant.price:
        price = settle_price_conflict(account, variant, item.price)
        if price != variant.price:
            variant.price = price
            changed.append("price")
    if changed:
        variant.save(update_fields=[*changed, "updated_at"])
    return bool(changed)


def settle_price_conflict(account: ConnectorAccount, variant: Variant, remote: Decimal) -> Decimal:
    """Record the disagreement and return the price to keep, by the account's strategy.

    ``manual`` keeps ours until a manager decides; one open conflict per variant at a time.
    """
    strategy = account.conflict_strategy
    Strategy = ConnectorAccount.ConflictStrategy
    if strategy == Strategy.MANUAL:
        SyncConflict.objects.update_or_create(
            account=account,
            variant=variant,
            field=SyncConflict.Field.PRICE,
            status=SyncConflict.Status.OPEN,
            defaults={"local_value": str(variant.price), "remote_value": str(remote), "strategy": strategy},
        )
        return variant.price
    keep = {
        Strategy.HUB_WINS: variant.price,
        Strategy.SOURCE_WINS: remote,
        Strategy.HIGHEST: max(variant.price, remote),
        Strategy.LOWEST: min(variant.price, remote),
    }[strategy]
    already_settled = SyncConflict.objects.filter(
        account=account,
        variant=variant,
        field=SyncConflict.Field.PRICE,
        local_value=str(variant.price),
        remote_value=str(remote),
    ).exists()
    if already_settled:
        return keep
    SyncConflict.objects.create(
        account=account,
        variant=variant,
        field=SyncConflict.Field.PRICE,
        local_value=str(variant.price),
        remote_value=str(remote),
        strategy=strategy,
        status=SyncConflict.Status.RESOLVED,
        resolution=f"kept {keep} ({Strategy(strategy).label})",
        resolved_at=timezone.now(),
    )
    return keep


def mirror_categories(account: ConnectorAccount, nodes: list[tuple[str, str, str | None]]) -> dict[str, Category]:
    """Mirror a partner's category tree, given as (external id, name, parent external id); returns it by id.

    Categories already linked keep their place; new ones are placed under their mirrored parent
    (matched by name among its children, so a tree that already exists here is linked, not copied).
    """
    content_type = ContentType.objects.get_for_model(Category)
    linked = dict(
        ExternalRef.objects.filter(account=account, content_type=content_type).values_list("external_id", "object_id")
    )
    by_pk = Category.objects.in_bulk(linked.values())
    mirrored = {external_id: by_pk[pk] for external_id, pk in linked.items() if pk in by_pk}
    pending = {external_id: (name, parent) for external_id, name, parent in nodes if external_id not in mirrored}
    while pending:
        ready = {
            eid: node
            for eid, node in pending.items()
            if node[1] is None or node[1] in mirrored or node[1] not in pending
        }
        if not ready:  # a cycle in the partner's data: place the rest at the root
            ready = {eid: (name, None) for eid, (name, _) in pending.items()}
        for external_id, (name, parent_id) in ready.items():
            parent = mirrored.get(parent_id) if parent_id else None
            category, _ = Category.objects.get_or_create(
                parent=parent, slug=slugify(name)[:120] or "category", defaults={"name": name}
            )
            ExternalRef.objects.get_or_create(
                account=account,
                content_type=content_type,
                object_id=category.pk,
                defaults={"external_id": external_id, "external_code": name},
            )
            mirrored[external_id] = category
            del pending[external_id]
    return mirrored
