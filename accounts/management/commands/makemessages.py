"""Django's makemessages with this project's folders left out, so that the plain
``manage.py makemessages -l fr --no-obsolete`` (docs/development.md) and the catalogue's test
(tests/i18n/) read the same files: what a person sees, not the tests, benchmarks, vendored
scripts or collected static files. In accounts because it is the lowest installed app."""

from django.core.management.commands import makemessages

IGNORED = [
    "tests/*",
    "bench/*",
    "node_modules/*",
    "static/vendor/*",
    "staticfiles/*",
    "var/*",
    "media/*",
    "compose/*",
]


class Command(makemessages.Command):
    def handle(self, *args, **options):
        options["ignore_patterns"] = [*options.get("ignore_patterns", []), *IGNORED]
        return super().handle(*args, **options)
