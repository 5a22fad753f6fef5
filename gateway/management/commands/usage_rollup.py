"""Rebuild the usage page's daily roll-ups from the ledger: every day, or a range."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from gateway.usage_rollup import usage_rollup_all, usage_rollup_range


class Command(BaseCommand):
    help = (
        "Rebuild the daily usage roll-ups (UsageDay) from the usage records: every day the "
        "ledger holds, or --first/--last (YYYY-MM-DD). The beat keeps today and yesterday "
        "current on its own; run this once after an upgrade for the older history."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--first", type=date.fromisoformat, help="first day (included)")
        parser.add_argument("--last", type=date.fromisoformat, help="last day (included)")

    def handle(self, *args, first: date | None, last: date | None, **options) -> None:
        if (first is None) != (last is None):
            raise CommandError("Give both --first and --last, or neither.")
        if first is not None and last is not None:
            if last < first:
                raise CommandError("--last is before --first.")
            rows = usage_rollup_range(first=first, last=last)
        else:
            rows = usage_rollup_all()
        self.stdout.write(f"{rows} roll-up row(s) written.")
