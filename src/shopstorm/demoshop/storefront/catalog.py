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

    async def by_slug(self, slug: str) -> Product | None:
        """The product with this slug; ``item-<id>`` always names item ``<id>``, even when it has its own slug."""
        if slug.startswith(DEFAULT_SLUG_PREFIX):
            query = self.select_products().where(items.c.id == slug.removeprefix(DEFAULT_SLUG_PREFIX))
        else:
            query = self.select_products().where(products.c.slug == slug)
        async with self.store.read() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else product_of(row)

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
