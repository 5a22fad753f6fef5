"""The compose deployment, read without Docker: the compose-spec schema (dclint, from the npm
registry, validates against the schema it ships), then what this deployment promises: health
checks, networks the edge cannot cross, secrets only as files, a migrate step first."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from gateway.emulator.__main__ import build_parser
from tests.conftest import ROOT
from tests.deploy.compose_support import (
    COMPOSE_DIR,
    COMPOSE_FILE,
    compose_load,
    env_file_read,
    service_environment,
    service_networks,
)

DCLINT = ROOT / "node_modules" / ".bin" / "dclint"
DCLINT_CONFIG = Path(__file__).with_name("dclint.json")
# Names whose values are credentials: they may only arrive as NAME_FILE.
SECRET_NAME = re.compile(r"(SECRET|PASSWORD|TOKEN|_KEY$|^DATABASE_URL$|^REDIS_URL$)")
APP_SERVICES = ("web", "worker", "beat", "migrate")
# user:password@host/… or …@host:port (a worker's URL@REGION has no host after the @).
CREDENTIALS_IN_URL = re.compile(r"://[^/\s:@]*:[^/\s@]+@[^\s,]*[/:]")


@pytest.fixture(scope="module")
def compose():
    return compose_load()


@pytest.fixture(scope="module")
def lint_report(tmp_path_factory) -> dict[str, dict]:
    """dclint's report on the two compose files and on a copy with one key mistyped (which
    shows the schema is really checked), from one run: node takes seconds to start here."""
    if not DCLINT.exists():
        raise RuntimeError("dclint is missing from node_modules: run the tests with ./dev test")
    broken = tmp_path_factory.mktemp("lint") / "broken.yaml"
    broken.write_text(COMPOSE_FILE.read_text().replace("    healthcheck:", "    helthcheck:", 1))
    files = {"deployment": COMPOSE_FILE, "root": ROOT / "compose.yaml", "broken": broken}
    result = subprocess.run(
        [
            str(DCLINT),
            "--config",
            str(DCLINT_CONFIG),
            "--formatter",
            "json",
            *map(str, files.values()),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    by_path = {
        Path(ROOT, entry["filePath"]).resolve(): entry for entry in json.loads(result.stdout)
    }
    return {name: by_path[path.resolve()] for name, path in files.items()}


def one_shots(compose) -> set[str]:
    """Services that run to completion, which others wait for."""
    return {
        name
        for service in compose["services"].values()
        for name, condition in (service.get("depends_on") or {}).items()
        if condition.get("condition") == "service_completed_successfully"
    }


def test_the_compose_files_pass_the_compose_spec_schema_and_the_linter(lint_report):
    for name in ("deployment", "root"):
        assert lint_report[name]["messages"] == [], name


def test_the_schema_check_rejects_a_mistyped_key(lint_report):
    rules = [message["rule"] for message in lint_report["broken"]["messages"]]
    assert rules == ["invalid-schema"]


def test_the_root_compose_file_includes_the_deployment():
    root = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert root["include"] == ["compose/compose.yaml"]
    assert root["name"] == yaml.safe_load(COMPOSE_FILE.read_text())["name"]


def test_every_long_running_service_has_a_health_check(compose):
    finished = one_shots(compose)
    assert finished == {"migrate", "vllm-model"}
    for name, service in compose["services"].items():
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        if name in finished:
            assert check == {"disable": True}, name  # the image's web check means nothing there
            assert service["restart"] == "no", name
        else:
            assert check.get("test") and not check.get("disable"), name


def test_the_edge_shares_a_network_with_web_alone(compose):
    services, networks = compose["services"], compose["networks"]
    assert service_networks(services["edge"]) == {"front"}
    assert not networks["front"].get("internal")
    for name, service in services.items():
        if name not in {"edge", "web"}:
            assert "front" not in service_networks(service), name
    for name in ("back", "models"):
        assert networks[name]["internal"] is True
    # The stores and the model workers have no way out and cannot be reached from the edge.
    for name in ("postgres", "redis", "emulator", "vllm", "beat", "migrate"):
        assert service_networks(services[name]) <= {"back", "models"}, name
    assert service_networks(services["worker"]) == {"back", "egress"}  # URL sources
    assert service_networks(services["vllm-model"]) == {"egress"}  # the model download
    assert "ports" not in services["web"]
    assert [name for name, service in services.items() if service.get("ports")] == ["edge"]


def test_credentials_arrive_only_as_files_from_docker_secrets(compose):
    declared = compose["secrets"]
    for entry in declared.values():
        assert entry["file"].startswith("./secrets/")
    for name, service in compose["services"].items():
        listed = set(service.get("secrets") or [])
        assert listed <= set(declared), name
        for variable, value in service_environment(service).items():
            if variable.endswith("_FILE"):
                secret = value.removeprefix("/run/secrets/")
                assert value.startswith("/run/secrets/") and secret in listed, (name, variable)
            else:
                assert not SECRET_NAME.search(variable), f"{name} sets {variable} in clear"
    web = service_environment(compose["services"]["web"])
    for variable in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "AIPORTAL_METRICS_TOKEN"):
        assert f"{variable}_FILE" in web
    postgres = service_environment(compose["services"]["postgres"])
    assert postgres["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"


def test_the_example_settings_hold_no_secret():
    for variable, value in env_file_read().items():
        assert not SECRET_NAME.search(variable), variable
        assert not CREDENTIALS_IN_URL.search(value), variable
    # And the secrets folder the script writes is never committed.
    paths = ["compose/secrets/secret_key", "compose/.env"]
    ignored = subprocess.run(
        ["git", "check-ignore", *paths], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert ignored.stdout.split() == paths


def test_migrations_run_once_before_the_application_starts(compose):
    services = compose["services"]
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
    assert "migrate" in " ".join(services["migrate"]["command"])
    assert services["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert services["beat"]["deploy"]["replicas"] == 1
    assert services["web"]["deploy"]["replicas"] == env_file_read()["AIPORTAL_WEB_REPLICAS"]


def test_state_lives_in_named_volumes(compose):
    declared = set(compose["volumes"])
    assert {"data", "pgdata", "redis-data", "caddy-data"} <= declared
    for name, service in compose["services"].items():
        for mount in service.get("volumes") or []:
            source = mount.split(":", 1)[0]
            assert source in declared or source.startswith("./"), (name, mount)
    assert "pgdata:/var/lib/postgresql/data" in compose["services"]["postgres"]["volumes"]
    for name in APP_SERVICES:
        assert "data:/data" in compose["services"][name]["volumes"], name


def test_the_model_workers_serve_the_one_model_variable(compose):
    model = env_file_read()["AIPORTAL_VLLM_MODEL"]
    vllm, emulator = compose["services"]["vllm"], compose["services"]["emulator"]
    assert vllm["profiles"] == ["gpu"] and emulator["profiles"] == ["emulator"]
    assert vllm["image"].startswith("vllm/vllm-openai:")
    assert compose["services"]["vllm-model"]["image"] == vllm["image"]
    assert vllm["command"][vllm["command"].index("--model") + 1] == model
    # The emulator's command is one our emulator's own parser accepts.
    assert emulator["command"][:3] == ["python", "-m", "gateway.emulator"]
    args = build_parser().parse_args(emulator["command"][3:])
    assert args.models == [model] and args.port == 8000 and args.host == "0.0.0.0"  # noqa: S104 (inside its container)
    assert "http://emulator:8000@" in env_file_read()["AIPORTAL_WORKERS"]


def test_the_default_worker_image_is_a_vllm_without_the_template_advisories(compose):
    """vLLM before 0.11 rendered a client's chat_template nested in chat_template_kwargs
    (and has other published advisories): the default image is a pinned, later release."""
    image = compose["services"]["vllm"]["image"]
    tag = image.rsplit(":", 1)[1]
    assert re.fullmatch(r"v\d+\.\d+\.\d+", tag), image  # pinned, never "latest"
    major, minor, _ = (int(part) for part in tag[1:].split("."))
    assert (major, minor) >= (0, 11), image


def test_the_edge_gets_its_domain_and_upstream_from_the_environment(compose):
    edge = compose["services"]["edge"]
    environment = service_environment(edge)
    assert environment["AIPORTAL_SITE_ADDRESS"] == env_file_read()["AIPORTAL_DOMAIN"]
    assert environment["AIPORTAL_UPSTREAM"] == "web:8000"
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in edge["volumes"]
    with pytest.raises(KeyError, match="AIPORTAL_DOMAIN"):
        compose_load({})  # no domain, no start


def test_the_image_is_built_in_stages_and_runs_unprivileged():
    dockerfile = (COMPOSE_DIR / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    # Front-end builds, compiled translations (msgfmt), then the application.
    assert stages == ["${NODE_IMAGE}", "${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]
    assert "msgfmt --check-format" in dockerfile
    assert "COPY --from=translations /src/locale locale" in dockerfile
    assert "npm ci --omit=dev" in dockerfile
    assert "sh compose/copy-vendor.sh node_modules static/vendor" in dockerfile
    assert "manage.py collectstatic" in dockerfile
    assert re.search(r"^USER aiportal$", dockerfile, re.MULTILINE)
    assert re.search(r"^HEALTHCHECK .*aiportal-healthcheck", dockerfile, re.MULTILINE | re.DOTALL)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "node_modules", "compose/secrets", ".env"} <= set(ignored)


def test_the_vendor_script_copies_every_build_the_templates_load(tmp_path):
    subprocess.run(
        ["sh", "compose/copy-vendor.sh", "node_modules", str(tmp_path / "vendor")],
        cwd=ROOT,
        check=True,
    )
    referenced = set()
    for path in (ROOT / "templates").rglob("*.html"):
        referenced |= set(re.findall(r"vendor/([\w./-]+)", path.read_text()))
    assert referenced
    for name in referenced:
        assert (tmp_path / "vendor" / name).is_file(), name
    assert (tmp_path / "vendor" / "katex" / "fonts").is_dir()
