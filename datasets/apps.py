from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "datasets"
    verbose_name = "Datasets"

    def ready(self) -> None:
        # The receivers that announce grant and group-membership changes to open pages.
        # And the ones that turn pending grants into live ones.
        from datasets.services import grants, grants_pending  # noqa: F401
