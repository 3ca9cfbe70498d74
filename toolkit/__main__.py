"""Command line for operators: python -m toolkit <command>."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from toolkit.portal import Portal
from toolkit.settings import Settings
from toolkit.store import StoreUnavailable


def _portal(settings: Settings) -> Portal:
    """A started portal, or a one-line error naming the store and a non-zero exit."""
    try:
        portal = Portal(settings)
        portal.start()
    except StoreUnavailable as exc:
        raise SystemExit(f"error: {exc}") from None
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    return portal


def _link(settings: Settings, secret: str) -> str:
    return f"{settings.base_url.rstrip('/')}/link/{secret}"


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from toolkit.app import create_app

    if "TOOLKIT_BASE_URL" not in os.environ:
        # Links printed below and put in share links must point where this server listens.
        host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
        settings = dataclasses.replace(settings, base_url=f"http://{host}:{args.port}")
        os.environ["TOOLKIT_BASE_URL"] = settings.base_url  # worker processes read the environment
    common: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_level": "info",
        "server_header": False,
        "proxy_headers": False,
    }
    if args.workers > 1:
        # Each worker is an independent instance on the same store, exactly like several hosts;
        # this process prepares the store (demo content, the first-admin link) and hands over.
        # A worker accepts connections only once it has loaded the records: the workers share one
        # port, and a worker still starting would otherwise be handed requests it answers 503.
        portal = _portal(settings)
        _welcome(portal, demo=args.demo)
        portal.close()
        print(f"\nServing {settings.base_url} (store: {portal.store.endpoint})", flush=True)
        uvicorn.run("toolkit.app:create_app", factory=True, workers=args.workers, **common)
        return 0
    portal = Portal(settings)
    try:
        portal.store.ping()
        portal.keys.load()  # a refused key stops the start here, not in the background
    except (StoreUnavailable, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
    print(f"\nServing {settings.base_url} (store: {portal.store.endpoint})", flush=True)
    # Listening at once: /api/v1/health says 503 "starting" until the records are loaded.
    app = create_app(
        settings,
        portal=portal,
        serve_while_starting=True,
        after_start=lambda ready: _welcome(ready, demo=args.demo),
    )
    uvicorn.run(app, **common)
    return 0


def _welcome(portal: Portal, *, demo: bool) -> None:
    """Seed the demo content if asked, and print the links a person needs to get in."""
    from toolkit.accounts import User
    from toolkit.demo import demo_people, seed_demo

    settings = portal.settings
    if demo and seed_demo(portal):
        print("Seeded the demo content.")
    if not portal.accounts.has_admin():
        link = portal.accounts.issue_link(None, "setup")
        url = _link(settings, link.secret)
        print(f"\nNo administrator yet. Open this one-time link to create the first one:\n  {url}\n")
    if demo:
        for record in demo_people(portal):
            user = User.from_record(record)
            link = portal.accounts.issue_link(user, "login")
            print(f"Sign in as the demo {user.role} ({user.email}):\n  {_link(settings, link.secret)}")
    sys.stdout.flush()


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    from toolkit.check import run_checks

    findings = run_checks(settings)
    for finding in findings:
        print(f"{'ok  ' if finding.ok else ('FAIL' if finding.serious else 'warn')}  {finding.text}")
    failed = [f for f in findings if not f.ok and f.serious]
    print(f"\n{len(failed)} problem(s) to fix." if failed else "\nThis deployment looks ready.")
    return 1 if failed else 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from toolkit.migrate import VerificationFailed, migrate, terminal_reporter
    from toolkit.store import open_store

    try:
        source = open_store(
            args.source, s3_endpoint_url=settings.s3_endpoint_url, s3_region=settings.s3_region
        )
        target = open_store(
            args.target,
            s3_endpoint_url=args.target_endpoint_url or settings.s3_endpoint_url,
            s3_region=settings.s3_region,
        )
        source.ping()
        target.ping()
        progress = migrate(source, target, report=terminal_reporter())
    except (StoreUnavailable, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
    except VerificationFailed as exc:
        raise SystemExit(f"error: these objects did not verify after copying; run again: {exc}") from None
    print(f"Done: {progress.copied} copied, {progress.skipped} already there, all verified.")
    return 0


def cmd_seed_demo(args: argparse.Namespace, settings: Settings) -> int:
    from toolkit.demo import seed_demo

    portal = _portal(settings)
    print("Seeded the demo content." if seed_demo(portal) else "The demo content is there already.")
    return 0


def cmd_demo_company(args: argparse.Namespace, settings: Settings) -> int:
    from toolkit.company import CompanySpec, StoreNotEmpty, bulk_store, make_company

    try:
        spec = CompanySpec(
            employees=args.employees,
            posts_per_year=args.posts,
            share_rate=args.share_rate,
            years=args.years,
            seed=args.seed,
            instances=args.instances,
            threads=args.threads,
        )
        if args.store:
            settings = dataclasses.replace(settings, store=args.store)
        store = bulk_store(settings.store, settings)
        report = make_company(
            settings,
            spec,
            store=store,
            force=args.force,
            progress=lambda line: print(line, file=sys.stderr, flush=True),
        )
    except StoreNotEmpty as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (StoreUnavailable, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
    print(report.summary())
    return 0


def cmd_settings(args: argparse.Namespace, settings: Settings) -> int:
    width = max(len(name) for name, _, _ in settings.described())
    for name, value, help_text in settings.described():
        print(f"{name:<{width}}  {value}\n{'':<{width}}  {help_text}")
    return 0


def cmd_user_add(args: argparse.Namespace, settings: Settings) -> int:
    from toolkit.errors import ToolkitError

    portal = _portal(settings)
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    try:
        user = portal.accounts.add(args.email, role=args.role, name=args.name or "", password=password)
    except ToolkitError as exc:
        raise SystemExit(f"error: {exc.text()}") from None
    print(f"Added {user.email} as {user.role}.")
    if password is None:
        link = portal.accounts.issue_link(user, "invite")
        print(f"One-time link to set a password (expires {link.expires_at}):\n{_link(settings, link.secret)}")
    return 0


def cmd_user_list(args: argparse.Namespace, settings: Settings) -> int:
    portal = _portal(settings)
    for user in portal.accounts.all():
        state = "active" if user.active else "deactivated"
        print(f"{user.email:<40} {user.role:<10} {state:<12} {user.display_name}")
    return 0


def cmd_token_create(args: argparse.Namespace, settings: Settings) -> int:
    portal = _portal(settings)
    user = portal.accounts.by_email(args.email)
    if user is None or not user.active:
        raise SystemExit(f"error: no active account for {args.email}")
    issued = portal.accounts.create_token(user, args.label or "")
    print(f"API token for {user.email} ({user.role}). It is shown once; store it safely:", file=sys.stderr)
    print(issued.secret)
    return 0


def cmd_token_list(args: argparse.Namespace, settings: Settings) -> int:
    portal = _portal(settings)
    user = portal.accounts.by_email(args.email)
    if user is None:
        raise SystemExit(f"error: no account for {args.email}")
    for record in portal.accounts.tokens_of(user):
        print(f"{record.id[:12]}  {record.data.get('created_at', '')}  {record.data.get('label', '')}")
    return 0


def cmd_token_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from toolkit.errors import NotFound

    portal = _portal(settings)
    try:
        portal.accounts.revoke_token(args.token)
    except NotFound:
        raise SystemExit(
            "error: no such token (give the token itself or the id `token list` shows)"
        ) from None
    print("Revoked.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m toolkit", description="Ambassador Toolkit portal.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str,
        fn: Callable[[argparse.Namespace, Settings], int],
        help: str,
        parent: argparse._SubParsersAction[argparse.ArgumentParser] = commands,
    ) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = parent.add_parser(name, help=help, description=help)
        sub.set_defaults(fn=fn)
        return sub

    serve = command("serve", cmd_serve, "serve the portal")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="worker processes (each a full instance)")
    serve.add_argument(
        "--demo", action="store_true", help="seed demo content on first start, print demo sign-in links"
    )
    command("check", cmd_check, "verify this deployment: store, conditional writes, settings")
    migrate = command("migrate", cmd_migrate, "copy everything to another store, verified; safe to re-run")
    migrate.add_argument("--from", dest="source", required=True, help="e.g. file://./data")
    migrate.add_argument("--to", dest="target", required=True, help="e.g. s3://bucket/prefix")
    migrate.add_argument(
        "--to-endpoint-url",
        dest="target_endpoint_url",
        default="",
        help="S3 endpoint of the destination when it differs from TOOLKIT_S3_ENDPOINT_URL",
    )
    command("seed-demo", cmd_seed_demo, "add the demo people, imagery, posts and policy once")
    company = command(
        "demo-company",
        cmd_demo_company,
        "fill an empty store with a synthetic company (people, posts, share links, acknowledgements, "
        "counters) to size a deployment",
    )
    company.add_argument("--employees", type=int, default=5000, help="people (default 5000)")
    company.add_argument("--posts", type=int, default=300, help="posts per year (default 300)")
    company.add_argument(
        "--share-rate",
        type=float,
        default=0.3,
        help="the average fraction of the posts of their time a person takes a share link for (default 0.3)",
    )
    company.add_argument("--years", type=float, default=1.0, help="years of history (default 1)")
    company.add_argument("--store", default="", help="folder or s3://bucket/prefix (default TOOLKIT_STORE)")
    company.add_argument("--seed", type=int, default=1, help="the same seed makes the same company")
    company.add_argument(
        "--instances", type=int, default=1, help="instances the counter history is spread over (default 1)"
    )
    company.add_argument(
        "--threads", type=int, default=0, help="writer threads (default: 1 for a folder, 24 for S3)"
    )
    company.add_argument("--force", action="store_true", help="add to a store that has records already")
    command("settings", cmd_settings, "print the effective settings (secrets masked)")

    user = commands.add_parser("user", help="manage accounts").add_subparsers(dest="action", required=True)
    add = command("add", cmd_user_add, "add an account", user)
    add.add_argument("email")
    add.add_argument("--role", default="employee", choices=["employee", "marketing", "admin"])
    add.add_argument("--name")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    command("list", cmd_user_list, "list accounts", user)

    token = commands.add_parser("token", help="manage API tokens").add_subparsers(
        dest="action", required=True
    )
    create = command("create", cmd_token_create, "create an API token; printed once on the last line", token)
    create.add_argument("email")
    create.add_argument("--label")
    listing = command("list", cmd_token_list, "list someone's tokens by id", token)
    listing.add_argument("email")
    revoke = command("revoke", cmd_token_revoke, "revoke a token (the token itself or its id)", token)
    revoke.add_argument("token")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    code: int = args.fn(args, settings)
    return code


if __name__ == "__main__":
    sys.exit(main())
