"""The demo world: BMB Wholesale's cash & carry feeding resellers' stores, BookBarber's POS and Amazon.

``build_demo_world`` can run on every start: rows are matched on their natural keys (slug,
code, sku, brand and name), reference data that drifted from the catalogue below is brought
back in line, and opening stock is booked only for levels that do not exist yet, so stock and
exposure rules that staff changed since survive a rerun. Every generated figure comes from a
random generator seeded with the row's natural key, so the world is the same on every machine
and adding a product does not reshuffle the others.
"""

import hashlib
import itertools
import random
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.db.models import F, Sum
from django.utils.text import slugify

from inventory import events
from inventory.models import (
    Category,
    Channel,
    ChannelListing,
    ChannelWarehouse,
    ListingStateChange,
    Membership,
    Organization,
    Product,
    StockLevel,
    StockMovement,
    Variant,
    Warehouse,
)
from inventory.services import StockChange, apply_stock_changes, refresh_listings, set_membership

SEED = "stockpool-demo-1"
OPENING_STOCK_REFERENCE = "demo-opening-stock"
ADMIN_USERNAME = "admin"
#: Staff logins, with the admin's password: a clerk and a manager of each demo organization, members
#: through ``inventory.services.set_membership`` (which puts them in the role's group). ``clerk`` and
#: ``manager`` are the supplier's (BMB Wholesale); the others are ``<organization slug>-clerk`` and so on.
SUPPLIER_SLUG = "bmb-wholesale"
ROLES = {"clerk": Membership.Role.CLERK, "manager": Membership.Role.MANAGER}
CENT = Decimal("0.01")

BMB = "bmb-cash-carry"
BOOKBARBER = "bookbarber-shop"
FBA = "amazon-fba-us"

#: The morning the demo opens on, (warehouse, SKU): units on hand. Every other level sits well above its
#: reorder point, so the open alerts tell this story alone: BMB is down to its last Geek Bar Watermelon Ice,
#: which its resellers' buffers already keep off their stores, and BookBarber's shop has sold out of Reuzel Blue.
SHORTAGES = {
    (BMB, "GEEKBAR-PULSE-WATERMELON-ICE"): 1,
    (BOOKBARBER, "REUZEL-BLUE-4OZ"): 0,
}


@dataclass(frozen=True)
class OrganizationSpec:
    slug: str
    name: str
    kind: str


@dataclass(frozen=True)
class WarehouseSpec:
    code: str
    name: str
    organization: str
    system_of_record: str
    external_location_id: str
    address: str


@dataclass(frozen=True)
class ChannelSpec:
    """A channel, the warehouses it draws from (first drawn first) and its listings' exposure rules."""

    code: str
    name: str
    kind: str
    organization: str
    draws_from: tuple[str, ...]
    lists_stock_of: str
    reservation_ttl_seconds: int = 900
    buffer: int = 0
    allocation_percent: int = 100
    max_quantity: int | None = None
    price_factor: Decimal | None = None


#: An option is its label, or (label, SKU code) when the label makes a poor SKU part.
Option = str | tuple[str, str]


@dataclass(frozen=True)
class ProductSpec:
    """A product; its variants are every combination of ``options`` (attribute name -> options)."""

    category: str
    brand: str
    name: str
    sku_stem: str
    price: str
    options: dict[str, tuple[Option, ...]]
    stocked_at: tuple[str, ...]
    low_stock_threshold: int
    option_prices: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, str | int] = field(default_factory=dict)


@dataclass(frozen=True)
class VariantSpec:
    product: ProductSpec
    sku: str
    name: str
    attributes: dict
    price: Decimal


@dataclass(frozen=True)
class DemoSummary:
    organizations: int
    warehouses: int
    channels: int
    variants: int
    listings: int
    sellable_listings: int
    stock_levels: int
    empty_levels: int
    low_levels: int
    units_on_hand: int
    admin_username: str
    role_usernames: dict[str, str]


ORGANIZATIONS = (
    OrganizationSpec("bmb-wholesale", "BMB Wholesale INC. Cash & Carry", Organization.Kind.SUPPLIER),
    OrganizationSpec("vip-smoke", "VIP Smoke", Organization.Kind.RESELLER),
    OrganizationSpec("sigdistro", "SigDistro", Organization.Kind.RESELLER),
    OrganizationSpec("bookbarber", "BookBarber", Organization.Kind.RETAILER),
)

WAREHOUSES = (
    WarehouseSpec(
        BMB,
        "BMB Cash & Carry",
        "bmb-wholesale",
        Warehouse.SystemOfRecord.ZOHO_INVENTORY,
        "4815000000044821",
        "6120 Westview Dr, Unit 4\nHouston, TX 77055",
    ),
    WarehouseSpec(
        BOOKBARBER,
        "BookBarber Shop",
        "bookbarber",
        Warehouse.SystemOfRecord.CIN7_CORE,
        "5c1e8a42-93f7-4b0d-a6e1-2d84f7c3b915",
        "1418 Main St\nHouston, TX 77002",
    ),
    WarehouseSpec(FBA, "Amazon FBA (US)", "bmb-wholesale", Warehouse.SystemOfRecord.AMAZON_FBA, "ATVPDKIKX0DER", ""),
)

CHANNELS = (
    ChannelSpec("vip-smoke", "VIP Smoke web store", Channel.Kind.STOREFRONT, "vip-smoke", (BMB,), BMB, buffer=1),
    ChannelSpec(
        "sigdistro",
        "SigDistro web store",
        Channel.Kind.STOREFRONT,
        "sigdistro",
        (BMB,),
        BMB,
        buffer=2,
        allocation_percent=50,
    ),
    ChannelSpec(
        "bmb-b2b",
        "BMB B2B ordering",
        Channel.Kind.WHOLESALE,
        "bmb-wholesale",
        (BMB,),
        BMB,
        reservation_ttl_seconds=3600,
        price_factor=Decimal("0.72"),
    ),
    ChannelSpec(
        "medusa-store",
        "BMB Medusa store",
        Channel.Kind.STOREFRONT,
        "bmb-wholesale",
        (BMB,),
        BMB,
        buffer=1,
        allocation_percent=80,
    ),
    ChannelSpec(
        "bookbarber-pos",
        "BookBarber POS",
        Channel.Kind.POS,
        "bookbarber",
        (BOOKBARBER,),
        BOOKBARBER,
        reservation_ttl_seconds=120,
    ),
    ChannelSpec(
        "amazon-us",
        "Amazon US (BMB seller account)",
        Channel.Kind.MARKETPLACE,
        "bmb-wholesale",
        (BMB, FBA),
        FBA,
        buffer=3,
        max_quantity=25,
        price_factor=Decimal("1.10"),
    ),
)

CATEGORY_TREE = {
    "Vape & Smoke": (
        "Disposables",
        "Pods & Devices",
        "E-liquids",
        "Glass & Pipes",
        "Papers & Wraps",
        "Cigars & Cigarillos",
        "Lighters & Torches",
        "Hookah",
    ),
    "Barber & Grooming": ("Clippers & Trimmers", "Shaving", "Hair Care", "Beard Care", "Barber Tools"),
    "Convenience": ("Snacks", "Drinks", "Candy"),
}

AT_BMB = (BMB,)
AT_BOOKBARBER = (BOOKBARBER,)
AT_BOTH = (BOOKBARBER, BMB)
AT_BOTH_AND_AMAZON = (BOOKBARBER, BMB, FBA)
AT_BMB_AND_AMAZON = (BMB, FBA)

_NICOTINE_SALT = (("35 mg", "35MG"), ("50 mg", "50MG"))
_FREEBASE = (("0 mg", "0MG"), ("3 mg", "3MG"), ("6 mg", "6MG"))
_PAPER_SIZES = (("1¼", "114"), ("King Size Slim", "KSS"))

CATALOGUE = (
    # Vape & Smoke: sold from BMB's cash & carry; Amazon takes none of the nicotine lines.
    ProductSpec(
        "Disposables",
        "Geek Bar",
        "Pulse 15000 Disposable",
        "GEEKBAR-PULSE",
        "19.99",
        {
            "flavour": (
                "Watermelon Ice",
                "Blue Razz Ice",
                "Sour Apple Ice",
                "Miami Mint",
                "Strawberry Banana",
                "Mexican Mango",
                "Tropical Rainbow Blast",
                "Juicy Peach Ice",
                "Grape Lemon",
                "Cool Mint",
                "Strawberry Mango",
                "Sour Straws",
                "Pink Lemonade",
                "Blackberry B-Pop",
            )
        },
        stocked_at=AT_BMB,
        low_stock_threshold=10,
        attributes={"puffs": 15000, "nicotine": "5%"},
    ),
    ProductSpec(
        "Disposables",
        "Lost Mary",
        "MO5000 Disposable",
        "LOSTMARY-MO5000",
        "17.99",
        {
            "flavour": (
                "Blue Razz Ice",
                "Watermelon Ice",
                "Strawberry Kiwi",
                "Triple Berry Ice",
                "Grape",
                "Peach",
                "Mango Twist",
                "Cherry Lemon",
                "Lemon Lime",
                "Ice Mint",
            )
        },
        stocked_at=AT_BMB,
        low_stock_threshold=10,
        attributes={"puffs": 5000, "nicotine": "5%"},
    ),
    ProductSpec(
        "Disposables",
        "Elf Bar",
        "BC5000 Disposable",
        "ELFBAR-BC5000",
        "16.99",
        {
            "flavour": (
                "Blue Razz Ice",
                "Watermelon Ice",
                "Strawberry Banana",
                "Kiwi Passion Fruit Guava",
                "Sakura Grape",
                "Pineapple Coconut",
                "Peach Mango Watermelon",
                "Cranberry Grape",
                "Miami Mint",
                "Tobacco",
            )
        },
        stocked_at=AT_BMB,
        low_stock_threshold=10,
        attributes={"puffs": 5000, "nicotine": "5%"},
    ),
    ProductSpec(
        "Disposables",
        "Hyde",
        "Edge Rave Recharge",
        "HYDE-RAVE",
        "14.99",
        {
            "flavour": (
                "Blue Razz",
                "Pink Lemonade",
                "Strawberry Kiwi",
                "Mango",
                "Peach Ice",
                "Banana Ice",
                "Cola",
                "Energy",
            )
        },
        stocked_at=AT_BMB,
        low_stock_threshold=8,
        attributes={"puffs": 4000, "nicotine": "5%"},
    ),
    ProductSpec(
        "Disposables",
        "Breeze Smoke",
        "Breeze Pro",
        "BREEZE-PRO",
        "12.99",
        {
            "flavour": (
                "Mint",
                "Menthol",
                "Grape Menthol",
                "Blue Razz",
                "Watermelon Mint",
                "Strawberry Watermelon",
                "Sour Apple",
                "Blueberry Mint",
            )
        },
        stocked_at=AT_BMB,
        low_stock_threshold=8,
        attributes={"puffs": 2000, "nicotine": "5%"},
    ),
    ProductSpec(
        "Disposables",
        "Fume",
        "Extra 1500",
        "FUME-EXTRA",
        "11.99",
        {
            "flavour": (
                "Unicorn",
                "Mint Ice",
                "Fresh Vanilla",
                "Tropical Fruit",
                "Banana Ice",
                "Clear",
                "Strawberry Watermelon",
                "Double Apple",
            )
        },
        stocked_at=AT_BMB,
        low_stock_threshold=8,
        attributes={"puffs": 1500, "nicotine": "5%"},
    ),
    ProductSpec(
        "Pods & Devices",
        "Vuse",
        "Alto Pods 2-pack",
        "VUSE-ALTO-POD",
        "14.99",
        {
            "flavour": ("Golden Tobacco", "Rich Tobacco", "Menthol", "Mixed Berry"),
            "nicotine": (("1.8%", "18"), ("5%", "50")),
        },
        stocked_at=AT_BMB,
        low_stock_threshold=12,
    ),
    ProductSpec(
        "Pods & Devices",
        "SMOK",
        "Nord 5 Pod Kit",
        "SMOK-NORD5",
        "39.99",
        {"colour": ("Black", "Blue Black", "Rainbow", "Silver", "Red Black", "Gold")},
        stocked_at=AT_BMB,
        low_stock_threshold=3,
    ),
    ProductSpec(
        "Pods & Devices",
        "Uwell",
        "Caliburn G3 Pod Kit",
        "UWELL-CALIBURN-G3",
        "29.99",
        {"colour": ("Black", "Blue", "Red", "Silver", "Grey", "Purple")},
        stocked_at=AT_BMB,
        low_stock_threshold=3,
    ),
    ProductSpec(
        "Pods & Devices",
        "SMOK",
        "RPM 3 Mesh Coils 5-pack",
        "SMOK-RPM3-COIL",
        "13.99",
        {"resistance": (("0.15 Ω", "015"), ("0.23 Ω", "023"))},
        stocked_at=AT_BMB,
        low_stock_threshold=6,
    ),
    ProductSpec(
        "Pods & Devices",
        "Ooze",
        "Slim Twist 510 Battery",
        "OOZE-SLIMTWIST",
        "12.99",
        {"colour": ("Black", "Silver", "Blue", "Red", "Purple", "Rainbow")},
        stocked_at=AT_BMB,
        low_stock_threshold=4,
    ),
    ProductSpec(
        "E-liquids",
        "Naked 100",
        "Salt 30 ml",
        "NAKED100-SALT",
        "18.99",
        {
            "flavour": (
                "Lava Flow",
                "Hawaiian POG",
                "Brain Freeze",
                "Really Berry",
                "Amazing Mango",
                "American Patriot",
            ),
            "nicotine": _NICOTINE_SALT,
        },
        stocked_at=AT_BMB,
        low_stock_threshold=6,
        attributes={"size": "30 ml"},
    ),
    ProductSpec(
        "E-liquids",
        "Juice Head",
        "Freeze 100 ml",
        "JUICEHEAD-FREEZE",
        "21.99",
        {
            "flavour": (
                "Blueberry Lemon Freeze",
                "Peach Pear Freeze",
                "Strawberry Kiwi Freeze",
                "Watermelon Lime Freeze",
            ),
            "nicotine": _FREEBASE,
        },
        stocked_at=AT_BMB,
        low_stock_threshold=4,
        attributes={"size": "100 ml"},
    ),
    ProductSpec(
        "E-liquids",
        "Vapetasia",
        "Killer Kustard 100 ml",
        "VAPETASIA-KUSTARD",
        "19.99",
        {"flavour": ("Original", "Strawberry", "Blueberry", "Lemon"), "nicotine": _FREEBASE},
        stocked_at=AT_BMB,
        low_stock_threshold=4,
        attributes={"size": "100 ml"},
    ),
    ProductSpec(
        "E-liquids",
        "Pachamama",
        "Salt 30 ml",
        "PACHAMAMA-SALT",
        "17.99",
        {
            "flavour": (
                "Fuji Apple Strawberry Nectarine",
                "Mango Pitaya Pineapple",
                "Starfruit Grape",
                "Peach Papaya Coconut Cream",
            ),
            "nicotine": (("25 mg", "25MG"), ("50 mg", "50MG")),
        },
        stocked_at=AT_BMB,
        low_stock_threshold=6,
        attributes={"size": "30 ml"},
    ),
    ProductSpec(
        "Glass & Pipes",
        "GRAV",
        "Beaker Water Pipe",
        "GRAV-BEAKER",
        "59.99",
        {"height": (("8 in", "8IN"), ("12 in", "12IN"), ("16 in", "16IN"))},
        stocked_at=AT_BMB,
        low_stock_threshold=2,
        option_prices={"12 in": "89.99", "16 in": "129.99"},
    ),
    ProductSpec(
        "Glass & Pipes",
        "GRAV",
        "Spoon Hand Pipe",
        "GRAV-SPOON",
        "19.99",
        {"colour": ("Clear", "Black Accent", "Blue Accent", "Green Accent", "Amber")},
        stocked_at=AT_BMB,
        low_stock_threshold=4,
    ),
    ProductSpec(
        "Glass & Pipes",
        "Pulsar",
        "Sherlock Hand Pipe",
        "PULSAR-SHERLOCK",
        "24.99",
        {"colour": ("Clear", "Smoke", "Teal", "Slyme")},
        stocked_at=AT_BMB,
        low_stock_threshold=3,
    ),
    ProductSpec(
        "Glass & Pipes",
        "Santa Cruz Shredder",
        "Herb Grinder",
        "SCS-GRINDER",
        "39.99",
        {
            "size": (("2-piece Small", "2PC-SM"), ("4-piece Medium", "4PC-MD"), ("4-piece Large", "4PC-LG")),
            "colour": ("Black", "Green", "Purple"),
        },
        stocked_at=AT_BMB_AND_AMAZON,
        low_stock_threshold=3,
        option_prices={"2-piece Small": "29.99", "4-piece Large": "54.99"},
    ),
    ProductSpec(
        "Papers & Wraps",
        "RAW",
        "Classic Rolling Papers",
        "RAW-CLASSIC",
        "2.29",
        {"size": (("Single Wide", "SW"), ("1¼", "114"), ("King Size Slim", "KSS"), ("King Size Supreme", "KSUP"))},
        stocked_at=AT_BMB,
        low_stock_threshold=24,
        option_prices={"Single Wide": "1.99", "King Size Slim": "2.99", "King Size Supreme": "3.49"},
    ),
    ProductSpec(
        "Papers & Wraps",
        "RAW",
        "Black Rolling Papers",
        "RAW-BLACK",
        "2.49",
        {"size": _PAPER_SIZES},
        stocked_at=AT_BMB,
        low_stock_threshold=24,
        option_prices={"King Size Slim": "3.29"},
    ),
    ProductSpec(
        "Papers & Wraps",
        "RAW",
        "Organic Hemp Papers",
        "RAW-ORGANIC",
        "2.49",
        {"size": _PAPER_SIZES},
        stocked_at=AT_BMB,
        low_stock_threshold=24,
        option_prices={"King Size Slim": "3.29"},
    ),
    ProductSpec(
        "Papers & Wraps",
        "RAW",
        "Classic Pre-Rolled Cones",
        "RAW-CONES",
        "3.49",
        {"pack": (("1¼, 6 cones", "114-6"), ("King Size, 3 cones", "KS-3"), ("King Size, 32 cones", "KS-32"))},
        stocked_at=AT_BMB_AND_AMAZON,
        low_stock_threshold=12,
        option_prices={"King Size, 32 cones": "14.99"},
    ),
    ProductSpec(
        "Papers & Wraps",
        "Zig-Zag",
        "Rolling Papers",
        "ZIGZAG",
        "1.99",
        {
            "style": (
                ("Orange 1¼", "ORANGE-114"),
                ("White Single Wide", "WHITE-SW"),
                ("Ultra Thin 1¼", "ULTRATHIN-114"),
                ("Kutcorners 1¼", "KUTCORNERS-114"),
            )
        },
        stocked_at=AT_BMB,
        low_stock_threshold=24,
    ),
    ProductSpec(
        "Papers & Wraps", "OCB", "Premium Slim Papers", "OCB-PREMIUM", "2.19", {"size": _PAPER_SIZES}, AT_BMB, 24
    ),
    ProductSpec(
        "Papers & Wraps",
        "Juicy Jay's",
        "Flavoured King Size Papers",
        "JUICYJAYS-KS",
        "2.49",
        {"flavour": ("Strawberry", "Cherry", "Grape", "Blueberry", "Watermelon", "Pineapple", "Bubble Gum", "Mango")},
        stocked_at=AT_BMB,
        low_stock_threshold=18,
    ),
    ProductSpec(
        "Papers & Wraps",
        "Juicy Jay's",
        "Hemp Wraps 2-pack",
        "JUICYJAYS-WRAP",
        "2.99",
        {"flavour": ("Original", "Grape", "Blueberry", "Mango")},
        stocked_at=AT_BMB,
        low_stock_threshold=18,
    ),
    ProductSpec(
        "Cigars & Cigarillos",
        "Backwoods",
        "Cigars 5-pack",
        "BACKWOODS-5PK",
        "9.49",
        {"flavour": ("Honey", "Sweet Aromatic", "Honey Berry", "Russian Cream", "Dark Stout", "Grape")},
        stocked_at=AT_BMB,
        low_stock_threshold=12,
    ),
    ProductSpec(
        "Cigars & Cigarillos",
        "Swisher Sweets",
        "Cigarillos 2-pack",
        "SWISHER-2PK",
        "1.29",
        {"flavour": ("Original", "Grape", "Tropical Fusion", "Diamonds", "Wine", "Peach")},
        stocked_at=AT_BMB,
        low_stock_threshold=24,
    ),
    ProductSpec(
        "Lighters & Torches",
        "BIC",
        "Classic Lighter",
        "BIC-CLASSIC",
        "1.99",
        {"colour": ("Black", "Red", "Blue", "Green", "Yellow", "Purple", "White")},
        stocked_at=AT_BMB,
        low_stock_threshold=24,
    ),
    ProductSpec(
        "Lighters & Torches",
        "Clipper",
        "Refillable Lighter",
        "CLIPPER",
        "2.49",
        {"colour": ("Black", "White", "Red", "Blue", "Green", "Pink")},
        stocked_at=AT_BMB,
        low_stock_threshold=24,
    ),
    ProductSpec(
        "Lighters & Torches",
        "Zippo",
        "Classic Windproof Lighter",
        "ZIPPO-CLASSIC",
        "21.95",
        {"finish": ("Brushed Chrome", "Black Matte", "High Polish Chrome", "Black Ice", "Street Chrome")},
        stocked_at=AT_BMB_AND_AMAZON,
        low_stock_threshold=4,
        option_prices={"Brushed Chrome": "17.95", "High Polish Chrome": "27.95", "Black Ice": "39.95"},
    ),
    ProductSpec(
        "Lighters & Torches",
        "Scorch Torch",
        "Single Jet Torch",
        "SCORCH-SINGLE",
        "24.99",
        {"colour": ("Black", "Blue", "Red", "Gunmetal")},
        stocked_at=AT_BMB,
        low_stock_threshold=3,
    ),
    ProductSpec(
        "Lighters & Torches",
        "Blazer",
        "Big Shot Butane Torch",
        "BLAZER-BIGSHOT",
        "54.99",
        {"colour": ("Black", "Gunmetal", "Teal")},
        stocked_at=AT_BMB,
        low_stock_threshold=2,
    ),
    ProductSpec(
        "Lighters & Torches",
        "Newport",
        "Zero Ultra Refined Butane",
        "NEWPORT-BUTANE",
        "6.99",
        {"size": (("165 ml", "165ML"), ("300 ml", "300ML"), ("420 ml", "420ML"))},
        stocked_at=AT_BMB,
        low_stock_threshold=12,
        option_prices={"300 ml": "9.99", "420 ml": "12.99"},
    ),
    ProductSpec(
        "Hookah",
        "Al Fakher",
        "Shisha Tobacco 250 g",
        "ALFAKHER-250G",
        "14.99",
        {
            "flavour": (
                "Double Apple",
                "Mint",
                "Grape",
                "Grape with Mint",
                "Watermelon",
                "Blueberry",
                "Lemon with Mint",
                "Peach",
                "Gum with Mint",
                "Two Apples",
            )
        },
        stocked_at=AT_BMB,
        low_stock_threshold=6,
        attributes={"weight": "250 g"},
    ),
    ProductSpec(
        "Hookah",
        "Starbuzz",
        "Shisha Tobacco 100 g",
        "STARBUZZ-100G",
        "13.99",
        {"flavour": ("Blue Mist", "Pirates Cave", "Code 69", "Irish Peach", "Pink Lemonade", "Safari Melon Dew")},
        stocked_at=AT_BMB,
        low_stock_threshold=6,
        attributes={"weight": "100 g"},
    ),
    ProductSpec(
        "Hookah",
        "CocoNara",
        "Coconut Charcoal Cubes",
        "COCONARA",
        "9.99",
        {"pack": (("72 cubes", "72"), ("108 cubes", "108"))},
        stocked_at=AT_BMB,
        low_stock_threshold=8,
        option_prices={"108 cubes": "13.99"},
    ),
    ProductSpec(
        "Hookah",
        "Khalil Mamoon",
        "Traditional Hookah",
        "KHALILMAMOON",
        "99.99",
        {"size": (("Small, 24 in", "SM"), ("Medium, 30 in", "MD"), ("Large, 34 in", "LG"))},
        stocked_at=AT_BMB,
        low_stock_threshold=1,
        option_prices={"Small, 24 in": "79.99", "Large, 34 in": "149.99"},
    ),
    ProductSpec(
        "Hookah",
        "Kaloud",
        "Lotus I+ Heat Management Device",
        "KALOUD-LOTUS",
        "34.99",
        {"colour": ("Silver", "Black", "Gold", "Rose")},
        stocked_at=AT_BMB_AND_AMAZON,
        low_stock_threshold=3,
    ),
    # Barber & Grooming: BookBarber's shop stock; BMB wholesales the consumables and best sellers.
    ProductSpec(
        "Clippers & Trimmers",
        "Wahl",
        "Magic Clip Cordless Clipper",
        "WAHL-MAGICCLIP",
        "129.99",
        {"edition": ("Standard", "Gold", "Copper")},
        stocked_at=AT_BOTH_AND_AMAZON,
        low_stock_threshold=2,
        option_prices={"Gold": "149.99", "Copper": "149.99"},
    ),
    ProductSpec(
        "Clippers & Trimmers",
        "Wahl",
        "Senior Cordless Clipper",
        "WAHL-SENIOR",
        "149.99",
        {"edition": ("Standard", "Gold")},
        stocked_at=AT_BOOKBARBER,
        low_stock_threshold=2,
        option_prices={"Gold": "169.99"},
    ),
    ProductSpec(
        "Clippers & Trimmers",
        "Wahl",
        "Detailer Li Cordless Trimmer",
        "WAHL-DETAILER",
        "119.99",
        {"edition": ("Standard", "Gold")},
        stocked_at=AT_BOOKBARBER,
        low_stock_threshold=2,
        option_prices={"Gold": "134.99"},
    ),
    ProductSpec(
        "Clippers & Trimmers",
        "Andis",
        "Master Clipper",
        "ANDIS-MASTER",
        "119.99",
        {"power": ("Corded", ("Cordless Li", "CORDLESS"))},
        stocked_at=AT_BOTH,
        low_stock_threshold=2,
        option_prices={"Cordless Li": "189.99"},
    ),
    ProductSpec(
        "Clippers & Trimmers",
        "Andis",
        "T-Outliner Trimmer",
        "ANDIS-TOUTLINER",
        "79.99",
        {"power": ("Corded", ("Cordless Li", "CORDLESS"))},
        stocked_at=AT_BOOKBARBER,
        low_stock_threshold=2,
        option_prices={"Cordless Li": "124.99"},
    ),
    ProductSpec(
        "Clippers & Trimmers",
        "Andis",
        "Slimline Pro Li Trimmer",
        "ANDIS-SLIMLINE",
        "74.99",
        {"colour": ("Black", "Chrome", "Gold")},
        stocked_at=AT_BOOKBARBER,
        low_stock_threshold=2,
    ),
    ProductSpec(
        "Clippers & Trimmers",
        "BaBylissPRO",
        "GoldFX",
        "BABYLISS-GOLDFX",
        "209.99",
        {"tool": (("Clipper FX870G", "CLIPPER"), ("Trimmer FX787G", "TRIMMER"), ("Shaver FXFS2G", "SHAVER"))},
        stocked_at=AT_BOOKBARBER,
        low_stock_threshold=1,
        option_prices={"Trimmer FX787G": "169.99", "Shaver FXFS2G": "99.99"},
    ),
    ProductSpec(
        "Clippers & Trimmers",
        "BaBylissPRO",
        "SkeletonFX Clipper",
        "BABYLISS-SKELETONFX",
        "199.99",
        {"colour": ("Black", "Gold", "Rose Gold")},
        stocked_at=AT_BOOKBARBER,
        low_stock_threshold=1,
    ),
    ProductSpec(
        "Clippers & Trimmers",
        "StyleCraft",
        "Instinct Clipper",
        "STYLECRAFT-INSTINCT",
        "249.99",
        {"colour": ("Black", "Gold")},
        stocked_at=AT_BOOKBARBER,
        low_stock_threshold=1,
    ),
    ProductSpec(
        "Clippers & Trimmers",
        "Gamma+",
        "Absolute Hitter Trimmer",
        "GAMMA-HITTER",
        "179.99",
        {"colour": ("Black", "Gold")},
        stocked_at=AT_BOOKBARBER,
        low_stock_threshold=1,
    ),
    ProductSpec(
        "Shaving",
        "Tomb45",
        "Shaving Cream",
        "TOMB45-SHAVE",
        "14.99",
        {
            "scent": (
                ("Charcoal Black", "CBLCK"),
                ("Original", "ORIG"),
                ("Eucalyptus Mint", "EUMNT"),
                ("Sandalwood", "SNDWD"),
            )
        },
        stocked_at=AT_BOTH,
        low_stock_threshold=6,
        attributes={"size": "8 oz"},
    ),
    ProductSpec(
        "Shaving",
        "Proraso",
        "Shaving Cream 150 ml",
        "PRORASO-CREAM",
        "12.50",
        {"formula": ("Refresh", "Sensitive", "Nourish", "Protect")},
        stocked_at=AT_BOTH,
        low_stock_threshold=6,
        attributes={"size": "150 ml"},
    ),
    ProductSpec(
        "Shaving",
        "Clubman Pinaud",
        "Lilac Vegetal After Shave",
        "CLUBMAN-LILAC",
        "9.99",
        {"size": (("6 oz", "6OZ"), ("12.5 oz", "12OZ"), ("16.9 oz", "17OZ"))},
        stocked_at=AT_BOTH,
        low_stock_threshold=4,
        option_prices={"12.5 oz": "14.99", "16.9 oz": "18.99"},
    ),
    ProductSpec(
        "Shaving",
        "Gillette",
        "Platinum Double Edge Blades",
        "GILLETTE-PLATINUM",
        "2.49",
        {"pack": (("5 blades", "5"), ("100 blades", "100"))},
        stocked_at=AT_BOTH,
        low_stock_threshold=10,
        option_prices={"100 blades": "24.99"},
    ),
    ProductSpec(
        "Shaving",
        "Derby",
        "Premium Super Stainless Blades",
        "DERBY-PREMIUM",
        "1.99",
        {"pack": (("5 blades", "5"), ("100 blades", "100"))},
        stocked_at=AT_BOTH,
        low_stock_threshold=10,
        option_prices={"100 blades": "17.99"},
    ),
    ProductSpec(
        "Shaving",
        "Feather",
        "Hi-Stainless Platinum Blades",
        "FEATHER-HISTAINLESS",
        "7.99",
        {"pack": (("10 blades", "10"), ("100 blades", "100"))},
        stocked_at=AT_BOTH,
        low_stock_threshold=6,
        option_prices={"100 blades": "59.99"},
    ),
    ProductSpec(
        "Hair Care",
        "Layrite",
        "Pomade",
        "LAYRITE",
        "22.00",
        {"hold": ("Original", "Cement", "Superhold", "Natural Matte"), "size": (("4.25 oz", "4OZ"), ("10 oz", "10OZ"))},
        stocked_at=AT_BOTH_AND_AMAZON,
        low_stock_threshold=4,
        option_prices={"10 oz": "39.00"},
    ),
    ProductSpec(
        "Hair Care",
        "Reuzel",
        "Pomade",
        "REUZEL",
        "22.00",
        {
            "formula": (
                ("Blue, Strong Hold Water Soluble", "BLUE"),
                ("Pink, Heavy Hold Grease", "PINK"),
                ("Green, Medium Hold Grease", "GREEN"),
                ("Red, High Sheen Water Soluble", "RED"),
                ("Grey, Extreme Hold Matte", "GREY"),
            ),
            "size": (("4 oz", "4OZ"), ("12 oz", "12OZ")),
        },
        stocked_at=AT_BOOKBARBER,
        low_stock_threshold=4,
        option_prices={"12 oz": "45.00"},
    ),
    ProductSpec(
        "Hair Care",
        "Suavecito",
        "Pomade",
        "SUAVECITO",
        "15.00",
        {
            "hold": (("Original Hold", "ORIG"), ("Firme Hold", "FIRME"), "Matte", ("Oil Based", "OIL")),
            "size": (("4 oz", "4OZ"), ("32 oz", "32OZ")),
        },
        stocked_at=AT_BOTH_AND_AMAZON,
        low_stock_threshold=4,
        option_prices={"32 oz": "65.00"},
    ),
    ProductSpec(
        "Hair Care",
        "Murray's",
        "Superior Pomade 3 oz",
        "MURRAYS",
        "4.99",
        {"formula": ("Original", "Edgewax", "Beeswax")},
        stocked_at=AT_BOTH,
        low_stock_threshold=8,
    ),
    ProductSpec(
        "Hair Care",
        "Uppercut Deluxe",
        "Styling Products 100 g",
        "UPPERCUT",
        "24.00",
        {"formula": ("Pomade", "Featherweight", "Matt Clay", "Monster Hold")},
        stocked_at=AT_BOOKBARBER,
        low_stock_threshold=4,
    ),
    ProductSpec(
        "Hair Care",
        "American Crew",
        "Fiber",
        "AMCREW-FIBER",
        "19.50",
        {"size": (("1.75 oz", "175OZ"), ("3 oz", "3OZ"))},
        stocked_at=AT_BOOKBARBER,
        low_stock_threshold=4,
        option_prices={"1.75 oz": "13.50"},
    ),
    ProductSpec(
        "Beard Care",
        "Honest Amish",
        "Beard Balm 2 oz",
        "HONESTAMISH-BALM",
        "14.99",
        {"formula": ("Original", "Classic", "Pure Organic")},
        stocked_at=AT_BOOKBARBER,
        low_stock_threshold=4,
    ),
    ProductSpec(
        "Beard Care",
        "Cremo",
        "Beard Oil 1 oz",
        "CREMO-OIL",
        "12.99",
        {"scent": ("Forest Blend", "Mint Blend", "Distiller's Blend")},
        stocked_at=AT_BOOKBARBER,
        low_stock_threshold=4,
    ),
    ProductSpec(
        "Beard Care",
        "Bossman",
        "Jelly Beard Oil",
        "BOSSMAN-JELLY",
        "15.99",
        {"scent": ("Magic", "Royal", "Hammer", "Nature's")},
        stocked_at=AT_BOOKBARBER,
        low_stock_threshold=4,
    ),
    ProductSpec(
        "Barber Tools",
        "Barbicide",
        "Disinfectant Concentrate",
        "BARBICIDE",
        "12.99",
        {"size": (("16 oz", "16OZ"), ("64 oz", "64OZ"))},
        stocked_at=AT_BOTH_AND_AMAZON,
        low_stock_threshold=4,
        option_prices={"64 oz": "24.99"},
    ),
    ProductSpec(
        "Barber Tools",
        "Andis",
        "Cool Care Plus",
        "ANDIS-COOLCARE",
        "10.99",
        {"size": (("15.5 oz", "155OZ"),)},
        stocked_at=AT_BOTH,
        low_stock_threshold=6,
    ),
    ProductSpec(
        "Barber Tools",
        "Tomb45",
        "Clipper Grip",
        "TOMB45-GRIP",
        "14.99",
        {"colour": ("Black", "Red", "Blue", "Gold", "Camo", "White", "Pink")},
        stocked_at=AT_BOTH_AND_AMAZON,
        low_stock_threshold=4,
    ),
    ProductSpec(
        "Barber Tools",
        "Tomb45",
        "PowerClip Wireless Charging Adapter",
        "TOMB45-POWERCLIP",
        "34.99",
        {
            "fits": (
                ("Wahl Magic Clip", "WAHL-MC"),
                ("Wahl Senior", "WAHL-SR"),
                ("Andis Master", "ANDIS-MA"),
                ("BaBylissPRO FX", "BABYLISS-FX"),
            )
        },
        stocked_at=AT_BOTH_AND_AMAZON,
        low_stock_threshold=3,
    ),
    ProductSpec(
        "Barber Tools",
        "Wahl",
        "Premium Cutting Guides 8-pack",
        "WAHL-GUIDES",
        "15.99",
        {"colour": ("Colour-coded", "Black")},
        stocked_at=AT_BOOKBARBER,
        low_stock_threshold=3,
    ),
    ProductSpec(
        "Barber Tools",
        "Diane",
        "Barber Cape",
        "DIANE-CAPE",
        "19.99",
        {"colour": ("Black", "White", "Navy", "Red")},
        stocked_at=AT_BOOKBARBER,
        low_stock_threshold=2,
    ),
    ProductSpec(
        "Barber Tools",
        "Diane",
        "Neck Strips 5 x 100",
        "DIANE-NECKSTRIP",
        "11.99",
        {"pack": (("5 rolls", "5R"),)},
        stocked_at=AT_BOTH,
        low_stock_threshold=6,
    ),
    ProductSpec(
        "Barber Tools",
        "Denman",
        "D3 Classic Styling Brush",
        "DENMAN-D3",
        "17.99",
        {"colour": ("Black", "Pink")},
        stocked_at=AT_BOOKBARBER,
        low_stock_threshold=2,
    ),
    ProductSpec(
        "Barber Tools",
        "Continuum",
        "Mist Spray Bottle 10 oz",
        "CONTINUUM-MIST",
        "9.99",
        {"colour": ("Black", "Clear", "Rose Gold", "Matte Silver")},
        stocked_at=AT_BOOKBARBER,
        low_stock_threshold=3,
    ),
    # Convenience: impulse buys at the cash & carry counter.
    ProductSpec(
        "Snacks",
        "Takis",
        "Rolled Tortilla Chips",
        "TAKIS",
        "1.29",
        {"flavour": ("Fuego", "Blue Heat", "Nitro", "Crunchy Fajita"), "size": (("1 oz", "1OZ"), ("9.9 oz", "99OZ"))},
        stocked_at=AT_BMB,
        low_stock_threshold=24,
        option_prices={"9.9 oz": "5.49"},
    ),
    ProductSpec(
        "Snacks",
        "Doritos",
        "Tortilla Chips",
        "DORITOS",
        "2.29",
        {
            "flavour": ("Nacho Cheese", "Cool Ranch", "Spicy Sweet Chili", "Flamin' Hot Nacho"),
            "size": (("1.75 oz", "175OZ"), ("9.25 oz", "925OZ")),
        },
        stocked_at=AT_BMB,
        low_stock_threshold=24,
        option_prices={"9.25 oz": "5.99"},
    ),
    ProductSpec(
        "Snacks",
        "Cheetos",
        "Cheese Snacks",
        "CHEETOS",
        "2.29",
        {"flavour": ("Crunchy", "Flamin' Hot", "Puffs"), "size": (("2 oz", "2OZ"), ("8.5 oz", "85OZ"))},
        stocked_at=AT_BMB,
        low_stock_threshold=24,
        option_prices={"8.5 oz": "5.29"},
    ),
    ProductSpec(
        "Snacks",
        "Slim Jim",
        "Giant Meat Stick",
        "SLIMJIM-GIANT",
        "1.99",
        {"flavour": ("Original", "Mild", "Tabasco")},
        stocked_at=AT_BMB,
        low_stock_threshold=24,
    ),
    ProductSpec(
        "Snacks",
        "Lay's",
        "Potato Chips 2.625 oz",
        "LAYS",
        "2.29",
        {"flavour": ("Classic", "Barbecue", "Salt & Vinegar", "Sour Cream & Onion")},
        stocked_at=AT_BMB,
        low_stock_threshold=24,
    ),
    ProductSpec(
        "Snacks",
        "David",
        "Sunflower Seeds 5.25 oz",
        "DAVID-SEEDS",
        "1.79",
        {"flavour": ("Original", "Ranch", "Dill Pickle", "Jalapeño Hot Sauce")},
        stocked_at=AT_BMB,
        low_stock_threshold=24,
    ),
    ProductSpec(
        "Drinks",
        "Red Bull",
        "Energy Drink",
        "REDBULL",
        "2.99",
        {
            "flavour": (
                "Original",
                "Sugarfree",
                ("Red Edition (Watermelon)", "RED"),
                ("Yellow Edition (Tropical)", "YELLOW"),
                ("Blue Edition (Blueberry)", "BLUE"),
            ),
            "size": (("8.4 oz", "84OZ"), ("12 oz", "12OZ")),
        },
        stocked_at=AT_BMB,
        low_stock_threshold=24,
        option_prices={"12 oz": "3.79"},
    ),
    ProductSpec(
        "Drinks",
        "Monster",
        "Energy 16 oz",
        "MONSTER",
        "2.99",
        {"flavour": ("Original Green", "Zero Ultra", "Ultra Paradise", "Mango Loco", "Pipeline Punch", "Ultra Fiesta")},
        stocked_at=AT_BMB,
        low_stock_threshold=24,
    ),
    ProductSpec(
        "Drinks",
        "Prime",
        "Hydration 16.9 oz",
        "PRIME-HYDRATION",
        "2.49",
        {"flavour": ("Tropical Punch", "Blue Raspberry", "Ice Pop", "Lemon Lime", "Grape", "Meta Moon")},
        stocked_at=AT_BMB,
        low_stock_threshold=24,
    ),
    ProductSpec(
        "Drinks",
        "AriZona",
        "Iced Tea 23 oz",
        "ARIZONA",
        "0.99",
        {"flavour": ("Green Tea", "Arnold Palmer", "Mucho Mango", "Fruit Punch", "Watermelon")},
        stocked_at=AT_BMB,
        low_stock_threshold=36,
    ),
    ProductSpec(
        "Drinks",
        "Celsius",
        "Energy 12 oz",
        "CELSIUS",
        "2.79",
        {"flavour": ("Sparkling Orange", "Kiwi Guava", "Peach Vibe", "Arctic Vibe", "Sparkling Watermelon")},
        stocked_at=AT_BMB,
        low_stock_threshold=24,
    ),
    ProductSpec(
        "Candy",
        "Skittles",
        "Bite Size Candies",
        "SKITTLES",
        "1.69",
        {
            "flavour": ("Original", "Sour", "Wild Berry", "Tropical"),
            "size": (("2.17 oz", "217OZ"), ("Share Size 4 oz", "4OZ")),
        },
        stocked_at=AT_BMB,
        low_stock_threshold=24,
        option_prices={"Share Size 4 oz": "2.79"},
    ),
    ProductSpec(
        "Candy",
        "Warheads",
        "Extreme Sour",
        "WARHEADS",
        "1.49",
        {"format": (("Hard Candy 1 oz", "HARD"), ("Sour Chewy Cubes 4 oz", "CUBES"), ("Sour Twists 5 oz", "TWISTS"))},
        stocked_at=AT_BMB,
        low_stock_threshold=24,
        option_prices={"Sour Chewy Cubes 4 oz": "2.49", "Sour Twists 5 oz": "2.99"},
    ),
    ProductSpec(
        "Candy",
        "Haribo",
        "Gummies 5 oz",
        "HARIBO",
        "2.49",
        {"flavour": ("Goldbears", "Twin Snakes", "Happy Cola", "Sour Streamers")},
        stocked_at=AT_BMB,
        low_stock_threshold=24,
    ),
    ProductSpec(
        "Candy",
        "AirHeads",
        "Taffy Bar",
        "AIRHEADS",
        "0.35",
        {"flavour": ("Cherry", "Blue Raspberry", "White Mystery", "Watermelon", "Orange")},
        stocked_at=AT_BMB,
        low_stock_threshold=48,
    ),
    ProductSpec(
        "Candy",
        "Trolli",
        "Sour Brite Crawlers 5 oz",
        "TROLLI-CRAWLERS",
        "1.99",
        {"flavour": ("Original", "Very Berry", "Pink Lemonade")},
        stocked_at=AT_BMB,
        low_stock_threshold=24,
    ),
)


@transaction.atomic
def build_demo_world(*, admin_password: str) -> DemoSummary:
    """Create or top up the demo world in one transaction and say what it now holds."""
    organizations = {spec.slug: _organization(spec) for spec in ORGANIZATIONS}
    warehouses = {spec.code: _warehouse(spec, organizations) for spec in WAREHOUSES}
    channels = {spec.code: _channel(spec, organizations, warehouses) for spec in CHANNELS}
    variant_specs = [variant for product in CATALOGUE for variant in _variants_of(product)]
    variants = _sync_catalogue(variant_specs, owner=organizations[SUPPLIER_SLUG])
    _book_opening_stock(variant_specs, variants, warehouses)
    listing_ids = _create_missing_listings(variant_specs, variants, channels)
    refresh_listings(listing_ids=listing_ids, cause=ListingStateChange.Cause.CATALOG)
    _ensure_admin(admin_password)
    _ensure_role_users(admin_password, organizations)
    events.demo_world_loaded.send(sender=None, organizations=organizations, warehouses=warehouses, channels=channels)
    return _summarise()


def _organization(spec: OrganizationSpec) -> Organization:
    organization, _ = Organization.objects.update_or_create(
        slug=spec.slug, defaults={"name": spec.name, "kind": spec.kind}
    )
    return organization


def _warehouse(spec: WarehouseSpec, organizations: dict[str, Organization]) -> Warehouse:
    warehouse, _ = Warehouse.objects.update_or_create(
        code=spec.code,
        defaults={
            "name": spec.name,
            "organization": organizations[spec.organization],
            "system_of_record": spec.system_of_record,
            "external_location_id": spec.external_location_id,
            "address": spec.address,
        },
    )
    return warehouse


def _channel(spec: ChannelSpec, organizations: dict[str, Organization], warehouses: dict[str, Warehouse]) -> Channel:
    channel, _ = Channel.objects.update_or_create(
        code=spec.code,
        defaults={
            "name": spec.name,
            "kind": spec.kind,
            "organization": organizations[spec.organization],
            "reservation_ttl_seconds": spec.reservation_ttl_seconds,
        },
    )
    for priority, code in enumerate(spec.draws_from):
        ChannelWarehouse.objects.update_or_create(
            channel=channel, warehouse=warehouses[code], defaults={"priority": priority}
        )
    return channel


def _variants_of(product: ProductSpec) -> list[VariantSpec]:
    axes = list(product.options)
    variants = []
    for combination in itertools.product(*product.options.values()):
        labels = [_label(option) for option in combination]
        price = next(
            (Decimal(product.option_prices[label]) for label in labels if label in product.option_prices),
            Decimal(product.price),
        )
        variants.append(
            VariantSpec(
                product=product,
                sku="-".join([product.sku_stem, *(_sku_code(option) for option in combination)]),
                name=", ".join(labels),
                attributes={**product.attributes, **dict(zip(axes, labels, strict=True))},
                price=price,
            )
        )
    return variants


def _label(option: Option) -> str:
    return option if isinstance(option, str) else option[0]


def _sku_code(option: Option) -> str:
    return slugify(option).upper() if isinstance(option, str) else option[1]


def _sync_catalogue(variant_specs: list[VariantSpec], *, owner: Organization) -> dict[str, Variant]:
    """The catalogue is the supplier's: it changes it and sees its cost prices."""
    categories = _sync_categories()
    products = _sync_rows(
        Product,
        ("brand", "name"),
        {
            (spec.brand, spec.name): {"category_id": categories[spec.category].pk, "organization_id": owner.pk}
            for spec in CATALOGUE
        },
    )
    variants = _sync_rows(
        Variant,
        ("sku",),
        {
            (spec.sku,): _variant_fields(spec, product_id=products[(spec.product.brand, spec.product.name)].pk)
            for spec in variant_specs
        },
    )
    return {sku: variant for (sku,), variant in variants.items()}


def _sync_categories() -> dict[str, Category]:
    """The leaf categories by name (leaf names are unique across the tree)."""
    leaves = {}
    for root_name, leaf_names in CATEGORY_TREE.items():
        root, _ = Category.objects.update_or_create(parent=None, slug=slugify(root_name), defaults={"name": root_name})
        for leaf_name in leaf_names:
            leaves[leaf_name], _ = Category.objects.update_or_create(
                parent=root, slug=slugify(leaf_name), defaults={"name": leaf_name}
            )
    return leaves


def _variant_fields(spec: VariantSpec, *, product_id: int) -> dict:
    rng = _rng("variant", spec.sku)
    threshold = spec.product.low_stock_threshold
    margin_percent = rng.randint(45, 70)
    return {
        "product_id": product_id,
        "name": spec.name,
        "barcode": _ean13(spec.product.brand, spec.sku),
        "attributes": spec.attributes,
        "price": spec.price,
        "cost_price": (spec.price * margin_percent / 100).quantize(CENT, ROUND_HALF_UP),
        "low_stock_threshold": threshold,
        "reorder_point": _reorder_point(spec),
    }


def _reorder_point(spec: VariantSpec) -> int:
    """Reorder while there is still twice the low-stock threshold on hand."""
    return spec.product.low_stock_threshold * 2


def _ean13(brand: str, sku: str) -> str:
    """A valid-looking EAN-13 (a US UPC): a company prefix per brand, an item number per SKU, a check digit."""
    company = _digest_number(brand) % 10**5
    item = _digest_number(sku) % 10**6
    body = f"0{company:05d}{item:06d}"
    weighted = sum(int(digit) * (3 if position % 2 else 1) for position, digit in enumerate(body))
    return f"{body}{(10 - weighted % 10) % 10}"


def _digest_number(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _rng(*key: str) -> random.Random:
    """A generator seeded by a row's natural key, so each figure is stable whatever else changes."""
    return random.Random(":".join((SEED, *key)))


def _sync_rows(
    model: type[models.Model], key_fields: tuple[str, ...], wanted: dict[tuple, dict]
) -> dict[tuple, models.Model]:
    """Create the missing rows in bulk and save the ones that drifted from ``wanted``; leave matching rows alone.

    ``wanted`` maps natural keys to field values; give foreign keys as ``*_id`` so comparing them costs no query.
    """

    def rows_by_key() -> dict[tuple, models.Model]:
        lookup = {f"{name}__in": {key[i] for key in wanted} for i, name in enumerate(key_fields)}
        return {
            key: row
            for row in model.objects.filter(**lookup)
            if (key := tuple(getattr(row, name) for name in key_fields)) in wanted
        }

    existing = rows_by_key()
    model.objects.bulk_create(
        model(**dict(zip(key_fields, key, strict=True)), **fields)
        for key, fields in wanted.items()
        if key not in existing
    )
    for key, row in existing.items():
        if any(getattr(row, name) != value for name, value in wanted[key].items()):
            for name, value in wanted[key].items():
                setattr(row, name, value)
            row.save()  # rare (the catalogue changed in code), so one by one, which keeps updated_at right
    return rows_by_key()


def _book_opening_stock(
    variant_specs: list[VariantSpec], variants: dict[str, Variant], warehouses: dict[str, Warehouse]
) -> None:
    """Receive opening stock for levels that do not exist yet, in one ledgered operation.

    ``set_on_hand`` rather than a delta so that an empty level is created too (a zero delta is refused).
    """
    existing = set(
        StockLevel.objects.filter(warehouse__in=warehouses.values(), variant__in=variants.values()).values_list(
            "warehouse_id", "variant_id"
        )
    )
    changes = [
        StockChange(
            warehouse=warehouses[code],
            variant=variants[spec.sku],
            reason=StockMovement.Reason.RECEIPT,
            set_on_hand=_opening_quantity(spec, code),
            reference=OPENING_STOCK_REFERENCE,
        )
        for spec in variant_specs
        for code in spec.product.stocked_at
        if (warehouses[code].pk, variants[spec.sku].pk) not in existing
    ]
    apply_stock_changes(changes, source=StockMovement.Source.SYSTEM)


def _opening_quantity(spec: VariantSpec, warehouse_code: str) -> int:
    """The story's ``SHORTAGES``; else more than a low-stock threshold above the reorder point, so that no stock
    alert fires and every channel, after its buffer and share, has some to sell."""
    if (warehouse_code, spec.sku) in SHORTAGES:
        return SHORTAGES[(warehouse_code, spec.sku)]
    threshold = spec.product.low_stock_threshold
    return _rng("stock", warehouse_code, spec.sku).randint(_reorder_point(spec) + threshold + 1, threshold * 6)


def _create_missing_listings(
    variant_specs: list[VariantSpec], variants: dict[str, Variant], channels: dict[str, Channel]
) -> list[int]:
    """List each channel's variants; existing listings keep the exposure rules staff gave them."""
    wanted = {}
    for channel_spec in CHANNELS:
        channel = channels[channel_spec.code]
        for spec in variant_specs:
            if channel_spec.lists_stock_of in spec.product.stocked_at:
                wanted[(channel.pk, variants[spec.sku].pk)] = _listing_rules(channel_spec, spec)
    existing = set(ChannelListing.objects.filter(channel__in=channels.values()).values_list("channel_id", "variant_id"))
    ChannelListing.objects.bulk_create(
        ChannelListing(channel_id=channel_id, variant_id=variant_id, **rules)
        for (channel_id, variant_id), rules in wanted.items()
        if (channel_id, variant_id) not in existing
    )
    return [
        pk
        for pk, channel_id, variant_id in ChannelListing.objects.filter(channel__in=channels.values()).values_list(
            "pk", "channel_id", "variant_id"
        )
        if (channel_id, variant_id) in wanted
    ]


def _listing_rules(channel: ChannelSpec, variant: VariantSpec) -> dict:
    price = None
    if channel.price_factor is not None:
        price = (variant.price * channel.price_factor).quantize(CENT, ROUND_HALF_UP)
    return {
        "buffer": channel.buffer,
        "allocation_percent": channel.allocation_percent,
        "max_quantity": channel.max_quantity,
        "price": price,
    }


def _ensure_admin(password: str) -> None:
    """The demo's superuser; its password follows the setting on every run."""
    admin, _ = get_user_model().objects.get_or_create(
        username=ADMIN_USERNAME, defaults={"email": "admin@stockpool.example"}
    )
    admin.is_staff = admin.is_superuser = admin.is_active = True
    admin.set_password(password)
    admin.save()


def role_usernames() -> dict[str, str]:
    """Each demo login and what it is, e.g. ``{"clerk": "Stock clerk at BMB Wholesale …", …}``."""
    names = {}
    for spec in ORGANIZATIONS:
        for prefix, role in ROLES.items():
            username = prefix if spec.slug == SUPPLIER_SLUG else f"{spec.slug}-{prefix}"
            names[username] = (spec.slug, role, f"{Membership.GROUPS[role]} at {spec.name}")
    return names


def _ensure_role_users(password: str, organizations: dict[str, Organization]) -> None:
    """A stock clerk and a manager of each organization, to see the back office as each does."""
    for username, (slug, role, _label) in role_usernames().items():
        user, _ = get_user_model().objects.get_or_create(
            username=username, defaults={"email": f"{username}@stockpool.example"}
        )
        user.is_staff, user.is_active = True, True
        user.set_password(password)
        user.save()
        set_membership(user, organizations[slug], role)


def _summarise() -> DemoSummary:
    levels = StockLevel.objects.all()
    low = levels.alias(available=F("on_hand") - F("reserved")).filter(
        available__gt=0, available__lte=F("variant__low_stock_threshold")
    )
    return DemoSummary(
        organizations=Organization.objects.count(),
        warehouses=Warehouse.objects.count(),
        channels=Channel.objects.count(),
        variants=Variant.objects.count(),
        listings=ChannelListing.objects.count(),
        sellable_listings=ChannelListing.objects.filter(is_sellable=True).count(),
        stock_levels=levels.count(),
        empty_levels=levels.filter(on_hand=0).count(),
        low_levels=low.count(),
        units_on_hand=levels.aggregate(total=Sum("on_hand"))["total"] or 0,
        admin_username=ADMIN_USERNAME,
        role_usernames={username: label for username, (_, _, label) in role_usernames().items()},
    )
