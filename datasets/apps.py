from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    # Datasets, versions, grants and refills arrive with issue 4/6; the app exists now so that
    # the layout and migrations history start in their final shape.
    name = "datasets"
    verbose_name = "Datasets"
