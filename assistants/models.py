"""An assistant (a ready-made start for a chat: instructions, model, datasets, sampling and a
few starter prompts) and the grants that share it.

Every field a person types is checked in ``Assistant.clean`` (called by the services and by
the admin's forms alike), so a bad value gets a clear message and nothing is half-stored."""

from __future__ import annotations

import re

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

MAX_STARTERS = 4
STARTER_MAX_CHARS = 500
# As many tools as a chat may pick (chat/services/tool_steps.py), and a name as long.
MAX_TOOLS = 32
TOOL_NAME_MAX_CHARS = 200
TEMPERATURE_MAX = 2.0
# Model names as the chat socket accepts them (chat/consumers.py).
_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$")


class Level(models.IntegerChoices):
    """What a grant allows; each level includes the ones below it (as datasets' levels)."""

    USE = 10, _("use")  # pick it for a chat
    EDIT = 30, _("edit")  # change what it says and brings
    MANAGE = 40, _("manage")  # share it, delete it


class Colour(models.TextChoices):
    """A fixed palette: each has a light and a dark shade in static/assistants/assistants.css,
    so any choice stays readable in both themes."""

    SLATE = "slate", _("slate")
    RED = "red", _("red")
    ORANGE = "orange", _("orange")
    GREEN = "green", _("green")
    TEAL = "teal", _("teal")
    BLUE = "blue", _("blue")
    VIOLET = "violet", _("violet")
    PINK = "pink", _("pink")


def icon_check(value: str) -> None:
    """One or two letters or digits (initials), or one emoji: short, no spaces, no markup."""
    if not value or len(value) > 8 or any(ch.isspace() for ch in value):
        raise ValidationError(_("The icon is one emoji or one or two letters."))
    if any(ch.isalnum() for ch in value) and not (len(value) <= 2 and value.isalnum()):
        raise ValidationError(_("The icon is one emoji or one or two letters."))
    if any(ch in "<>&\"'`" for ch in value):
        raise ValidationError(_("The icon is one emoji or one or two letters."))


class Assistant(models.Model):
    name = models.CharField(_("name"), max_length=80)
    icon = models.CharField(_("icon"), max_length=8, default="🤖", validators=[icon_check])
    colour = models.CharField(
        _("colour"), max_length=16, choices=Colour.choices, default=Colour.BLUE
    )
    description = models.CharField(_("description"), max_length=300, blank=True)
    system_prompt = models.TextField(_("system prompt"), blank=True)
    # Blank: whichever model the conversation uses (the person's pick or the default).
    model = models.CharField(_("model"), max_length=200, blank=True)
    # Ids of datasets, not foreign keys (as Conversation.datasets): each turn keeps only those
    # the person may query then, so sharing an assistant never shares its datasets.
    datasets = models.JSONField(_("datasets"), default=list, blank=True)
    # Names of MCP tools ("server/tool"), not foreign keys, for the same reason: each turn
    # offers only those the person may use then (tools.selectors.tools_usable).
    tools = models.JSONField(_("tools"), default=list, blank=True)
    # Null: the worker's (or the gateway's) default.
    temperature = models.FloatField(_("temperature"), null=True, blank=True)
    top_p = models.FloatField(_("top p"), null=True, blank=True)
    max_tokens = models.PositiveIntegerField(_("max tokens"), null=True, blank=True)
    starter_prompts = models.JSONField(_("starter prompts"), default=list, blank=True)
    # Null: an organisation assistant, made by admins in the Django admin; shared by grants
    # only. Deleting an account deletes its own assistants (and their grants).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="assistants_owned",
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(temperature__isnull=True)
                | models.Q(temperature__gte=0, temperature__lte=TEMPERATURE_MAX),
                name="assistant_temperature_range",
            ),
            models.CheckConstraint(
                condition=models.Q(top_p__isnull=True) | models.Q(top_p__gt=0, top_p__lte=1),
                name="assistant_top_p_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def organisation(self) -> bool:
        return self.owner_id is None

    def clean(self) -> None:
        errors: dict[str, str] = {}
        self.name = " ".join((self.name or "").split())
        if not self.name:
            errors["name"] = _("An assistant needs a name.")
        # Sent on every turn: no longer than a message may be.
        if len(self.system_prompt or "") > settings.AIPORTAL_MAX_MESSAGE_CHARS:
            errors["system_prompt"] = _("The instructions are at most %(n)s characters long.") % {
                "n": settings.AIPORTAL_MAX_MESSAGE_CHARS
            }
        if self.model and not _MODEL.match(self.model):
            errors["model"] = _("This is not a model name.")
        if self.temperature is not None and not 0 <= self.temperature <= TEMPERATURE_MAX:
            errors["temperature"] = _("The temperature is between 0 and 2.")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            errors["top_p"] = _("Top p is above 0 and at most 1.")
        if self.max_tokens is not None and not 1 <= self.max_tokens <= settings.AIPORTAL_MAX_TOKENS:
            errors["max_tokens"] = _("Max tokens is between 1 and %(max)s.") % {
                "max": settings.AIPORTAL_MAX_TOKENS
            }
        starters = self.starter_prompts
        if not isinstance(starters, list) or not all(isinstance(s, str) for s in starters):
            errors["starter_prompts"] = _("Starter prompts are a list of texts.")
        else:
            starters = [s.strip() for s in starters if s.strip()]
            if len(starters) > MAX_STARTERS:
                errors["starter_prompts"] = _("At most %(n)s starter prompts.") % {
                    "n": MAX_STARTERS
                }
            elif any(len(s) > STARTER_MAX_CHARS for s in starters):
                errors["starter_prompts"] = _(
                    "A starter prompt is at most %(n)s characters long."
                ) % {"n": STARTER_MAX_CHARS}
            else:
                self.starter_prompts = starters
        ids = self.datasets
        if not isinstance(ids, list) or not all(type(i) is int and 0 < i < 2**63 for i in ids):
            errors["datasets"] = _("Datasets are a list of dataset ids.")
        elif len(set(ids)) > settings.AIPORTAL_CHAT_MAX_DATASETS:
            errors["datasets"] = _("At most %(n)s datasets.") % {
                "n": settings.AIPORTAL_CHAT_MAX_DATASETS
            }
        else:
            self.datasets = list(dict.fromkeys(ids))
        names = self.tools
        if not isinstance(names, list) or not all(
            isinstance(n, str) and 0 < len(n) <= TOOL_NAME_MAX_CHARS for n in names
        ):
            errors["tools"] = _("Tools are a list of tool names.")
        elif len(set(names)) > MAX_TOOLS:
            errors["tools"] = _("At most %(n)s tools.") % {"n": MAX_TOOLS}
        else:
            self.tools = list(dict.fromkeys(names))
        if errors:
            raise ValidationError(errors)


class AssistantGrant(models.Model):
    """Use, edit or manage of one assistant for one person or one group; read live on every
    request and every chat turn, so a change takes effect at once."""

    assistant = models.ForeignKey(Assistant, on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="assistant_grants",
    )
    group = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.CASCADE, related_name="assistant_grants"
    )
    level = models.PositiveSmallIntegerField(choices=Level.choices, default=Level.USE)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, group__isnull=True)
                | models.Q(user__isnull=True, group__isnull=False),
                name="assistant_grant_for_exactly_one",
            ),
            models.CheckConstraint(
                condition=models.Q(level__in=Level.values), name="assistant_grant_level_known"
            ),
            # One grant per person or group: the level is changed in place.
            models.UniqueConstraint(
                fields=["assistant", "user"],
                condition=models.Q(user__isnull=False),
                name="assistant_grant_one_per_user",
            ),
            models.UniqueConstraint(
                fields=["assistant", "group"],
                condition=models.Q(group__isnull=False),
                name="assistant_grant_one_per_group",
            ),
        ]

    def __str__(self) -> str:
        return f"{Level(self.level).label} on {self.assistant_id} for {self.grantee}"

    @property
    def grantee(self) -> str:
        if self.user_id is not None:
            return self.user.email
        return f"group {self.group.name}" if self.group_id is not None else ""

    def clean(self) -> None:
        if (self.user_id is None) == (self.group_id is None):
            raise ValidationError(_("A grant is for exactly one user or one group."))
