from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import User

admin.site.register(User, UserAdmin)
# The audit log's admin is accounts/admin_audit.py (registered from AccountsConfig.ready).
