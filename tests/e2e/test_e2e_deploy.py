"""The deployment files are consistent with the code: they parse, every command starts a module that exists, every
Deployment has a Service that selects it, and every variable they set is a setting some process reads (settings
ignore unknown variables, so a misspelt name would silently do nothing). Docker is not available here: this is
what can be checked without it. The README's settings table is held to the same rule."""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
from pydantic import AliasChoices
from pydantic_settings import BaseSettings
from ruamel.yaml import YAML

from services.common.migrate import SERVICES
from services.common.settings import ServiceSettings
from services.gateway.config import GatewaySettings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
APP_CONTAINERS = {"migrate", *SERVICES, "gateway"}
#: Read by something other than our settings classes.
NOT_SETTINGS = {"HEALTH_PORT"}  # the image's HEALTHCHECK


def load_all(path: Path) -> list[Any]:
    return [doc for doc in YAML(typ="safe").load_all(path.read_text()) if doc is not None]


def settings_classes() -> Iterator[type[BaseSettings]]:
    yield GatewaySettings
    for service in SERVICES:
        yield importlib.import_module(f"services.{service}.config").Settings


def known_variables() -> set[str]:
    names: set[str] = set()
    for cls in settings_classes():
        prefix = str(cls.model_config.get("env_prefix", ""))
        for name, field in cls.model_fields.items():
            if isinstance(field.validation_alias, AliasChoices):
                names.update(str(c) for c in field.validation_alias.choices if str(c).isupper())
            else:
                names.add(f"{prefix}{name}".upper())
    return names


def assert_known(variables: set[str], where: str) -> None:
    unknown = sorted(variables - known_variables() - NOT_SETTINGS)
    assert unknown == [], f"{where}: no setting reads {unknown}"


def assert_command_runs_a_real_module(command: list[str], where: str) -> None:
    if command[:1] == ["uvicorn"]:
        assert "--factory" in command, where
        module, _, factory = next(arg for arg in command if ":" in arg).partition(":")
        assert callable(getattr(importlib.import_module(module), factory)), where
    else:
        assert command[:2] == ["python", "-m"], where
        assert importlib.util.find_spec(command[2]) is not None, f"{where}: no module {command[2]}"


def test_the_env_examples_set_only_real_settings() -> None:
    examples = sorted((DEPLOY / "env").glob("*.env.example"))
    assert {p.name for p in examples} >= {f"{n}.env.example" for n in ("common", *SERVICES, "gateway")}
    for path in examples:
        lines = [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
        variables = {line.split("=", 1)[0] for line in lines}
        assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*=.*", line) for line in lines), path.name
        if path.name == "compose.env.example":
            variables -= {"POSTGRES_PASSWORD"}  # for the postgres container and the URLs built from it
        assert_known(variables, path.name)


def test_the_compose_file_runs_every_process_from_real_modules() -> None:
    (compose,) = load_all(DEPLOY / "docker-compose.yml")
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "nats", *APP_CONTAINERS}
    for name in APP_CONTAINERS:
        service = services[name]
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
        assert_command_runs_a_real_module(service["command"], name)
        assert_known(set(service["environment"]), f"compose {name}")
    for name in SERVICES:
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert list(services["gateway"]["ports"]) == ["8000:8000"]  # only the gateway is published
    init = (DEPLOY / "postgres" / "init-databases.sql").read_text()
    assert all(f"CREATE DATABASE {service};" in init for service in SERVICES)  # one database per service


def test_the_kubernetes_manifests_are_complete_and_consistent() -> None:
    k8s = DEPLOY / "k8s"
    (kustomization,) = load_all(k8s / "kustomization.yaml")
    resources = [doc for name in kustomization["resources"] for doc in load_all(k8s / name)]
    assert {p.name for p in k8s.glob("*.yaml")} == {"kustomization.yaml", *kustomization["resources"]}
    by_kind: dict[str, dict[str, Any]] = {}
    for doc in resources:
        assert {"apiVersion", "kind", "metadata"} <= set(doc)
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    assert set(by_kind["Deployment"]) == {*SERVICES, "gateway"}
    assert set(by_kind["Job"]) == {"groupbuy-migrate"}
    assert_known(set(by_kind["ConfigMap"]["groupbuy-config"]["data"]), "ConfigMap")
    assert_known(set(by_kind["Secret"]["groupbuy-secrets"]["stringData"]), "Secret")

    for name, deployment in by_kind["Deployment"].items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items(), name
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert_command_runs_a_real_module(container["command"], name)
        port_names = {port["name"] for port in container["ports"]}
        refs = {ref.get("configMapRef", ref.get("secretRef"))["name"] for ref in container["envFrom"]}
        assert refs == {"groupbuy-config", "groupbuy-secrets"}, name
        service = by_kind["Service"][name]
        assert service["spec"]["selector"].items() <= labels.items(), name
        assert {port["targetPort"] for port in service["spec"]["ports"]} <= port_names, name
        # Ready for production: probes on the health endpoints, requests and a memory limit, a graceful stop.
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["readinessProbe"]["httpGet"]["path"] in ("/readyz", "/healthz"), name
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
        assert "memory" in container["resources"]["limits"], name
        assert "preStop" in container["lifecycle"], name
        if container["command"][0] == "uvicorn":
            assert "--timeout-graceful-shutdown" in container["command"], name
    (job_container,) = by_kind["Job"]["groupbuy-migrate"]["spec"]["template"]["spec"]["containers"]
    assert job_container["command"] == ["python", "-m", "services.common.migrate", "upgrade", "all"]

    # The gateway is the only way in, and what carries the load scales by itself.
    (ingress,) = by_kind["Ingress"].values()
    backends = {
        path["backend"]["service"]["name"] for rule in ingress["spec"]["rules"] for path in rule["http"]["paths"]
    }
    assert backends == {"gateway"}
    autoscaled = {hpa["spec"]["scaleTargetRef"]["name"] for hpa in by_kind["HorizontalPodAutoscaler"].values()}
    assert autoscaled == {"gateway", "orders"}
    for name in autoscaled:
        assert "replicas" not in by_kind["Deployment"][name]["spec"], f"{name}: the autoscaler owns the replica count"
    budgets = {
        pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
        for pdb in by_kind["PodDisruptionBudget"].values()
    }
    assert budgets == set(by_kind["Deployment"])


def test_every_kubernetes_manifest_is_valid_against_the_kubernetes_schema() -> None:
    """kubernetes-validate, strict (unknown fields are errors), against the schema it ships for the newest version."""
    k8s = DEPLOY / "k8s"
    (kustomization,) = load_all(k8s / "kustomization.yaml")
    checked = 0
    for name in kustomization["resources"]:
        for doc in load_all(k8s / name):
            kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
            checked += 1
    assert checked >= 20


def test_the_dockerfile_builds_from_the_repository_and_runs_a_real_module() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.11" in dockerfile
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE)
    assert cmd is not None
    assert_command_runs_a_real_module(YAML(typ="safe").load(cmd.group(1)), "Dockerfile CMD")
    for source in re.findall(r"^COPY (\S+) ", dockerfile, re.MULTILINE):
        assert (REPO / source).exists(), source


def test_the_readme_settings_table_names_only_real_settings() -> None:
    readme = (REPO / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)`", readme, re.MULTILINE))
    assert_known(documented, "README.md")
    # Every setting all processes share is documented; per-service ones appear as `<SERVICE>_...` rows.
    shared = {
        str(field.validation_alias.choices[0])
        for field in ServiceSettings.model_fields.values()
        if isinstance(field.validation_alias, AliasChoices)
    }
    assert sorted(shared - documented) == []
    per_service = {name.upper() for name, f in ServiceSettings.model_fields.items() if f.validation_alias is None}
    assert sorted(n for n in per_service if f"`<SERVICE>_{n}`" not in readme) == []


def test_every_setting_of_every_process_is_in_the_readme() -> None:
    """The other direction: a setting added to a service's config.py without a README row fails here."""
    import importlib

    from services.gateway.config import GatewaySettings

    readme = (REPO / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)`", readme, re.MULTILINE))
    shared = set(ServiceSettings.model_fields)
    missing = []
    for prefix, settings_class in [
        *((s.upper(), importlib.import_module(f"services.{s}.config").Settings) for s in SERVICES),
        ("GATEWAY", GatewaySettings),
    ]:
        for name, field in settings_class.model_fields.items():
            if name in shared or field.validation_alias is not None:
                continue
            if f"{prefix}_{name.upper()}" not in documented:
                missing.append(f"{prefix}_{name.upper()}")
    assert missing == []
