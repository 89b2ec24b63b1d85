"""``brushwork tokens create|list|revoke``: manage the API tokens of a data directory."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from .settings import Settings


def add_token_commands(commands: Any, common: Callable[..., None]) -> None:
    tokens = commands.add_parser("tokens", help="manage API bearer tokens")
    token_commands = tokens.add_subparsers(dest="tokens_command", required=True)

    create = token_commands.add_parser(
        "create", help="create a token and print it once (only its SHA-256 is stored)"
    )
    common(create)
    create.add_argument("name", help="principal name that runs submitted with it record")
    create.add_argument(
        "--scopes",
        default="read,submit",
        help="comma-separated scopes: read, submit, admin (admin grants all; default read,submit)",
    )
    create.add_argument("--json", action="store_true", help="print the record and token as JSON")

    listing = token_commands.add_parser("list", help="list tokens (never their values)")
    common(listing)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")

    revoke = token_commands.add_parser("revoke", help="revoke a token by id")
    common(revoke)
    revoke.add_argument("token_id", help="the id shown by `brushwork tokens list`")


def tokens(args: argparse.Namespace, settings: Settings) -> int:
    from .auth.tokens import TokenStore

    store = TokenStore.in_data_dir(settings.paths.root)
    if args.tokens_command == "create":
        record, token = store.create(args.name, args.scopes.split(","))
        if args.json:
            print(json.dumps({**record.public(), "token": token}))
        else:
            print(token)
            print(
                f"created token {record.id} for {record.name} with scopes "
                f"{','.join(record.scopes)}; store it now, it is not shown again",
                file=sys.stderr,
            )
        return 0
    if args.tokens_command == "list":
        for record in store.records():
            if args.json:
                print(json.dumps(record.public()))
                continue
            state = (
                "active"
                if record.active
                else f"revoked {time.strftime('%Y-%m-%d %H:%M', time.gmtime(record.revoked_at))}"
            )
            created = time.strftime("%Y-%m-%d %H:%M", time.gmtime(record.created_at))
            print(
                f"{record.id}  {record.name:24} {','.join(record.scopes):18} "
                f"created {created} UTC  {state}"
            )
        return 0
    record = store.revoke(args.token_id)
    print(f"revoked token {record.id} ({record.name})")
    return 0


HANDLERS: dict[str, Callable[..., int]] = {"tokens": tokens}
