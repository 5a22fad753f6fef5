from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "Gateway"

    def ready(self) -> None:
        from gateway.request_id import request_id_logging_install
        from gateway.signals import receivers_connect

        request_id_logging_install()
        receivers_connect()

        # The person's API keys in "export my data" and "delete my account".
        from accounts.privacy.hooks import privacy_hook_register
        from gateway.privacy import GatewayPrivacyHook

        privacy_hook_register(GatewayPrivacyHook())
