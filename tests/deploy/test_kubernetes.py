"""deploy/kubernetes, rendered by `kubectl kustomize` (each overlay once per module) and read
without a cluster: every object against the Kubernetes schemas that kubernetes-validate
ships, then what the manifests promise: the compose deployment's image, commands, settings,
secret files and health checks; only web and worker pods reach a model worker (the
NetworkPolicies evaluated, tests/deploy/network_policy.py); nobody runs as root or writes
the image; websockets and unbuffered streams on the Ingress and the HTTPRoute; secrets only
from Secrets the operator creates; one beat; the migrations first."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, latest_version

from tests.conftest import ROOT
from tests.deploy.compose_support import (
    COMPOSE_DIR,
    compose_load,
    env_file_read,
    service_environment,
)
from tests.deploy.network_policy import Cluster, Pod
from tests.deploy.test_production_settings import run as run_django

KUBERNETES_DIR = ROOT / "deploy" / "kubernetes"
TARGETS = {
    "trial": KUBERNETES_DIR / "overlays" / "trial",
    "production": KUBERNETES_DIR / "overlays" / "production",
    "vllm-worker": KUBERNETES_DIR / "examples" / "vllm-worker",
}
# The oldest Kubernetes docs/deploy.md promises, and the newest whose schemas we have.
OLDEST_KUBERNETES = "1.30"
APP_COMPONENTS = ("web", "worker", "beat", "migrate")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")
CHECK_DEPLOY_AND_PRINT_HOSTS = """
import json, django
from django.conf import settings
from django.core.management import call_command
django.setup()
call_command("check", deploy=True, fail_level="DEBUG")
print(json.dumps(settings.ALLOWED_HOSTS))
"""
# Gateway API's Duration (GEP-2257), as its CRD validates it.
GATEWAY_DURATION = re.compile(r"^([0-9]{1,5}(h|m|s|ms)){1,4}$")


def _kubectl() -> str:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        # Never a skip: without kubectl these manifests would go unchecked.
        raise RuntimeError(
            "kubectl is missing: install kubectl 1.27 or newer (kustomize v5), "
            "see docs/development.md"
        )
    return kubectl


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    kubectl = _kubectl()
    processes = {
        name: subprocess.Popen(
            [kubectl, "kustomize", str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, path in TARGETS.items()
    }
    objects = {}
    for name, process in processes.items():
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, f"kubectl kustomize {name}: {stderr}"
        # kustomize warns about deprecated fields on stderr: none may be used.
        assert stderr.strip() == "", f"kubectl kustomize {name} warned: {stderr}"
        objects[name] = [item for item in yaml.safe_load_all(stdout) if item]
    return objects


def _all(rendered: dict[str, list[dict[str, Any]]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for target, objects in rendered.items():
        for item in objects:
            yield target, item


def _find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [item for item in objects if item["kind"] == kind and item["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def _containers(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod_spec.get("initContainers", []), *pod_spec["containers"]]


def _workloads(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item for item in objects if item["kind"] in WORKLOAD_KINDS]


def _component(workload: dict[str, Any]) -> str:
    return workload["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]


def _app_container(objects: list[dict[str, Any]], component: str) -> dict[str, Any]:
    kind = "Job" if component == "migrate" else "Deployment"
    spec = _pod_spec(_find(objects, kind, component))
    return next(c for c in spec["containers"] if c["name"] == component)


def _settings(objects: list[dict[str, Any]]) -> dict[str, str]:
    maps = [item for item in objects if item["kind"] == "ConfigMap"]
    assert len(maps) == 1 and maps[0]["metadata"]["name"].startswith("aiportal-settings-")
    return maps[0]["data"]


# --- Schemas -------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [OLDEST_KUBERNETES, latest_version()])
def test_every_object_validates_against_the_kubernetes_schemas(rendered, version):
    without_schema = set()
    for target, item in _all(rendered):
        try:
            kubernetes_validate.validate(item, version, strict=True)
        except SchemaNotFoundError:
            without_schema.add(item["kind"])
        except kubernetes_validate.ValidationError as error:
            path = ".".join(map(str, error.path))
            pytest.fail(f"{target}: {item['kind']}/{item['metadata']['name']}: {path}: {error}")
    # Gateway API is a CRD, not in Kubernetes' schemas: test_httproute checks it instead.
    assert without_schema == {"HTTPRoute"}


def test_the_schema_check_catches_a_mistyped_field(rendered):
    web = copy.deepcopy(_find(rendered["production"], "Deployment", "web"))
    container = _pod_spec(web)["containers"][0]
    container["readinessProbe"]["periodSecond"] = container["readinessProbe"].pop("periodSeconds")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(web, OLDEST_KUBERNETES, strict=True)


def test_every_reference_inside_a_render_resolves(rendered):
    """Services select pods and name their ports; the autoscaler and the budget find web."""
    for target, objects in rendered.items():
        pods = [
            (w["metadata"]["namespace"], w["spec"]["template"]["metadata"]["labels"], w)
            for w in _workloads(objects)
        ]
        for service in (item for item in objects if item["kind"] == "Service"):
            chosen = [
                workload
                for namespace, labels, workload in pods
                if namespace == service["metadata"]["namespace"]
                and all(labels.get(k) == v for k, v in service["spec"]["selector"].items())
            ]
            assert chosen, f"{target}: Service {service['metadata']['name']} selects no pod"
            names = {
                port.get("name")
                for workload in chosen
                for container in _pod_spec(workload)["containers"]
                for port in container.get("ports", [])
            }
            for port in service["spec"]["ports"]:
                assert port["targetPort"] in names
        for workload in _workloads(objects):
            if workload["kind"] != "Job":
                selector = workload["spec"]["selector"]["matchLabels"]
                labels = workload["spec"]["template"]["metadata"]["labels"]
                assert selector.items() <= labels.items()
            names = {volume["name"] for volume in _pod_spec(workload).get("volumes", [])}
            names |= {
                claim["metadata"]["name"]
                for claim in workload["spec"].get("volumeClaimTemplates", [])
            }
            for container in _containers(_pod_spec(workload)):
                for mount in container.get("volumeMounts", []):
                    assert mount["name"] in names, f"{target}: {container['name']}: {mount}"
            for volume in _pod_spec(workload).get("volumes", []):
                if "persistentVolumeClaim" in volume:
                    _find(
                        objects,
                        "PersistentVolumeClaim",
                        volume["persistentVolumeClaim"]["claimName"],
                    )
                if "configMap" in volume:
                    _find(objects, "ConfigMap", volume["configMap"]["name"])
            for container in _containers(_pod_spec(workload)):
                for source in container.get("envFrom", []):
                    if "configMapRef" in source:
                        _find(objects, "ConfigMap", source["configMapRef"]["name"])


# --- The compose deployment's shape ---------------------------------------------------------


def _dockerfile_uid() -> int:
    match = re.search(r"useradd [^\n]*--uid (\d+)", (COMPOSE_DIR / "Dockerfile").read_text())
    assert match
    return int(match.group(1))


@pytest.mark.parametrize("target", ["trial", "production"])
def test_web_worker_beat_and_migrate_run_compose_commands_and_settings(rendered, target):
    objects = rendered[target]
    settings = _settings(objects)
    # compose's ${NAME} from the same settings as the ConfigMap's.
    compose = compose_load({**env_file_read(), **settings})
    fixed = service_environment(compose["x-app"])
    for component in APP_COMPONENTS:
        container = _app_container(objects, component)
        # Kubernetes substitutes $(NAME) from the container's environment, as compose ${NAME}.
        command = [
            re.sub(r"\$\((\w+)\)", lambda m: settings[m.group(1)], part)
            for part in container["command"]
        ]
        assert command == compose["services"][component]["command"], component
        assert container["image"].split(":")[0].endswith("aiportal")
        assert [s["configMapRef"]["name"] for s in container["envFrom"]] == [
            _settings_name(objects)
        ]
        env = {item["name"]: item for item in container["env"]}
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in _pod_spec(_workload_of(objects, component))["volumes"]}
        for name, value in fixed.items():
            if not name.endswith("_FILE"):
                assert env[name]["value"] == value, name
                continue
            # The same secret, one file each: mounted from the Secret under its compose name.
            key = value.rsplit("/", 1)[1]
            folder, _, file_name = env[name]["value"].rpartition("/")
            assert file_name == key
            volume = next(n for n, path in mounts.items() if path == folder)
            assert {"key": key, "path": key} in volumes[volume]["secret"]["items"]
        assert mounts["data"] == fixed["AIPORTAL_DATA_DIR"]


def _settings_name(objects: list[dict[str, Any]]) -> str:
    return next(item["metadata"]["name"] for item in objects if item["kind"] == "ConfigMap")


def _workload_of(objects: list[dict[str, Any]], component: str) -> dict[str, Any]:
    return _find(objects, "Job" if component == "migrate" else "Deployment", component)


def _expanded(value: str, env: dict[str, str]) -> str:
    """Kubernetes' $(NAME): from the variables defined before; unknown ones stay as they are."""
    return re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), value)


def test_the_web_pod_environment_passes_check_deploy(rendered, tmp_path):
    """What a production web container gets (the ConfigMap, its env, the Secret's files
    as compose/make-secrets writes them) is a deployment Django's checks accept, and answers
    to the probes' Host."""
    objects = rendered["production"]
    web = _app_container(objects, "web")
    secrets_dir = tmp_path / "secrets"
    subprocess.run(["sh", "compose/make-secrets", str(secrets_dir)], cwd=ROOT, check=True)
    env = dict(_settings(objects))
    (secrets_mount,) = [m["mountPath"] for m in web["volumeMounts"] if m["name"] == "secrets"]
    for variable in web["env"]:
        if "value" in variable:
            value = _expanded(variable["value"], env)
            env[variable["name"]] = value.replace(secrets_mount, str(secrets_dir))
    env["AIPORTAL_DATA_DIR"] = str(tmp_path / "data")
    # One interpreter for both (Django's start-up is most of this test's time).
    result = run_django(["-c", CHECK_DEPLOY_AND_PRINT_HOSTS], env)
    assert result.returncode == 0, result.stdout + result.stderr
    *report, hosts = result.stdout.strip().splitlines()
    assert report == ["System check identified no issues (2 silenced)."]
    probe_host = web["readinessProbe"]["httpGet"]["httpHeaders"][0]["value"]
    assert json.loads(hosts) == [env["AIPORTAL_DOMAIN"], probe_host]


def test_health_checks_are_compose_ones(rendered):
    objects = rendered["production"]
    web = _app_container(objects, "web")
    allowed_hosts = {item["name"]: item.get("value") for item in web["env"]}["ALLOWED_HOSTS"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        check = web[probe]["httpGet"]
        assert check["path"] == "/healthz" and check["port"] == "http"
        # Django answers only to ALLOWED_HOSTS; the probe's Host must be one of them.
        host = {h["name"]: h["value"] for h in check["httpHeaders"]}["Host"]
        assert host in allowed_hosts.split(",")
    assert web["ports"] == [{"name": "http", "containerPort": 8000}]
    worker = _app_container(objects, "worker")
    assert worker["livenessProbe"]["exec"]["command"] == ["aiportal-healthcheck", "worker"]
    beat = _app_container(objects, "beat")
    schedule = beat["command"][beat["command"].index("--schedule") + 1]
    assert beat["livenessProbe"]["exec"]["command"] == ["aiportal-healthcheck", "beat", schedule]
    tmp = {m["mountPath"] for m in beat["volumeMounts"]}
    assert schedule.startswith("/tmp/") and "/tmp" in tmp


@pytest.mark.parametrize("target", ["trial", "production"])
def test_beat_is_one_and_never_two(rendered, target):
    beat = _find(rendered[target], "Deployment", "beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    autoscaled = {
        item["spec"]["scaleTargetRef"]["name"]
        for item in rendered[target]
        if item["kind"] == "HorizontalPodAutoscaler"
    }
    assert "beat" not in autoscaled


@pytest.mark.parametrize("target", ["trial", "production"])
def test_migrations_run_as_a_job_that_everything_else_waits_for(rendered, target):
    objects = rendered[target]
    job = _find(objects, "Job", "migrate")
    assert _pod_spec(job)["restartPolicy"] in {"OnFailure", "Never"}
    for component in ("web", "worker", "beat"):
        spec = _pod_spec(_find(objects, "Deployment", component))
        (wait,) = spec["initContainers"]
        assert "manage.py migrate --check" in " ".join(wait["command"])
        assert (
            wait["image"]
            == _app_container(objects, component)["image"]
            == (_pod_spec(job)["containers"][0]["image"])
        )


def test_production_scales_web_and_trial_runs_one(rendered):
    production, trial = rendered["production"], rendered["trial"]
    autoscaler = _find(production, "HorizontalPodAutoscaler", "web")
    assert autoscaler["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "web",
    }
    assert autoscaler["spec"]["minReplicas"] >= 2
    assert autoscaler["spec"]["maxReplicas"] > autoscaler["spec"]["minReplicas"]
    budget = _find(production, "PodDisruptionBudget", "web")
    web = _find(production, "Deployment", "web")
    assert budget["spec"]["selector"]["matchLabels"] == web["spec"]["selector"]["matchLabels"]
    assert "replicas" not in web["spec"]  # the autoscaler's
    assert _find(production, "Deployment", "worker")["spec"]["replicas"] >= 2
    assert _find(production, "PersistentVolumeClaim", "data")["spec"]["accessModes"] == [
        "ReadWriteMany"
    ]
    assert not [i for i in production if i["kind"] == "StatefulSet"]  # external databases
    assert _find(trial, "Deployment", "web")["spec"]["replicas"] == 1
    assert not [i for i in trial if i["kind"] in {"HorizontalPodAutoscaler", "PodDisruptionBudget"}]
    assert {_component(i) for i in trial if i["kind"] == "StatefulSet"} == {"postgres", "redis"}


# --- Security contexts -----------------------------------------------------------------------


def test_no_container_runs_as_root_or_writes_its_image(rendered):
    image_uid = _dockerfile_uid()
    checked = 0
    for target, item in _all(rendered):
        if item["kind"] not in WORKLOAD_KINDS:
            continue
        spec = _pod_spec(item)
        pod = spec.get("securityContext", {})
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC")
        assert not [v for v in spec.get("volumes", []) if "hostPath" in v]
        assert spec.get("automountServiceAccountToken") is False
        for container in _containers(spec):
            where = f"{target}: {item['metadata']['name']}/{container['name']}"
            own = container.get("securityContext", {})
            effective = {**pod, **own}
            assert effective.get("runAsNonRoot") is True, where
            assert isinstance(effective.get("runAsUser"), int) and effective["runAsUser"] > 0, where
            if container["image"].split(":")[0].endswith("aiportal"):
                assert effective["runAsUser"] == image_uid, where
            assert own.get("readOnlyRootFilesystem") is True, where
            assert own.get("allowPrivilegeEscalation") is False, where
            assert own.get("capabilities") == {"drop": ["ALL"]}, where
            assert not own.get("privileged"), where
            assert effective.get("seccompProfile") == {"type": "RuntimeDefault"}, where
            # A read-only image still needs somewhere to write temporary files.
            assert "/tmp" in {m["mountPath"] for m in container.get("volumeMounts", [])}, where
            checked += 1
    assert checked >= 15
    for _target, item in _all(rendered):
        if item["kind"] == "Namespace":
            assert item["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


# --- Secrets -------------------------------------------------------------------------------


def _secret_references(objects: list[dict[str, Any]]) -> set[tuple[str, str | None]]:
    """(Secret name, key) for every way a rendered object reads a Secret."""
    found: set[tuple[str, str | None]] = set()
    for item in objects:
        if item["kind"] == "Ingress":
            found |= {(tls["secretName"], None) for tls in item["spec"].get("tls", [])}
        if item["kind"] not in WORKLOAD_KINDS:
            continue
        spec = _pod_spec(item)
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                name = volume["secret"]["secretName"]
                found |= {(name, i["key"]) for i in volume["secret"].get("items", [])} or {
                    (name, None)
                }
            assert "projected" not in volume
        for container in _containers(spec):
            for variable in container.get("env", []):
                reference = variable.get("valueFrom", {}).get("secretKeyRef")
                if reference:
                    found.add((reference["name"], reference["key"]))
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    found.add((source["secretRef"]["name"], None))
    return found


def _make_secrets_files() -> set[str]:
    return set(re.findall(r"^write (\w+) ", (COMPOSE_DIR / "make-secrets").read_text(), re.M))


def test_every_secret_comes_from_a_secret_the_operator_creates(rendered):
    for target, item in _all(rendered):
        assert item["kind"] != "Secret", f"{target}: a Secret with values in the repository"
    for path in KUBERNETES_DIR.rglob("*.yaml"):
        text = path.read_text()
        assert not re.search(r"^kind: Secret\b|secretGenerator", text, re.M), path
    trial = _secret_references(rendered["trial"])
    production = _secret_references(rendered["production"])
    assert {name for name, _ in trial | production} == {"aiportal-secrets", "aiportal-tls"}
    # The trial's keys are the files compose/make-secrets writes, so one command makes them
    # all; admin_password is optional (ensure_admin generates one without it).
    optional = {"admin_password"}
    trial_keys = {key for name, key in trial if name == "aiportal-secrets"}
    assert trial_keys - optional == _make_secrets_files()
    production_keys = {key for name, key in production if name == "aiportal-secrets"}
    assert production_keys - optional == {
        "secret_key",
        "database_url",
        "redis_url",
        "metrics_token",
    }
    for target in ("trial", "production"):
        for workload in _workloads(rendered[target]):
            for container in _containers(_pod_spec(workload)):
                for variable in container.get("env", []):
                    reference = variable.get("valueFrom", {}).get("secretKeyRef")
                    if reference and reference["key"] in optional:
                        assert reference["optional"] is True
                    # A credential never as a plain value: as a file (NAME_FILE) or a reference.
                    if re.search(r"PASSWORD|SECRET|TOKEN|_URL$", variable["name"]):
                        assert "value" not in variable or variable["name"].endswith("_FILE")


# --- The way in ------------------------------------------------------------------------------


def test_the_ingress_passes_websockets_and_never_buffers_streams(rendered):
    for target in ("trial", "production"):
        objects = rendered[target]
        ingress = _find(objects, "Ingress", "web")
        annotations = ingress["metadata"]["annotations"]
        prefix = "nginx.ingress.kubernetes.io/"
        assert annotations[prefix + "proxy-buffering"] == "off"
        assert annotations[prefix + "proxy-request-buffering"] == "off"
        # A websocket or a streamed answer may sit quiet for minutes: nginx's 60 s default
        # would close it.
        assert int(annotations[prefix + "proxy-read-timeout"]) >= 3600
        assert int(annotations[prefix + "proxy-send-timeout"]) >= 3600
        (rule,) = ingress["spec"]["rules"]
        # The overlay's AIPORTAL_DOMAIN, the name Django answers to (deploy/kubernetes/domain).
        domain = _settings(objects)["AIPORTAL_DOMAIN"]
        assert rule["host"] == domain and ingress["spec"]["tls"][0]["hosts"] == [domain]
        (path,) = rule["http"]["paths"]
        assert (path["path"], path["pathType"]) == ("/", "Prefix")
        assert path["backend"]["service"] == {"name": "web", "port": {"name": "http"}}
        assert {p["name"] for p in _find(objects, "Service", "web")["spec"]["ports"]} == {"http"}
        internal = _find(objects, "Ingress", "web-internal-paths")
        denied = internal["metadata"]["annotations"][prefix + "denylist-source-range"].split(",")
        assert set(denied) == {"0.0.0.0/0", "::/0"}
        (internal_rule,) = internal["spec"]["rules"]
        assert internal_rule["host"] == domain
        assert internal["spec"]["tls"] == ingress["spec"]["tls"]
        assert {p["path"] for p in internal_rule["http"]["paths"]} == {
            "/metrics",
            "/healthz",
            "/emulator",
        }


def test_the_httproute_passes_websockets_and_lets_streams_run(rendered):
    objects = rendered["production"]
    route = _find(objects, "HTTPRoute", "web")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"]["parentRefs"] and all(ref["name"] for ref in route["spec"]["parentRefs"])
    assert route["spec"]["hostnames"] == [_settings(objects)["AIPORTAL_DOMAIN"]]
    rules = route["spec"]["rules"]
    assert set(route["spec"]) <= {"parentRefs", "hostnames", "rules"}
    for rule in rules:
        assert set(rule) <= {"matches", "backendRefs", "timeouts", "filters"}
        for match in rule["matches"]:
            assert match["path"]["type"] in {"Exact", "PathPrefix"}
            assert match["path"]["value"].startswith("/")
    forwarding = [rule for rule in rules if rule.get("backendRefs")]
    (to_web,) = forwarding
    assert to_web["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    (backend,) = to_web["backendRefs"]
    service = _find(objects, "Service", backend["name"])
    (port,) = [p for p in service["spec"]["ports"] if p["port"] == backend["port"]]
    # Gateway API's opt-in for websockets to this backend (GEP-1911).
    assert port["appProtocol"] == "kubernetes.io/ws"
    # "0s" turns the request timeouts off (GEP-1742): a stream outlives any default.
    assert to_web["timeouts"] == {"request": "0s", "backendRequest": "0s"}
    assert all(GATEWAY_DURATION.match(value) for value in to_web["timeouts"].values())
    # The internal paths match a rule with no backend: the Gateway answers them itself.
    blocked = {
        match["path"]["value"]
        for rule in rules
        if not rule.get("backendRefs")
        for match in rule["matches"]
    }
    assert blocked == {"/metrics", "/healthz", "/emulator"}


# --- Who reaches the model workers -----------------------------------------------------------


def _cluster_and_pods(objects: list[dict[str, Any]]) -> tuple[Cluster, list[Pod]]:
    namespaces = {
        item["metadata"]["name"]: item["metadata"].get("labels", {})
        for item in objects
        if item["kind"] == "Namespace"
    }
    pods = [
        Pod(
            f"{w['metadata']['namespace']}/{w['metadata']['name']}",
            w["metadata"]["namespace"],
            w["spec"]["template"]["metadata"]["labels"],
            f"10.42.0.{number}",
        )
        for number, w in enumerate(_workloads(objects), start=10)
    ]
    # Pods that are not ours: the edge, a debugging pod in aiportal's namespace, DNS, and a
    # look-alike elsewhere carrying the web pods' labels.
    pods += [
        Pod(
            "ingress-nginx/controller", "ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"}
        ),
        Pod("envoy-gateway-system/envoy", "envoy-gateway-system", {"app": "envoy"}, "10.42.0.3"),
        Pod("aiportal/debug", "aiportal", {"run": "debug"}, "10.42.0.4"),
        Pod("kube-system/coredns", "kube-system", {"k8s-app": "kube-dns"}, "10.42.0.5"),
        Pod(
            "intruder/web-lookalike",
            "intruder",
            {"app.kubernetes.io/name": "aiportal", "app.kubernetes.io/component": "web"},
            "10.42.0.6",
        ),
        Pod("default/anything", "default", {}, "10.42.0.7"),
    ]
    policies = [item for item in objects if item["kind"] == "NetworkPolicy"]
    return Cluster(policies, namespaces), pods


def _reaches_model_workers(cluster: Cluster, pods: list[Pod]) -> set[str]:
    workers = [p for p in pods if p.labels.get("app.kubernetes.io/component") == "model-worker"]
    assert workers
    return {
        source.name
        for source in pods
        for worker in workers
        if source is not worker and cluster.connects(source, worker, 8000)
    }


@pytest.mark.parametrize(
    "targets", [("trial",), ("production", "vllm-worker")], ids=["trial", "production"]
)
def test_only_web_and_worker_reach_a_model_worker(rendered, targets):
    objects = [item for target in targets for item in rendered[target]]
    cluster, pods = _cluster_and_pods(objects)
    assert _reaches_model_workers(cluster, pods) == {"aiportal/web", "aiportal/worker"}
    # ... on the workers' port only.
    web = next(p for p in pods if p.name == "aiportal/web")
    workers = [p for p in pods if p.labels.get("app.kubernetes.io/component") == "model-worker"]
    assert not any(cluster.connects(web, worker, 22) for worker in workers)
    # And the rest of compose's networks: of our pods the edge reaches web only; the
    # databases take the application's pods only.
    ours = [p for p in pods if p.namespace in cluster.namespace_labels]
    edge = next(p for p in pods if p.name == "ingress-nginx/controller")
    assert {p.name for p in ours if cluster.connects(edge, p, 8000)} == {"aiportal/web"}
    for datastore, port in (("postgres", 5432), ("redis", 6379)):
        for target in [p for p in pods if p.labels.get("app.kubernetes.io/component") == datastore]:
            assert {p.name for p in pods if cluster.connects(p, target, port)} == {
                f"aiportal/{c}" for c in APP_COMPONENTS
            }


def test_the_policy_check_sees_a_hole(rendered):
    """A model-worker policy that admits pods labelled web from any namespace lets the
    look-alike in: the evaluator is not blind to namespaces."""
    objects = copy.deepcopy(rendered["trial"])
    policy = _find(objects, "NetworkPolicy", "from-aiportal-web-and-worker")
    policy["spec"]["ingress"][0]["from"][0]["namespaceSelector"] = {}
    cluster, pods = _cluster_and_pods(objects)
    assert "intruder/web-lookalike" in _reaches_model_workers(cluster, pods)


def test_the_model_worker_example_asks_for_a_gpu_in_a_region_of_its_own(rendered):
    objects = rendered["vllm-worker"]
    (namespace,) = [item for item in objects if item["kind"] == "Namespace"]
    name = namespace["metadata"]["name"]
    assert (
        name != "aiportal" and namespace["metadata"]["labels"]["aiportal/model-workers"] == "true"
    )
    vllm = _find(objects, "Deployment", "vllm")
    assert vllm["metadata"]["namespace"] == name
    container = _pod_spec(vllm)["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "--enable-prompt-tokens-details" in container["args"]
    assert {"name": "HF_HUB_OFFLINE", "value": "1"} in container["env"]
    # Production's AIPORTAL_WORKERS names this Service, and the trial's its emulator.
    service = _find(objects, "Service", "vllm")
    region = namespace["metadata"]["labels"]["aiportal/region"]
    port = service["spec"]["ports"][0]["port"]
    expected = f"http://vllm.{name}.svc:{port}@{region}"
    assert _settings(rendered["production"])["AIPORTAL_WORKERS"] == expected
    emulator = _find(rendered["trial"], "Service", "emulator")
    assert _settings(rendered["trial"])["AIPORTAL_WORKERS"] == (
        f"http://emulator.{emulator['metadata']['namespace']}.svc:8000@local"
    )
