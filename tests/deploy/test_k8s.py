"""The Kubernetes manifests (deploy/k8s) against the Kubernetes schemas, and their wiring.

With kubectl (or kustomize) on the PATH the kustomizations are built as `kubectl apply -k`
would; without, the files each kustomization lists are read one by one. Schemas come from
kubernetes-validate, which ships them, so this runs offline.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.deploy.tools import DEPLOY

K8S = DEPLOY / "k8s"
# The oldest Kubernetes still in wide support that the manifests must run on.
KUBERNETES_VERSION = "1.30"
CUSTOM_KINDS = {"ScaledObject", "TriggerAuthentication"}
ROLES = ["web", "updates", "worker-pipeline", "worker-mail", "beat"]


def _listed(kustomization_dir: Path) -> list[dict]:
    """Read the resources a kustomization lists, following nested directories."""
    spec = yaml.safe_load((kustomization_dir / "kustomization.yaml").read_text())
    docs: list[dict] = []
    for entry in spec.get("resources", []):
        path = (kustomization_dir / entry).resolve()
        if path.is_dir():
            docs += _listed(path)
        else:
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _build(kustomization_dir: Path) -> list[dict]:
    """Build with kustomize when this host has it, else read the listed files."""
    kubectl, kustomize = shutil.which("kubectl"), shutil.which("kustomize")
    if kubectl:
        command = [kubectl, "kustomize"]
    elif kustomize:
        command = [kustomize, "build"]
    else:
        return _listed(kustomization_dir)
    result = subprocess.run(
        [*command, str(kustomization_dir)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


@pytest.fixture(scope="module")
def base() -> list[dict]:
    return _build(K8S)


@pytest.fixture(scope="module")
def keda() -> list[dict]:
    return _build(K8S / "keda")


def _by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_every_manifest_validates_against_the_kubernetes_schemas(base, keda):
    names = set()
    for doc in base + keda:
        if doc["kind"] in CUSTOM_KINDS:
            continue
        # strict: a misspelt or misplaced field is an error, not silently dropped.
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        names.add((doc["kind"], doc["metadata"]["name"]))
    assert len(names) >= 18


def test_the_base_holds_no_custom_resource_so_it_applies_without_keda(base):
    assert not [d["kind"] for d in base if d["kind"] in CUSTOM_KINDS]


def test_every_role_has_a_deployment_with_probes_and_resources(base):
    deployments = _by_kind(base, "Deployment")
    assert set(deployments) == set(ROLES)
    for name, deployment in deployments.items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == [name]
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][bound]), name
        assert container.get("livenessProbe") or name == "beat", name
    for name in ("web", "updates"):
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    beat = deployments["beat"]["spec"]
    assert beat["replicas"] == 1
    assert beat["strategy"]["type"] == "Recreate"


def test_autoscalers_disruption_budgets_and_ingresses_point_at_what_exists(base, keda):
    deployments = _by_kind(base, "Deployment")
    services = _by_kind(base, "Service")
    hpas = _by_kind(base, "HorizontalPodAutoscaler")
    assert set(hpas) == {"web", "updates"}
    for hpa in hpas.values():
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments
        assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    labels = [d["spec"]["template"]["metadata"]["labels"] for d in deployments.values()]
    for pdb in _by_kind(base, "PodDisruptionBudget").values():
        wanted = pdb["spec"]["selector"]["matchLabels"]
        assert any(wanted.items() <= have.items() for have in labels), pdb["metadata"]["name"]
    ingresses = _by_kind(base, "Ingress")
    assert len(ingresses) == 2
    for ingress in ingresses.values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["backend"]["service"]["name"] in services
    scaled = _by_kind(keda, "ScaledObject")
    assert {s["spec"]["scaleTargetRef"]["name"] for s in scaled.values()} == {
        "worker-pipeline",
        "worker-mail",
    }
    for scaled_object in scaled.values():
        assert scaled_object["spec"]["triggers"][0]["type"] == "rabbitmq"


def test_the_migrate_job_and_the_backup_cronjob_run_the_image_commands(base):
    assert _by_kind(base, "Job")["migrate"]["spec"]["template"]["spec"]["containers"][0][
        "args"
    ] == ["migrate"]
    backup = _by_kind(base, "CronJob")["db-backup"]["spec"]
    assert backup["concurrencyPolicy"] == "Forbid"
    container = backup["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["manage.py", "db_backup"]


def test_a_misspelt_field_fails_validation():
    # The validator is strict enough to catch what a typo in these files would look like.
    deployment = yaml.safe_load((K8S / "base" / "web.yaml").read_text().split("---")[0])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_the_configmap_and_secret_give_every_required_variable_and_only_known_ones(base):
    from tests.deploy.test_env_example import (
        deployment_reads,
        production_reads,
        production_required,
    )

    config = _by_kind(base, "ConfigMap")["depot-config"]["data"]
    secret = _by_kind(base, "Secret")["depot-secrets"]["stringData"]
    given = set(config) | set(secret)
    assert not production_required() - given, sorted(production_required() - given)
    unknown = given - production_reads() - deployment_reads()
    assert not unknown, f"read by neither the settings nor deploy/: {sorted(unknown)}"
    assert not set(config) & set(secret)
