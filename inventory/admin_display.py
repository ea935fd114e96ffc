"""How the back office's lists show a value compactly, so their key columns fit a laptop (1366 px wide).

The styles are in ``inventory/static/inventory/back_office.css``, linked on every admin page
(``templates/admin/base_site.html``).
"""

from django.utils import timezone
from django.utils.html import format_html

#: Badge tones: a problem to act on, something to watch.
BAD, WARN = "bad", "warn"


def short_time(value) -> str:
    """``2026-12-04 16:49`` in the site's time zone, to the second in the tooltip; ``-`` for none."""
    if value is None:
        return "-"
    local = timezone.localtime(value)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        local.isoformat(),
        local.strftime("%Y-%m-%d %H:%M:%S %Z"),
        local.strftime("%Y-%m-%d %H:%M"),
    )


def badge(text: str, tone: str, title: str = "") -> str:
    """A small coloured label (``BAD`` red, ``WARN`` amber) that reads the same without its colour."""
    return format_html('<span class="sp-badge sp-badge-{}" title="{}">{}</span>', tone, title, text)


def with_detail(main, detail) -> str:
    """``main`` with a quieter second line (a SKU and its product, an alert's subject and message)."""
    return format_html('{}<span class="sp-detail">{}</span>', main, detail)
