"""MCP servers an admin registered, and the tools each offers.

A server is reached over MCP's Streamable HTTP transport (tools/client.py), only at addresses
the dataset fetcher's rules allow (tools/transport.py). Its secrets (a static header's value,
an OAuth client secret) are stored encrypted (tools/secrets.py): a copy of the database alone
does not give anyone the credentials.

Who may use a server: members of its groups. A server with no group is usable by nobody,
staff and superusers included, as a model access rule with no group closes a model
(gateway/models/workers.py): tools act outside the chat, so nobody gets them by default.
"""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

# A server's name is the first half of a tool's full name ("server/tool"), as the chat
# sends it: no slash, nothing a URL or a log would need to escape.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class McpServer(models.Model):
    class Auth(models.TextChoices):
        NONE = "none", _("None")
        HEADER = "header", _("Static header")
        OAUTH = "oauth", _("OAuth 2 client credentials")

    class Approval(models.TextChoices):
        AUTO = "auto", _("Run at once")
        ASK = "ask", _("Ask the person each call")

    name = models.CharField(
        max_length=64,
        unique=True,
        validators=[RegexValidator(NAME_PATTERN)],
        help_text=_("Letters, digits, '.', '_' and '-'; tools are named 'name/tool'."),
    )
    url = models.URLField(
        max_length=2000,
        help_text=_("The server's Streamable HTTP endpoint, e.g. https://host/mcp."),
    )
    enabled = models.BooleanField(default=True)
    allow_private = models.BooleanField(
        default=False,
        help_text=_(
            "Allow a private or loopback address for this server (never a cloud metadata, "
            "multicast or unspecified one). Hosts in AIPORTAL_FETCH_ALLOW_HOSTS are allowed too."
        ),
    )
    auth = models.CharField(max_length=8, choices=Auth.choices, default=Auth.NONE)
    header_name = models.CharField(
        max_length=100,
        blank=True,
        validators=[RegexValidator(r"^[A-Za-z0-9-]+$")],
        help_text=_("Static header: its name, e.g. Authorization or X-Api-Key."),
    )
    # Encrypted (tools/secrets.py); the admin form writes it and never shows it.
    header_value_encrypted = models.TextField(blank=True, editable=False)
    token_url = models.URLField(max_length=2000, blank=True, help_text=_("OAuth: token URL."))
    client_id = models.CharField(max_length=200, blank=True, help_text=_("OAuth: client id."))
    client_secret_encrypted = models.TextField(blank=True, editable=False)
    scope = models.CharField(max_length=500, blank=True, help_text=_("OAuth: scope (optional)."))
    groups = models.ManyToManyField(
        Group,
        blank=True,
        related_name="mcp_servers",
        help_text=_("Who may use this server's tools. No group: nobody."),
    )
    approval = models.CharField(max_length=8, choices=Approval.choices, default=Approval.AUTO)
    timeout_seconds = models.PositiveIntegerField(
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(600)],
        help_text=_("How long one call may take."),
    )
    max_steps = models.PositiveIntegerField(
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(20)],
        help_text=_("Rounds of tool calls in one answer."),
    )
    max_result_chars = models.PositiveIntegerField(
        default=20000,
        validators=[MinValueValidator(100), MaxValueValidator(1_000_000)],
        help_text=_("A longer result is refused; the model is told it was too large."),
    )
    tools_refreshed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("MCP server")

    def __str__(self) -> str:
        return self.name


class McpTool(models.Model):
    """A tool the server listed at its last refresh; only enabled ones reach a chat."""

    server = models.ForeignKey(McpServer, on_delete=models.CASCADE, related_name="tools")
    name = models.CharField(max_length=128)
    description = models.TextField(blank=True)
    input_schema = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=False)
    # Set when the last refresh no longer listed it: kept (and off) so a call in an old
    # conversation still names something, never offered again.
    missing = models.BooleanField(default=False)

    class Meta:
        ordering = ["server__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["server", "name"], name="tools_mcptool_unique_name")
        ]
        verbose_name = _("MCP tool")

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.server.name}/{self.name}"
