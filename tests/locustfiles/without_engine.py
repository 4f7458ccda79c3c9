"""A user's locustfile that takes its shopper from shopstorm.journeys, which does not load the engine."""

from shopstorm.journeys import ShopstormUser, journey
from shopstorm.targets.webshop import WebshopTarget


class ShopperWithoutEngine(ShopstormUser):
    target_class = WebshopTarget

    @journey(weight=1)
    def look_around(self) -> None:
        """Look at the catalogue."""
        self.shop.find_item(self.target.catalogue()[0][0])
