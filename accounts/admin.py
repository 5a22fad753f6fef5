from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.models import Invite, User
from accounts.services import StatusChangeRefused, user_address_confirm, user_status_set
from accounts.signup import invites

# The admin is aiportal's, not Django's: the header, the tab title and the home's heading.
# Set here because accounts is the lowest app with an admin: it loads first.
admin.site.site_header = "aiportal administration"
admin.site.site_title = "aiportal admin"
admin.site.index_title = "Administration"


class UserAddForm(AdminUserCreationForm):
    """Adding a user asks for what signing in asks for: the email address (and a password,
    or none for an account that signs in through SSO or LDAP). The username, which nobody
    types anywhere, is the address."""

    class Meta:
        model = User
        fields = ("email", "first_name", "last_name")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True
        self.fields["email"].help_text = "The address this person signs in with."

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"]).lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(_("An account with this address exists already."))
        if User.objects.filter(username__iexact=email).exists():
            raise forms.ValidationError(_("An account uses this address as its username."))
        return email

    def _post_clean(self) -> None:
        # Before the model validation and the password validators, which compare the
        # password with the username.
        if self.cleaned_data.get("email"):
            self.instance.username = self.cleaned_data["email"]
        super()._post_clean()


@admin.register(User)
class AccountUserAdmin(UserAdmin):
    """Django's user admin plus the account status. The status is read-only on the form:
    it changes only through the actions, which go through ``user_status_set`` so that each
    change is audited and reaches open sockets and cached API keys."""

    list_display = ["email", "first_name", "last_name", "status", "is_staff", "date_joined"]
    list_filter = ["status", "is_staff", "is_superuser", "is_active", "groups"]
    search_fields = ["email", "username", "first_name", "last_name"]
    ordering = ["email"]
    readonly_fields = ["status", "last_login", "date_joined"]
    fieldsets = [
        (None, {"fields": ["username", "password"]}),
        ("Personal info", {"fields": ["first_name", "last_name", "email"]}),
        (
            "Permissions",
            {
                "fields": [
                    "status",
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                ]
            },
        ),
        ("Important dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_form = UserAddForm
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": ["email", "usable_password", "password1", "password2"],
            },
        ),
        ("Personal info", {"classes": ["wide"], "fields": ["first_name", "last_name"]}),
    ]
    actions = ["approve", "suspend", "reactivate"]

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            # allauth signs people in by a verified address of theirs, not by the user row's
            # email: without this row the new account could not sign in.
            user_address_confirm(user=obj)

    def _status_set(self, request, queryset, *, status: str, only_from: set[str] | None):
        changed = skipped = 0
        for user in queryset:
            if only_from is not None and user.status not in only_from:
                skipped += 1
                continue
            try:
                if user_status_set(
                    user=user, status=status, by=request.user, ip=request.META.get("REMOTE_ADDR")
                ):
                    changed += 1
            except StatusChangeRefused as refused:
                self.message_user(
                    request, _("%(user)s: %(why)s") % {"user": user, "why": refused}, messages.ERROR
                )
        self.message_user(
            request,
            ngettext(
                "%(count)s account now %(status)s.", "%(count)s accounts now %(status)s.", changed
            )
            % {"count": changed, "status": User.Status(status).label},
            messages.SUCCESS,
        )
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(count)s account left as it was (not applicable).",
                    "%(count)s accounts left as they were (not applicable).",
                    skipped,
                )
                % {"count": skipped},
                messages.INFO,
            )

    @admin.action(description=_("Approve selected pending accounts"), permissions=["change"])
    def approve(self, request, queryset):
        self._status_set(
            request, queryset, status=User.Status.ACTIVE, only_from={User.Status.PENDING}
        )

    @admin.action(description=_("Suspend selected accounts"), permissions=["change"])
    def suspend(self, request, queryset):
        self._status_set(request, queryset, status=User.Status.SUSPENDED, only_from=None)

    @admin.action(description=_("Reactivate selected suspended accounts"), permissions=["change"])
    def reactivate(self, request, queryset):
        self._status_set(
            request, queryset, status=User.Status.ACTIVE, only_from={User.Status.SUSPENDED}
        )


class InviteCreateForm(forms.ModelForm):
    days = forms.IntegerField(
        label=_("Days"),
        min_value=1,
        max_value=365,
        help_text=_("How many days the link stays valid."),
    )

    class Meta:
        model = Invite
        fields = ["email"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["days"].initial = settings.AIPORTAL_INVITE_DAYS

    def clean_email(self):
        email = self.cleaned_data["email"]
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(_("An account with this address exists already."))
        return email


@admin.register(Invite)
class InviteAdmin(admin.ModelAdmin):
    """Adding an invite mails its link; an invite is never edited, only revoked."""

    list_display = ["email", "state", "invited_by", "created", "expires", "used_at"]
    list_filter = ["used_at", "revoked_at"]
    search_fields = ["email"]
    date_hierarchy = "created"
    actions = ["revoke"]
    fields = ["email", "invited_by", "created", "expires", "used_at", "used_by", "revoked_at"]
    readonly_fields = fields

    @admin.display(description=_("state"))
    def state(self, invite: Invite) -> str:
        if invite.used_at:
            return "used"
        if invite.revoked_at:
            return "revoked"
        return "live" if invite.expires > timezone.now() else "expired"

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = InviteCreateForm
            kwargs["fields"] = ["email", "days"]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return ["email", "days"] if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change) -> None:
        def link_for(token: str) -> str:
            return request.build_absolute_uri(reverse("accounts_policy:invite", args=[token]))

        created, _link = invites.invite_create(
            email=form.cleaned_data["email"],
            invited_by=request.user,
            link_for=link_for,
            days=form.cleaned_data["days"],
        )
        # The admin goes on with ``obj`` (the message, the change log): make it the row.
        obj.pk, obj.email, obj.created, obj.expires = (
            created.pk,
            created.email,
            created.created,
            created.expires,
        )
        obj.token_digest = created.token_digest
        obj._state.adding = False
        if settings.AIPORTAL_SIGNUP != "invite":
            self.message_user(
                request,
                _(
                    "The link was sent, but sign-up is “%(policy)s”, not “invite”: "
                    "the invitation counts only under AIPORTAL_SIGNUP=invite."
                )
                % {"policy": settings.AIPORTAL_SIGNUP},
                messages.WARNING,
            )

    def has_change_permission(self, request, obj=None) -> bool:
        # The list and its revoke action need it; a single invite's page is read-only.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoke instead: the row is the record of who was invited

    @admin.action(description=_("Revoke selected invitations"), permissions=["change"])
    def revoke(self, request, queryset):
        revoked = sum(invites.invite_revoke(invite=invite, by=request.user) for invite in queryset)
        self.message_user(
            request,
            ngettext("%(count)s invitation revoked.", "%(count)s invitations revoked.", revoked)
            % {"count": revoked},
            messages.SUCCESS,
        )


# The audit log's admin is accounts/audit/admin.py (registered from AccountsConfig.ready).
