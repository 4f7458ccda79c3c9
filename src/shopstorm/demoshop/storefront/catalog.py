"""The storefront's catalog: every webshop item is a product, with a name, a slug and a category.

Stock and price are the item's own (table ``items``). Name, slug and category come from the side table
``products`` when an item has a row there, else from a stable rule: name ``Product <id>``, slug ``item-<id>``,
and one of :data:`CATEGORIES` picked by the code point of the id's last character, so that
``POST /stock/batch_init/50/...`` spreads 50 products evenly over the five categories. The rule is one SQL
expression, so a category page, a search or a product page is one query over ``items`` outer-joined to
``products``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, ColumnElement, Row, Select, String, Table, case, func, literal, or_, select

from shopstorm.demoshop.core.store import Store, items, metadata

CATEGORIES = ("shoes", "shirts", "hats", "bags", "socks")
VARIANT_CATEGORY = "shirts"
STARTER_PRODUCTS, STARTER_STOCK, STARTER_PRICE = 20, 1000, 10
DEFAULT_SLUG_PREFIX = "item-"
FEATURED_COUNT = 8
# A category page lists at most this many products, a search at most SEARCH_LIMIT: pages stay small and fast
# however many items a benchmark seeds.
CATEGORY_LIMIT = 200
SEARCH_LIMIT = 50

# Optional names for items; an item without a row here is named by the rule above.
products = Table(
    "products",
    metadata,
    Column("item_id", String, primary_key=True),
    Column("name", String, nullable=True),
    Column("slug", String, nullable=True, unique=True),
    Column("category", String, nullable=True),
)


@dataclass(frozen=True)
class Product:
    """An item as the storefront shows it."""

    item_id: str
    name: str
    slug: str
    category: str
    price: int
    stock: int

    @property
    def path(self) -> str:
        """The product page's URL, Saleor's shape ``/products/<slug>-<id>/`` (saleor/product/urls.py)."""
        slug = "product" if self.slug == DEFAULT_SLUG_PREFIX + self.item_id else self.slug
        return f"/products/{slug}-{self.item_id}/"

    @property
    def category_path(self) -> str:
        return category_path(self.category) if self.category in CATEGORIES else "/"

    @property
    def has_variants(self) -> bool:
        """Shirts come in sizes: their page has Saleor's JS variant picker instead of the add-to-cart form."""
        return self.category == VARIANT_CATEGORY


def category_path(slug: str) -> str:
    """A category page's URL, Saleor's shape ``/products/category/<slug>-<id>/``."""
    return f"/products/category/{slug}-{CATEGORIES.index(slug) + 1}/"


def category_of_path(key: str) -> str | None:
    """The category slug of ``<slug>-<id>`` from a category URL, if it names one."""
    slug, _, number = key.rpartition("-")
    return slug if slug in CATEGORIES and number == str(CATEGORIES.index(slug) + 1) else None


def category_name(slug: str) -> str:
    """The display name of a category slug: ``shoes`` -> ``Shoes``."""
    return slug.replace("-", " ").capitalize()


class Catalog:
    """Product queries over one store; the SQL expressions are built once, for the store's dialect."""

    def __init__(self, store: Store) -> None:
        self.store = store
        last_character = func.substr(items.c.id, func.length(items.c.id), 1)
        code_point = func.unicode(last_character) if store.is_sqlite else func.ascii(last_character)
        by_rule = case(dict(enumerate(CATEGORIES)), value=code_point % len(CATEGORIES))
        self.name: ColumnElement[str] = func.coalesce(products.c.name, literal("Product ", String) + items.c.id)
        self.slug: ColumnElement[str] = func.coalesce(
            products.c.slug, literal(DEFAULT_SLUG_PREFIX, String) + items.c.id
        )
        self.category: ColumnElement[str] = func.coalesce(products.c.category, by_rule)

    def select_products(self) -> Select[Any]:
        """``SELECT`` of every product's columns, in the order :func:`product_of` reads them; add filters."""
        return select(
            items.c.id,
            self.name.label("name"),
            self.slug.label("slug"),
            self.category.label("category"),
            items.c.price,
            items.c.stock,
        ).select_from(items.outerjoin(products, products.c.item_id == items.c.id))

    async def featured(self) -> list[Product]:
        """A few products for the home page: the first ones by item id."""
        return await self._list(self.select_products().order_by(items.c.id).limit(FEATURED_COUNT))

    async def in_category(self, category: str) -> list[Product]:
        query = self.select_products().where(self.category == category).order_by(items.c.id).limit(CATEGORY_LIMIT)
        return await self._list(query)

    async def search(self, text: str) -> list[Product]:
        """Products whose name or category contains ``text``, ignoring case; every product for an empty text."""
        query = self.select_products()
        if text:
            query = query.where(
                or_(self.name.icontains(text, autoescape=True), self.category.icontains(text, autoescape=True))
            )
        return await self._list(query.order_by(items.c.id).limit(SEARCH_LIMIT))

    async def by_path_key(self, key: str) -> Product | None:
        """The product of ``<slug>-<id>`` from a product URL: the id decides, as in Saleor's ``product_details``."""
        _, sep, item_id = key.rpartition("-")
        if not sep or not item_id:
            return None
        async with self.store.read() as conn:
            row = (await conn.execute(self.select_products().where(items.c.id == item_id))).first()
        return None if row is None else product_of(row)

    async def stock_starter_catalogue(self) -> None:
        """A fresh shop's catalogue, as Saleor's ``populatedb`` gives one: items ``"0"`` .. ``"19"`` with
        :data:`STARTER_STOCK` units at :data:`STARTER_PRICE`, added only while the shop has no item at all (a
        storefront is crawled for its products, not stocked through an API)."""
        async with self.store.read() as conn:
            if (await conn.scalar(select(items.c.id).limit(1))) is not None:
                return
        rows = [{"id": str(n), "stock": STARTER_STOCK, "price": STARTER_PRICE} for n in range(STARTER_PRODUCTS)]
        async with self.store.write() as conn:
            await conn.execute(self.store.insert_if_new(items), sorted(rows, key=lambda row: row["id"]))

    async def _list(self, query: Select[Any]) -> list[Product]:
        async with self.store.read() as conn:
            return [product_of(row) for row in await conn.execute(query)]


def product_of(row: Row[Any]) -> Product:
    """A product from a row of :meth:`Catalog.select_products` (extra trailing columns are ignored)."""
    return Product(
        item_id=str(row.id),
        name=str(row.name),
        slug=str(row.slug),
        category=str(row.category),
        price=int(row.price),
        stock=int(row.stock),
    )
