from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "datasets"
    verbose_name = "Datasets"

    def ready(self) -> None:
        # The receivers that announce grant and group-membership changes to open pages.
        # And the ones that turn pending grants into live ones.
        # The person's datasets in "export my data" and "delete my account", and the writer
        # of a dataset's own export archive.
        from accounts.privacy.hooks import dataset_archive_writer_register, privacy_hook_register

        # Registers the refill tasks, which services queue by name (common/tasks.py).
        from datasets import checks, tasks  # noqa: F401
        from datasets.privacy import DatasetsPrivacyHook, dataset_archive_write
        from datasets.services import grants, grants_pending  # noqa: F401

        privacy_hook_register(DatasetsPrivacyHook())
        dataset_archive_writer_register(dataset_archive_write)
