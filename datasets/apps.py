from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "datasets"
    verbose_name = "Datasets"

    def ready(self) -> None:
        # The receivers that announce grant and group-membership changes to open pages.
        from datasets.services import grants  # noqa: F401
