"""The ``shopstorm`` command: demo, run, shop, targets.

``run`` and ``demo`` resolve the settings (CLI > env > settings file > defaults), check the target and the mix
before anything starts (a bad value is one line and exit code 2), then hand over to Locust with the plugin
loaded. Any argument shopstorm does not know is passed to Locust unchanged, so Locust's own flags keep working.
``shop`` serves the embedded demo shop alone and never imports Locust (the shop is an asyncio program).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from secrets import token_urlsafe
from typing import Any

from shopstorm import __version__
from shopstorm.errors import (
    INTERRUPTED_BEFORE_LOAD,
    ExitCode,
    ShopstormError,
    UsageError,
    exit_code_of,
    terminate_as_interrupt,
)

# Target names for shell completion (shtab: a bash function of the preamble, a zsh alternatives list).
TARGET_NAMES = "webshop storefront checkout-api"
_BASH_TARGETS = f"_shopstorm_targets() {{ compgen -W '{TARGET_NAMES}' -- \"$1\"; }}"
TARGET_COMPLETION = {"bash": "_shopstorm_targets", "zsh": f"({TARGET_NAMES})"}
DEMO_DEFAULTS = {"users": 20, "spawn_rate": 10.0, "run_time": 30, "headless": True}
DEMO_TARGETS = tuple(TARGET_NAMES.split())
# `demo --fault F` runs a workload that exposes F, with the audit, unless told otherwise: the stock and credit
# faults need shoppers racing for scarce stock (the consistency test, smaller), the checkout API's need its target.
RACE = {"mix": "consistency", "users": 300, "spawn_rate": 300.0, "seed_users": 300, "checkouts": 300, "seed_items": 1,
        "seed_stock": 30, "seed_price": 1, "seed_credit": 1, "think_time": (0.0, 0.0), "run_time": 120}  # fmt: skip
FAULT_DEMOS: dict[str, tuple[str, dict[str, Any], str]] = {
    "lost-update": ("webshop", RACE, "300 checkouts racing for 30 units"),
    "ack-before-commit": ("webshop", RACE, "300 checkouts racing for 30 units"),
    "error-after-commit": ("webshop", RACE, "300 checkouts racing for 30 units; the audit resolves the 500s"),
    "no-rollback": ("webshop", {**RACE, "seed_price": 2, "checkouts": 200}, "checkouts refused for lack of credit"),
    "double-charge": ("webshop", {**RACE, "double_submit": 0.2, "seed_credit": 2, "seed_stock": 600},
                      "a fifth of the orders checked out twice"),
    "webhook-drop": ("checkout-api", {}, "the checkout API's settlement and webhooks"),
    "webhook-dup": ("checkout-api", {}, "the checkout API's settlement and webhooks"),
    "slow-worker": ("checkout-api", {}, "the checkout API's settlement and webhooks"),
    "stale-status": ("checkout-api", {}, "the checkout API's settlement and webhooks"),
}  # fmt: skip
# The course benchmark's consistency test: 1000 users with credit 1, one item with stock 100 at price 1,
# 1000 concurrent one-unit checkouts, then the audit.
CONSISTENCY_DEFAULTS = {
    "mix": "consistency", "seed_items": 1, "seed_stock": 100, "seed_price": 1, "seed_users": 1000,
    "seed_credit": 1, "checkouts": 1000, "users": 1000, "run_time": 300, "headless": True, "audit": True,
    "think_time": (0.0, 0.0),
}  # fmt: skip


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2 (argparse's own code, kept)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _add_options(parser: argparse.ArgumentParser, command: str, defaults: dict[str, Any]) -> None:
    """The settings file and every setting's flags for ``command`` (declared once, in shopstorm.settings)."""
    from shopstorm.settings import add_flags

    parser.add_argument(
        "--config", metavar="FILE", help="settings file (default: ./shopstorm.toml or [tool.shopstorm])"
    )
    add_flags(parser, command, defaults)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="shopstorm",
        description="Load and consistency testing for online shops and payment flows, built on Locust.",
        epilog=(
            "Exit codes: 0 ok, 1 gate failed, 2 bad usage, 3 audit violations, 4 shop unreachable, 130 Ctrl-C, "
            "143 SIGTERM."
        ),
    )
    parser.add_argument("-V", "--version", action="version", version=f"shopstorm {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    demo = commands.add_parser(
        "demo",
        help="start the embedded demo shop and run a target's mix against it (webshop stress by default)",
        description="Start the demo shop on a free loopback port, seed it, run the webshop stress mix "
        "(20 shoppers, 30 s, headless unless told otherwise) and write summary.json. --target storefront or "
        "checkout-api runs that target instead (checkout-api: the payments mix, with a token and provider secret "
        "made for this run). Unknown flags go to Locust.",
    )
    _add_options(demo, "demo", DEMO_DEFAULTS)
    demo.add_argument(
        "--target",
        dest="demo_target",
        choices=DEMO_TARGETS,
        help="which of the demo shop's APIs to run against (default webshop, or the one a --fault needs)",
    )

    run = commands.add_parser(
        "run",
        help="run a target's mix against your shop",
        description="Run TARGET's mix against a shop. Without --headless/-t you get Locust's web UI. "
        "Unknown flags (--csv, --html, --processes, --master, --worker, --tags, …) go to Locust.",
    )
    run.add_argument("target", help="which target: see `shopstorm targets`").complete = TARGET_COMPLETION
    _add_options(run, "run", {})

    consistency = commands.add_parser(
        "consistency",
        help="check out prepared orders all at once, then audit the shop (exit 3 on violations)",
        description="The course benchmark's consistency test by default: 1000 users with credit 1, one item "
        "with stock 100 at price 1, 1000 concurrent one-unit checkouts, then the audit. Every number is an "
        "option. Unknown flags (--processes, …) go to Locust.",
    )
    consistency.add_argument("target", help="which target: see `shopstorm targets`").complete = TARGET_COMPLETION
    _add_options(consistency, "consistency", CONSISTENCY_DEFAULTS)

    commands.add_parser(
        "shop",
        help="serve the demo shop alone until Ctrl-C (see `shopstorm shop --help`)",
        add_help=False,
    )
    commands.add_parser("targets", help="list the targets, their journeys and weights")
    completion = commands.add_parser(
        "completion",
        help="print a shell completion script: `source <(shopstorm completion bash)`",
        description="Print the completion script for SHELL, made from this command's own options: "
        "`source <(shopstorm completion bash)` in ~/.bashrc, or `shopstorm completion zsh > ~/.zfunc/_shopstorm`.",
    )
    completion.add_argument("shell", choices=("bash", "zsh", "tcsh"))

    compare = commands.add_parser(
        "compare",
        help="compare two summary.json files; exit 1 on a regression beyond the bound",
        description="Per request and per journey: p50, p95, p99 and throughput, base → new. Latency up or "
        "throughput down by more than --max-regression is a regression (exit 1). Runs of different targets or "
        "mixes are refused (exit 2) unless --allow-different.",
    )
    compare.add_argument("base", help="the baseline summary.json")
    compare.add_argument("new", help="the new summary.json")
    compare.add_argument("--max-regression", default="10%", help="allowed worsening, e.g. 10%% (default)")
    compare.add_argument("--allow-different", action="store_true", help="compare runs of different targets/mixes")
    compare.add_argument("--json", metavar="FILE", help="also write the comparison as JSON")
    return parser


def _cli_settings(args: argparse.Namespace) -> dict[str, Any]:
    from shopstorm.setting_fields import FIELDS

    return {spec.name: getattr(args, spec.name, None) for spec in FIELDS}


def _start_run(
    target_name: str, args: argparse.Namespace, locust_args: list[str], defaults: dict, own_flags: set[str]
) -> int:
    import locust  # noqa: F401 - first, so gevent patches the standard library before anything uses it

    from shopstorm.engine.launch import check_locust_flags, check_ports, run_locust
    from shopstorm.journeys import resolve_mix, shoppers_for
    from shopstorm.report.destinations import check_file, check_folder
    from shopstorm.settings import load_settings

    check_locust_flags(locust_args, own_flags)
    if args.command == "demo" and (getattr(args, "host", None) or getattr(args, "urls", None)):
        raise UsageError("demo runs against its own demo shop: use `shopstorm run TARGET --host URL` for yours")
    settings = load_settings(_cli_settings(args), config_file=args.config, defaults=defaults)
    if args.command == "demo":
        target_name, workload = _demo_workload(settings, target_name)
        if workload:
            settings = load_settings(_cli_settings(args), config_file=args.config, defaults={**defaults, **workload})
    if settings.mix == "consistency" and settings.spawn_rate is None:
        settings = replace(settings, spawn_rate=float(settings.users or 1))  # everyone at once
    if args.command == "demo" and target_name == "checkout-api" and settings.mix is None:
        settings = replace(settings, mix="payments")  # the demo shows both ways of paying
    shoppers = shoppers_for(target_name, settings.mix)
    for shopper in shoppers:
        resolve_mix(shopper, settings)  # an unknown journey fails here, before anything starts
    if settings.mix == "consistency" and not settings.checkouts:  # it checks out prepared orders, and none were
        raise UsageError(
            "the consistency mix checks out prepared orders and none are set: use `shopstorm "
            "consistency TARGET` (1000 by default, --checkouts N), or checkouts = N in the settings file"
        )
    audit_gates = [gate.text for gate in settings.gates if gate.kind == "audit"]
    if audit_gates and not settings.audit:  # found now, not after the load as a "violation"
        raise UsageError(f"gate {audit_gates[0]!r} needs the audit: add --audit (or audit = true in the settings file)")
    if args.command != "demo" and (settings.store or settings.faults):
        raise UsageError("--store and --fault configure the demo shop: use them with `shopstorm demo`")
    target = shoppers[0].target_class(settings) if args.command != "demo" else None  # checks --host or --urls
    if "--worker" not in locust_args:  # a worker writes no results: its master does
        check_folder(settings.out, "--out")
        if settings.junit:
            check_file(settings.junit, "--junit")
    check_ports(target_name, settings, locust_args)
    if target is not None:
        return run_locust(target_name, settings, target.base_url, locust_args)

    from shopstorm.demoshop.process import DemoShopError, DemoShopProcess

    secrets = {}
    if target_name == "checkout-api":  # made for this run, handed to the shop through its environment
        secrets = {"api_token": token_urlsafe(24), "stripe_secret": "whsec_" + token_urlsafe(24)}
        settings = replace(settings, api_token=secrets["api_token"], provider_secret=secrets["stripe_secret"])
    try:
        shop = DemoShopProcess(store=settings.store, faults=settings.faults, **secrets)
        shop.start()
    except DemoShopError as error:
        raise UsageError(f"the demo shop did not start: {error}") from None
    try:
        print(f"demo shop: {shop.url} (faults: {', '.join(settings.faults) or 'none'})", flush=True)
        settings = replace(settings, host=shop.url, urls=None)
        return run_locust(target_name, settings, shop.url, locust_args)
    finally:
        shop.stop()


def _demo_workload(settings: Any, chosen: str | None) -> tuple[str, dict[str, Any]]:
    """The demo's target and the settings defaults of the workload that exposes its faults (announced on one line),
    or its own defaults. A --target or --mix given by the user stays theirs; the audit is on unless turned off."""
    demos = [FAULT_DEMOS[fault] for fault in settings.faults if fault in FAULT_DEMOS]
    if not demos:
        return chosen or "webshop", {}
    target, workload, why = demos[0]
    if chosen is not None and chosen != target:
        return chosen, {"audit": True}
    if settings.mix is not None:
        workload = {}
    print(f"demo: --fault {', '.join(settings.faults)} shows in {target}: {why}, then the audit", flush=True)
    return target, {**workload, "audit": True}


def _compare(args: argparse.Namespace) -> int:
    import json

    from shopstorm.report.compare import compare, load_summary, parse_max_regression, render
    from shopstorm.report.destinations import check_file

    if args.json:
        check_file(args.json, "--json")
    comparison = compare(
        load_summary(args.base),
        load_summary(args.new),
        max_regression=parse_max_regression(args.max_regression),
        allow_different=args.allow_different,
    )
    print(render(comparison))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(comparison.as_dict(), file, indent=2)
    return comparison.exit_code


def _list_targets() -> int:
    from shopstorm.journeys import SHOPPERS, journeys_of

    for name, mixes in SHOPPERS.items():
        print(f"{name}: {next(iter(mixes.values()))[0].target_class.description}")
        for mix, shoppers in mixes.items():
            print(f"  mix {mix}")
            for shopper in shoppers:
                low, high = shopper.think_time
                weight = f", weight {shopper.weight}" if len(shoppers) > 1 else ""
                print(f"    {shopper.__name__}{weight}, think time {low:g}-{high:g} s")
                for _, spec in journeys_of(shopper):
                    print(
                        f"      {shopper.journey_weights.get(spec.name, spec.weight):>4}  {spec.name:<22} "
                        f"{spec.description}"
                    )
    return 0


def _completion_script(shell: str) -> int:
    """The completion script for ``shell``, from the real parser (flags, subcommands, target names)."""
    import shtab

    print(shtab.complete(build_parser(), shell=shell, preamble={"bash": _BASH_TARGETS}))
    return 0


def _flags_of(parser: argparse.ArgumentParser, command: str) -> set[str]:
    """Every flag the command takes (to suggest one for a typo, beside Locust's)."""
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    return {flag for action in commands[command]._actions for flag in action.option_strings}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    terminate_as_interrupt()
    if argv[:1] == ["shop"]:
        from shopstorm.demoshop.cli import main as shop_main

        return shop_main(argv[1:], prog="shopstorm shop")
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if args.command is None:
            parser.print_help()
            return ExitCode.USAGE
        if args.command == "completion":
            return _completion_script(args.shell)
        if args.command == "targets":
            if extra:
                raise UsageError(f"unrecognized arguments: {' '.join(extra)}")
            return _list_targets()
        if args.command == "compare":
            if extra:
                raise UsageError(f"unrecognized arguments: {' '.join(extra)}")
            return _compare(args)
        if args.command == "demo":
            return _start_run(args.demo_target, args, extra, DEMO_DEFAULTS, _flags_of(parser, "demo"))
        if args.command == "consistency":
            return _start_run(args.target, args, extra, CONSISTENCY_DEFAULTS, _flags_of(parser, "consistency"))
        return _start_run(args.target, args, extra, {}, _flags_of(parser, "run"))
    except ShopstormError as error:
        print(f"shopstorm: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt as interrupt:
        # a Ctrl-C or SIGTERM during the run is handled by the run, which writes the summary: this came before it
        print(INTERRUPTED_BEFORE_LOAD, file=sys.stderr)
        return exit_code_of(interrupt)


if __name__ == "__main__":
    sys.exit(main())
