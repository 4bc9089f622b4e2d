"""deploy/kubernetes/: valid resources for the Kubernetes versions still supported, and a
configuration pgback accepts as it is: every variable a real setting, every secret a file from
a mounted Secret key, the image's user, writable state on a read-only root file system."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pyrage
import pytest
import yaml

from pgback.config import Settings, load_settings
from pgback.scenario.schema import load_scenario

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))
# the three minor versions the Kubernetes project maintains (December 2026), all bundled by
# kubernetes-validate 1.37: .ci/run validates the same list
SUPPORTED = ["1.35.0", "1.36.0", "1.37.0"]


def documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found.append((path.name, doc))
    return found


def resource(kind: str, name: str) -> dict[str, Any]:
    for _, doc in documents():
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"no {kind} {name} in {[p.name for p in MANIFESTS]}")


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec = workload["spec"]
    job = spec["jobTemplate"]["spec"] if workload["kind"] == "CronJob" else spec
    pod: dict[str, Any] = job["template"]["spec"]
    return pod


def container_env(pod: dict[str, Any]) -> dict[str, str]:
    """What the pgback container's environment holds: its ConfigMaps, then its own env."""
    (container,) = pod["containers"]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(resource("ConfigMap", source["configMapRef"]["name"])["data"])
    env.update({item["name"]: item["value"] for item in container.get("env", [])})
    return env


def mounted_secret_files(pod: dict[str, Any]) -> dict[str, str]:
    """Path of every file the pod's secret volumes provide -> its value in the Secret."""
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    files: dict[str, str] = {}
    for mount in container["volumeMounts"]:
        volume = volumes[mount["name"]]
        if "secret" in volume:
            secret = resource("Secret", volume["secret"]["secretName"])
            for key, value in secret["stringData"].items():
                files[f"{mount['mountPath']}/{key}"] = value
    return files


WORKLOADS = [
    ("CronJob", "pgback-cluster-a"),
    ("Job", "pgback-restore-cluster-a"),
    ("CronJob", "pgback-drill-cluster-a"),
]


@pytest.mark.parametrize("version", SUPPORTED)
def test_kubernetes_manifests_validate_against_the_api_schema_strictly(version: str) -> None:
    assert MANIFESTS
    for name, doc in documents():
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name}: {doc['kind']} {doc['metadata']['name']}: {exc.message}")


def placeholder_filled(key: str, value: str) -> str:
    """The shipped Secrets hold CHANGE-ME: a value of the right shape stands in for a real one."""
    if value != "CHANGE-ME":
        return value
    return str(pyrage.x25519.Identity.generate()) if "age" in key else f"{key}-value"


def settings_of(pod: dict[str, Any], tmp_path: Path) -> tuple[Settings, dict[str, str]]:
    """Settings as pgback loads them in the pod, each *_FILE read from a copy of the mounted
    Secret key it names; and the container's environment."""
    env = container_env(pod)
    files = mounted_secret_files(pod)
    local = {}
    for var, path in env.items():
        if var.endswith("_FILE"):
            assert path in files, f"{var}={path}: no mounted Secret key there ({sorted(files)})"
            copy = tmp_path / path.strip("/").replace("/", "_")
            copy.write_text(placeholder_filled(path.rsplit("/", 1)[1], files[path]))
            local[var] = str(copy)
    return load_settings(env={**env, **local}), env


@pytest.mark.parametrize(("kind", "name"), WORKLOADS)
def test_kubernetes_workload_configures_pgback_with_known_settings_and_secret_files(
    kind: str, name: str, tmp_path: Path
) -> None:
    settings, env = settings_of(pod_spec(resource(kind, name)), tmp_path)

    assert settings.warnings == (), settings.warnings  # no misspelled PGBACK_ variable
    assert settings.s3_secret is not None and settings.s3_key_id is not None
    assert settings.s3_bucket and settings.upload_prefix
    # secrets only as files: never a plain variable in the pod's spec
    assert not [v for v in env if re.search(r"PASSWORD$|SECRET$|PRIVATE_KEY$|_PASS$", v)], env


def test_kubernetes_restore_job_has_the_identity_and_target_password_as_files(
    tmp_path: Path,
) -> None:
    pod = pod_spec(resource("Job", "pgback-restore-cluster-a"))
    settings, env = settings_of(pod, tmp_path)
    (container,) = pod["containers"]

    assert container["args"][:2] == ["restore", "latest"]
    assert settings.cipher_private_key is not None
    assert "host=" in env["PGBACK_TARGET"] and env["PGBACK_TARGET_PASSWORD_FILE"]


def test_kubernetes_cronjob_runs_one_backup_at_a_time_within_deadlines(tmp_path: Path) -> None:
    cron = resource("CronJob", "pgback-cluster-a")
    spec = cron["spec"]
    pod = pod_spec(cron)
    (container,) = pod["containers"]
    settings, _ = settings_of(pod, tmp_path)

    assert container["args"] == ["backup"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["timeZone"] and spec["startingDeadlineSeconds"] > 0
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] >= 0 and job["activeDeadlineSeconds"] > 0
    assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1
    # SIGTERM gives a running backup stop_grace_period: Kubernetes must wait longer than that
    grace = Settings().stop_grace_period.total_seconds()
    assert pod["terminationGracePeriodSeconds"] > grace
    assert settings.log_format == "json"  # logs for the collector
    assert settings.encrypt and settings.cipher_public_key and not settings.cipher_private_key


@pytest.mark.parametrize(("kind", "name"), WORKLOADS)
def test_kubernetes_workload_runs_as_the_images_user_on_a_read_only_root(
    kind: str, name: str
) -> None:
    pod = pod_spec(resource(kind, name))
    (container,) = pod["containers"]
    image_user = re.search(r"^USER (\d+)", (ROOT / "Dockerfile").read_text(), re.M)
    assert image_user is not None

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert str(pod["securityContext"]["runAsUser"]) == image_user[1]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["resources"]["limits"]["memory"]
    # what pgback writes (state_dir: its lock; TMPDIR: a staged dump) is a writable volume
    volumes = {v["name"]: v for v in pod["volumes"]}
    writable = {
        m["mountPath"]
        for m in container["volumeMounts"]
        if "emptyDir" in volumes[m["name"]] and not m.get("readOnly")
    }
    env = container_env(pod)
    assert {env["PGBACK_STATE_DIR"], env["TMPDIR"]} <= writable


def test_kubernetes_drill_cronjob_runs_a_read_only_drill_scenario(tmp_path: Path) -> None:
    cron = resource("CronJob", "pgback-drill-cluster-a")
    pod = pod_spec(cron)
    (container,) = pod["containers"]
    settings, _ = settings_of(pod, tmp_path)
    drills = resource("ConfigMap", "pgback-drill-cluster-a")["data"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "drills")
    scenario_path = container["args"][1]
    (tmp_path / "nightly.yaml").write_text(drills[scenario_path.rsplit("/", 1)[1]])

    scenario = load_scenario(tmp_path / "nightly.yaml")  # the loader refuses bucket writes

    assert container["args"][0] == "drill" and scenario_path.startswith(mount["mountPath"])
    assert "s3" not in scenario.services and "scratch" in scenario.services
    assert settings.cipher_private_key is not None  # it must open the sets it restores
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
