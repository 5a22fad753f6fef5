from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "Gateway"

    def ready(self) -> None:
        from gateway.request_id import request_id_logging_install
        from gateway.signals import receivers_connect

        request_id_logging_install()
        receivers_connect()
