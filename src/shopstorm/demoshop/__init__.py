"""The demo shop: shopstorm's embedded reference shop, run as a separate asyncio process.

It serves every target's API over one store (SQLite by default, PostgreSQL on request) and is correct under
concurrency unless a fault is switched on; the faults exist so that the audit's detection is itself testable.
It imports nothing from the rest of shopstorm (and never Locust or gevent). Start it from Python with
:class:`shopstorm.demoshop.process.DemoShopProcess`, or from a shell with ``python -m shopstorm.demoshop``.

Each API face is a package (``webshop``, ``storefront``, ``checkout_api``) over the shared ``core``; this package's
own modules start the shop (:mod:`.process`, :mod:`.cli`), serve it (:mod:`.server`) and mount the faces
(:mod:`.app`). A new face is a new package, mounted in :mod:`.app`.
"""
