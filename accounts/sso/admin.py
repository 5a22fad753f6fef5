from django.contrib import admin

from accounts.sso.models import SsoGroup


@admin.register(SsoGroup)
class SsoGroupAdmin(admin.ModelAdmin):
    list_display = ["group", "provider_id", "claim_value"]
    list_filter = ["provider_id"]
    search_fields = ["group__name", "claim_value"]
    autocomplete_fields = ["group"]
