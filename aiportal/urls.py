from django.contrib import admin
from django.urls import include, path

from aiportal import views

urlpatterns = [
    path("", include("chat.urls")),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
]
