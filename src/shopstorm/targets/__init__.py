"""Targets: one driver per family of shop API (the webshop course API, Saleor's storefront, Polar's checkout API),
and :class:`~shopstorm.targets.base.Target`, the base of your own."""
