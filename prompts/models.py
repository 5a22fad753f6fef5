"""Saved prompts (docs/chat.md, "Prompt library").

A prompt with an owner is that person's: they alone edit or delete it, and they may share it,
read-only, with groups they belong to. A prompt without an owner is the organisation's, made
by an admin in Django admin: everyone sees it when it names no group, otherwise only the
members of the groups it names."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from prompts.validation import (
    COMMAND_MAX,
    DESCRIPTION_MAX,
    TITLE_MAX,
    command_clean,
    prompt_fields_check,
)


class SavedPrompt(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="saved_prompts",
        help_text=_("Empty for an organisation prompt."),
    )
    title = models.CharField(_("title"), max_length=TITLE_MAX)
    command = models.CharField(
        _("command"),
        max_length=COMMAND_MAX,
        help_text=_("Typed after / in the message box: lowercase letters, digits, - and _."),
    )
    body = models.TextField(
        _("text"),
        help_text=_("{{name}} is a variable to fill in; {{name|default}} gives it a default."),
    )
    description = models.CharField(_("description"), max_length=DESCRIPTION_MAX, blank=True)
    groups = models.ManyToManyField(
        Group,
        blank=True,
        related_name="saved_prompts",
        verbose_name=_("groups"),
        help_text=_(
            "An organisation prompt without groups is shown to everyone; with groups, to "
            "their members only."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("organisation prompt")
        verbose_name_plural = _("organisation prompts")
        ordering = ["command", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "command"],
                condition=models.Q(owner__isnull=False),
                name="prompts_command_unique_per_owner",
            ),
            models.UniqueConstraint(
                fields=["command"],
                condition=models.Q(owner__isnull=True),
                name="prompts_command_unique_in_organisation",
                violation_error_message=_("An organisation prompt already has this command."),
            ),
        ]

    def __str__(self) -> str:
        return f"/{self.command} {self.title}"

    def clean(self) -> None:
        """The admin's form checks the same rules as the services."""
        self.command = command_clean(self.command or "")
        errors = prompt_fields_check(
            title=self.title or "",
            command=self.command or "",
            body=self.body or "",
            description=self.description or "",
        )
        taken = SavedPrompt.objects.filter(owner=self.owner, command=self.command)
        if "command" not in errors and taken.exclude(pk=self.pk).exists():
            errors["command"] = str(_("Another prompt already has this command."))
        if errors:
            raise ValidationError(errors)
