"""Measure what the storefront costs its load generator: HTML parse cost per page and journeys per second per core.

The storefront target drives a server-rendered shop page by page and parses every page it looks at with lxml
(``shopstorm.targets.pages.Page``); this bench measures whether that parsing could become the generator's
bottleneck. It starts the demo shop in its own process (SQLite store in a temporary folder, 127.0.0.1, pinned to
core 1), stocks it through ``/stock/batch_init`` and then:

- **parse cost**: fetches real pages of the shop with ``requests`` (one cookie-keeping session, walking the way a
  buyer does: home, a category, a product, add to cart, the cart, the checkout forms up to the order confirmation;
  also a search and the signup), and times on core 0 exactly what a journey does with each page, many times over:
  ``Page(url, 200, text)`` and the lookup the journeys make on it (``.links("a.category")``,
  ``.form("#add-to-cart")``, ``.all(".errorlist li, .error")`` …). It prints each page's size and the CPU µs per
  parse + lookup (median of rounds, each round adaptive to a share of ``--parse-seconds``), and the mean over pages;
- **journeys per second per core**: runs ``shopstorm run storefront`` (the funnel mix, no think time, form pauses
  divided by 1,000,000, ``--seed-mode create``: the shop is stocked already, seeding only crawls it) in a child
  process pinned to core 0 and reads its CPU time from ``resource.getrusage(RUSAGE_CHILDREN)`` before and after
  (only children that ended and were waited for count there; the shop is a child too but still running, so its CPU
  is not included). Journeys per generator CPU-second is the generator's capacity per core. That figure includes
  the child's start-up, its seeding crawl and its report; a second, shorter run (``--baseline-seconds``) is
  subtracted to give the steady figure without them;
- **parsing's share**: the parse cost of the pages a journey parses against the generator's CPU per journey, for a
  guest's ``buy`` journey (8 parsed pages, 15 requests; its CPU estimated as 15 times the run's CPU per request) and
  for the run's whole mix (each journey costed by the pages it parses).

The point is the generator's own capacity, so it should be the saturated side; with only two cores the Python demo
shop on its one core is usually the slower one, and the script says so (the per-core figure holds either way: it
divides journeys by the CPU the generator spent on them). It prints figures and never asserts them; on a busy
machine the rates are noisy, the CPU times less so. It takes about 50 s with the defaults.

Run: ``.venv/bin/python bench/storefront_speed.py [--seconds 20] [--baseline-seconds 4] [--users 30]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests

from shopstorm.demoshop.process import DemoShopProcess
from shopstorm.targets.pages import Page
from shopstorm.targets.storefront_profiles import SALEOR

GENERATOR_CPU = 0
SHOP_CPU = 1
CSS = SALEOR  # the demo shop renders the saleor profile's markup
ADDRESS = {
    "email": "bench@example.test",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "street_address_1": "1 Bench Road",
    "city": "Leeds",
    "postal_code": "LS1 1AA",
    "country": "GB",
}
# The pages each journey of the funnel mix parses (src/shopstorm/journeys/storefront.py): pages are parsed lazily,
# so a page nobody looks at (the product page of just_visiting and search, the home page of search, the cart) costs
# no parsing.
JOURNEY_PAGES = {
    "just_visiting": ("home", "category"),
    "search": ("search",),
    "bail_on_cart": ("home", "category", "product"),
    "buy": (
        "home",
        "category",
        "product",
        "shipping address",
        "shipping method",
        "summary",
        "payment method",
        "payment",
        "confirmation",
    ),
    "register": ("signup", "signup → home"),
}


@dataclass
class Sample:
    name: str
    url: str
    text: str
    access: str  # what the journeys do with it, for the output
    use: Callable[[Page], Any]
    in_journeys: bool = True
    micros: float = 0.0  # CPU µs per Page() + lookup, median of rounds


def errors(page: Page) -> Any:
    return page.all(CSS.form_errors)


def confirmation(page: Page) -> Any:
    errors(page)
    page.one(CSS.confirmation, "order confirmation")
    return page.all(CSS.unpaid_marker)


def collect(url: str) -> tuple[list[Sample], int]:
    """Walk the shop like a guest who buys (plus a search and a signup); return the pages and the buy's requests."""
    session = requests.Session()
    buy_requests = 0

    def fetch(method: str, path: str, *, buy: bool = True, **kwargs: Any) -> requests.Response:
        nonlocal buy_requests
        response = session.request(method, urljoin(url + "/", path.lstrip("/")), timeout=10, **kwargs)
        response.raise_for_status()
        buy_requests += (len(response.history) + 1) * buy
        return response

    def sample(name: str, response: requests.Response, access: str, use: Callable[[Page], Any], **kw: Any) -> Sample:
        return Sample(name, response.url, response.text, access, use, **kw)

    home = fetch("GET", "/")
    category = fetch("GET", Page(home.url, 200, home.text).links(CSS.category_link)[0])
    product = fetch("GET", Page(category.url, 200, category.text).links(CSS.product_link)[0])
    add = Page(product.url, 200, product.text).form(CSS.add_to_cart)
    cart = fetch("POST", add.action, data={**add.fields, "quantity": 1})  # Saleor redirects to the cart
    pages = [
        sample("home", home, f'.links("{CSS.category_link}")', lambda p: p.links(CSS.category_link)),
        sample("category", category, f'.links("{CSS.product_link}")', lambda p: p.links(CSS.product_link)),
        sample("product", product, f'.form("{CSS.add_to_cart}")', lambda p: p.form(CSS.add_to_cart)),
        sample("cart", cart, ".all(form errors), not parsed by journeys", errors, in_journeys=False),
    ]
    response = fetch("GET", "/checkout/")  # follows to the shipping address form
    steps = [
        ("shipping address", CSS.address_form, ADDRESS),
        ("shipping method", CSS.method_form, {}),
        ("summary", CSS.summary_form, {}),
        ("payment method", CSS.payment_method_form, {}),
        ("payment", CSS.payment_form, {}),
    ]
    for name, selector, values in steps:
        pages.append(sample(name, response, f'.form("{selector}")', lambda p, s=selector: p.form(s)))
        form = Page(response.url, 200, response.text).form(selector)
        response = fetch(form.method.upper(), form.action, data=form.filled(values))
    pages.append(sample("confirmation", response, f'.all(form errors) + .one("{CSS.confirmation}")', confirmation))
    heading = Page(product.url, 200, product.text).all("h1")
    words = [w.lower() for w in (heading[0].text_content().split() if heading else []) if len(w) > 2] or ["a"]
    search = fetch("GET", f"/search/?q={words[0]}", buy=False)
    pages.append(sample("search", search, f'.links("{CSS.product_link}")', lambda p: p.links(CSS.product_link)))
    signup = fetch("GET", "/account/signup/", buy=False)
    pages.append(sample("signup", signup, f'.form("{CSS.signup_form}")', lambda p: p.form(CSS.signup_form)))
    form = Page(signup.url, 200, signup.text).form(CSS.signup_form)
    values = {"email": f"bench.{time.time_ns()}@example.test", "password": "bench-password-1"}
    after = fetch("POST", form.action, buy=False, data=form.filled(values))
    pages.append(sample("signup → home", after, ".all(form errors)", errors))
    return pages, buy_requests


def time_parse(page: Sample, seconds: float, rounds: int) -> float:
    """CPU µs per ``Page()`` + lookup: rounds of n iterations, n sized so all rounds take about ``seconds``."""
    page.use(Page(page.url, 200, page.text))  # warm the compiled selectors
    started, n = time.process_time(), 0
    while time.process_time() - started < 0.02:
        page.use(Page(page.url, 200, page.text))
        n += 1
    per_round = max(20, int(n * seconds / rounds / max(time.process_time() - started, 1e-6)))
    results = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(per_round):
            page.use(Page(page.url, 200, page.text))
        results.append((time.process_time() - started) / per_round * 1e6)
    return statistics.median(results)


@dataclass
class Run:
    seconds: float
    wall: float
    cpu: float  # the generator's user + system CPU seconds, from RUSAGE_CHILDREN
    summary: dict[str, Any]

    @property
    def journeys(self) -> int:
        return sum(row["count"] for row in self.summary["journeys"])

    @property
    def failures(self) -> int:
        return sum(row["failed"] for row in self.summary["journeys"])


def pin_to(cpu: int) -> Callable[[], None]:
    return lambda: os.sched_setaffinity(0, {cpu})


def generate(url: str, seconds: float, users: int, out: Path, pin: bool, budget: float) -> Run:
    """One ``shopstorm run storefront`` in a child process on the generator's core; its CPU and summary."""
    command = [sys.executable, "-m", "shopstorm", "run", "storefront", "--host", url, "-u", str(users)]
    command += ["-r", str(users), "-t", f"{seconds:g}s", "--think-time", "0", "--user-speed", "1000000"]
    command += ["--seed-mode", "create", "--out", str(out)]
    preexec = None
    if pin and shutil.which("taskset"):
        command = ["taskset", "-c", str(GENERATOR_CPU), *command]
    elif pin:
        preexec = pin_to(GENERATOR_CPU)
    environment = dict(os.environ)
    environment.pop("LOCUST_SKIP_MONKEY_PATCH", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with (out / "output.log").open("w") as log:
        child = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT, preexec_fn=preexec)
        try:
            child.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            raise SystemExit(f"the generator ran longer than {budget:g} s; see its output in {out}") from None
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary_path = out / "summary.json"
    if child.returncode != 0 or not summary_path.exists():
        tail = " | ".join((out / "output.log").read_text(errors="replace").strip().splitlines()[-8:])
        raise SystemExit(f"the generator exited with code {child.returncode}: {tail}")
    return Run(seconds, wall, cpu, json.loads(summary_path.read_text()))


def pin_process(pid: int, cpu: int) -> None:
    """Pin every thread of a process (sched_setaffinity on a pid moves only its main thread)."""
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.sched_setaffinity(int(task), {cpu})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="run time of the measured run (default 20)")
    parser.add_argument(
        "--baseline-seconds", type=float, default=4.0, help="run time of the run subtracted for the steady figure "
        "(default 4; 0 skips it)"
    )  # fmt: skip
    parser.add_argument("--users", type=int, default=30, help="concurrent shoppers, no think time (default 30)")
    parser.add_argument("--items", type=int, default=200, help="catalogue items stocked (default 200)")
    parser.add_argument("--parse-seconds", type=float, default=0.5, help="CPU seconds timed per page (default 0.5)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per page, their median printed (default 5)")
    options = parser.parse_args()
    bench_started = time.perf_counter()
    load = os.getloadavg()
    cores = os.sched_getaffinity(0)
    pin = GENERATOR_CPU in cores and SHOP_CPU in cores

    with tempfile.TemporaryDirectory(prefix="shopstorm-bench-") as tmp, DemoShopProcess(
        store=f"sqlite:///{tmp}/shop.db"
    ) as shop:  # fmt: skip
        if shop.process is None:
            raise SystemExit("the demo shop did not start")
        if pin:
            pin_process(shop.process.pid, SHOP_CPU)
            os.sched_setaffinity(0, {GENERATOR_CPU})
            placement = f"parsing and generator on core {GENERATOR_CPU}, shop on core {SHOP_CPU}"
        else:
            placement = "fewer than 2 cores: shop and generator share them"
        print(f"demo shop at {shop.url} (SQLite); {placement}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        requests.post(f"{shop.url}/stock/batch_init/{options.items}/1000000/10", timeout=30).raise_for_status()

        pages, buy_requests = collect(shop.url)
        print(f"parse cost: Page(url, 200, text) + the journeys' lookup, CPU µs, median of {options.rounds} rounds")
        for page in pages:
            page.micros = time_parse(page, options.parse_seconds, options.rounds)
            size = len(page.text.encode())
            print(f"  {page.name:<17} {size:6d} bytes {page.micros:7.1f} µs  {page.access}", flush=True)
        print(f"  mean over {len(pages)} pages: {statistics.fmean(p.micros for p in pages):.1f} µs")
        cost = {page.name: page.micros for page in pages}
        journey_parse = {name: sum(cost[p] for p in names) for name, names in JOURNEY_PAGES.items()}

        runs = []
        for seconds in [s for s in (options.baseline_seconds, options.seconds) if s > 0]:
            out = Path(tmp) / f"run-{seconds:g}s"
            out.mkdir()
            runs.append(generate(shop.url, seconds, options.users, out, pin, budget=seconds + 45))
            if shop.process.poll() is not None:  # then its CPU would have landed in RUSAGE_CHILDREN too
                print(f"the shop exited (code {shop.process.returncode}) during the run: the CPU figures include it")
    run = runs[-1]
    summary, journeys = run.summary, run.journeys
    duration = summary["duration_s"]
    requests_made = summary["totals"]["requests"]
    print(
        f"funnel mix, {options.users} users, no think time, {run.seconds:g} s: {journeys} journeys "
        f"({run.failures} failed), {journeys / duration:.1f} journeys/s, {requests_made / journeys:.1f} requests per "
        f"journey; generator CPU {run.cpu:.2f} s in {run.wall:.1f} s wall (start-up and seeding crawl included)"
    )
    print(
        f"journeys per second per core: {journeys / run.cpu:.1f} (journeys / generator CPU s, whole process)",
        flush=True,
    )
    cpu_per_journey = run.cpu / journeys
    cpu_per_request = run.cpu / requests_made
    busy = run.cpu / run.wall
    if len(runs) == 2:
        base = runs[0]
        extra_journeys = journeys - base.journeys
        extra_cpu = run.cpu - base.cpu
        extra_requests = requests_made - base.summary["totals"]["requests"]
        if extra_journeys > 0 and extra_cpu > 0:
            cpu_per_journey, cpu_per_request = extra_cpu / extra_journeys, extra_cpu / extra_requests
            busy = extra_cpu / (duration - base.summary["duration_s"])
            print(
                f"  steady (minus the {base.seconds:g} s run: {base.journeys} journeys, {base.cpu:.2f} s CPU): "
                f"{1 / cpu_per_journey:.1f} journeys per CPU-second, {cpu_per_journey * 1e6:.0f} µs CPU per journey, "
                f"{cpu_per_request * 1e6:.0f} µs per request"
            )
    verdict = "saturated" if busy >= 0.9 else "NOT saturated: the shop on its core was the slower side"
    print(f"  generator core busy {busy:.0%} while loading ({verdict})")
    print(f"  summary's generators.warning: {summary['generators']['warning']}")
    if busy < 0.9:
        print("  (journeys per CPU-second still measures the generator: its capacity if its core were full)")
    buy_parse = journey_parse["buy"]
    buy_cpu = buy_requests * cpu_per_request * 1e6
    print(
        f"parsing's share, assuming a guest's buy journey parses {len(JOURNEY_PAGES['buy'])} pages "
        f"({', '.join(JOURNEY_PAGES['buy'])}; the cart is never parsed) in {buy_requests} requests and costs "
        f"{buy_requests} x the CPU per request: {buy_parse:.0f} µs of {buy_cpu:.0f} µs = {buy_parse / buy_cpu:.1%}"
    )
    counted = {row["name"]: row["count"] for row in summary["journeys"]}
    mix_parse = sum(journey_parse.get(name, 0.0) * count for name, count in counted.items()) / journeys
    unknown = sorted(set(counted) - set(JOURNEY_PAGES))
    print(
        f"  over the run's mix ({', '.join(f'{n} {c}' for n, c in sorted(counted.items()))}): {mix_parse:.0f} µs "
        f"parsing per journey of {cpu_per_journey * 1e6:.0f} µs CPU = {mix_parse / (cpu_per_journey * 1e6):.1%}"
        + (f" (not costed: {', '.join(unknown)})" if unknown else "")
    )
    print(f"bench took {time.perf_counter() - bench_started:.0f} s; load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
