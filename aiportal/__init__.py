# Load Celery with Django so that @shared_task uses aiportal's app.
from aiportal.celery import app as celery_app

__all__ = ["celery_app"]
