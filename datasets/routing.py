from django.urls import path

from datasets.consumers import AdminJobConsumer

websocket_urlpatterns = [path("ws/admin/jobs/<int:job_id>/", AdminJobConsumer.as_asgi())]
