"""A user's own locustfile, run with plain `locust -f`: a shopper whose journey burns the load process's CPU.

It saturates its load process on purpose, so the generator-health warning must appear in the summary.
"""

import time

from shopstorm.locust import ShopstormUser, journey
from shopstorm.targets.webshop import WebshopTarget


class CpuHoggingShopper(ShopstormUser):
    target_class = WebshopTarget
    think_time = (0.0, 0.0)

    @journey(weight=1)
    def compute_a_lot(self) -> None:
        """Spin 200 ms without yielding (no other greenlet runs meanwhile), then look at one item."""
        until = time.perf_counter() + 0.2
        while time.perf_counter() < until:
            pass
        item_id, _ = self.target.catalogue()[0]
        self.shop.find_item(item_id)
