"""Django's compilemessages with the folders that are not this project's left out: it looks
for every ``locale`` folder under the current one, and a virtualenv or node_modules in the
checkout holds hundreds (Django's own catalogues come compiled)."""

from django.core.management.commands import compilemessages

IGNORED = [".venv", "node_modules", "static", "staticfiles", "var", "media"]


class Command(compilemessages.Command):
    def handle(self, *args, **options):
        options["ignore_patterns"] = [*options.get("ignore_patterns", []), *IGNORED]
        return super().handle(*args, **options)
