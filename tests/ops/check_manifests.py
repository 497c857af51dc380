#!/usr/bin/env python3
"""Structure checks of the operations files: the Kubernetes objects in cron/kubernetes/, the
Compose file and the Dockerfile in docker/. Each check states what the deployment promises (see
DESIGN.md and the comments in those files); a violation prints one line per problem and exits 1.

Usage: check_manifests.py REPO_ROOT kubernetes|compose|dockerfile
"""
import fnmatch
import ipaddress
import os
import re
import shlex
import sys
from datetime import datetime
from urllib.parse import urlparse

import yaml

# The job's own SIGTERM grace period (DESIGN.md / `run`): whoever stops it must wait longer.
JOB_SIGTERM_GRACE_S = 10
# Memory the job needs; requests must cover it, limits must leave headroom.
JOB_MEMORY_MIB = 32
SECRET_ENV_NAMES = {"GATEWAY_API_KEY", "GATEWAY_HMAC_SECRET", "DATABASE_URL", "PGPASSWORD"}
RUNTIME_PACKAGES = {"ca-certificates", "libcurl4", "libevent-2.1-7", "libfmt9", "libpqxx-6.4", "libssl3"}


class Checker:
    def __init__(self):
        self.errors = []

    def check(self, ok, where, message):
        if not ok:
            self.errors.append(f"{where}: {message}")
        return ok


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def mebibytes(quantity):
    """Kubernetes memory quantity -> MiB (float); None if unparsable."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T)?", str(quantity))
    if not m:
        return None
    scale = {None: 1 / 2**20, "Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 2**20,
             "K": 1e3 / 2**20, "M": 1e6 / 2**20, "G": 1e9 / 2**20, "T": 1e12 / 2**20}
    return float(m.group(1)) * scale[m.group(2)]


def example_of(value):
    """The example of a `<<REPLACE: what, e.g. VALUE>>` marker (what the checks look at), else the
    value itself."""
    return re.sub(r"<<REPLACE: [^<>]*?e\.g\. ([^<>]*)>>", r"\1", str(value))


def flag_value(args, flag):
    """Value of `--flag V` or `--flag=V` in an argument list, None if absent."""
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return example_of(args[i + 1])
        if a.startswith(flag + "="):
            return example_of(a.split("=", 1)[1])
    return None


def is_loopback_url(url):
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_cron_schedule(c, where, schedule):
    fields = str(schedule).split()
    c.check(len(fields) == 5, where, f"schedule {schedule!r} must have 5 fields")


def check_pod_spec(c, where, pod, secret_names, pvc_claims, require_pvc_reports=True):
    """Shared rules of the CronJob's and the backfill Job's pod template."""
    c.check(pod.get("restartPolicy") == "Never", where,
            "restartPolicy must be Never (podFailurePolicy needs it; Job retries make new pods)")
    grace = pod.get("terminationGracePeriodSeconds")
    c.check(isinstance(grace, int) and grace > JOB_SIGTERM_GRACE_S, where,
            f"terminationGracePeriodSeconds must exceed the job's {JOB_SIGTERM_GRACE_S} s SIGTERM grace, got {grace}")
    c.check(pod.get("automountServiceAccountToken") is False, where,
            "automountServiceAccountToken must be false (the job does not use the API server)")
    psc = pod.get("securityContext") or {}
    c.check(psc.get("runAsNonRoot") is True, where, "pod securityContext.runAsNonRoot must be true")
    c.check(isinstance(psc.get("runAsUser"), int) and psc["runAsUser"] > 0, where,
            "pod securityContext.runAsUser must be a non-zero uid")

    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    secret_volumes = {n: v["secret"] for n, v in volumes.items() if "secret" in v}
    c.check(bool(secret_volumes), where, "secrets must be mounted as files from a secret volume")
    for n, s in secret_volumes.items():
        secret_names.add(s.get("secretName"))
        mode = s.get("defaultMode")
        c.check(mode is None or (isinstance(mode, int) and mode & 0o007 == 0), f"{where} volume {n}",
                f"secret files must not be world-readable (defaultMode {mode!r})")
    for n, v in volumes.items():
        if "persistentVolumeClaim" in v:
            pvc_claims.add(v["persistentVolumeClaim"].get("claimName"))

    containers = list(pod.get("containers") or [])
    all_containers = list(pod.get("initContainers") or []) + containers
    c.check(len(containers) == 1, where, "exactly one container (the job) expected")
    images = {ct.get("image") for ct in all_containers}
    c.check(len(images) == 1, where, f"all containers should use the same image, got {sorted(map(str, images))}")

    for ct in all_containers:
        cw = f"{where} container {ct.get('name')}"
        res = ct.get("resources") or {}
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                c.check(r in (res.get(kind) or {}), cw, f"resources.{kind}.{r} missing")
        req = mebibytes((res.get("requests") or {}).get("memory"))
        lim = mebibytes((res.get("limits") or {}).get("memory"))
        if req is not None and lim is not None:
            c.check(req >= JOB_MEMORY_MIB, cw, f"memory request {req:g}Mi is below the job's ~{JOB_MEMORY_MIB}Mi")
            c.check(lim >= req, cw, "memory limit below the request")
        sc = ct.get("securityContext") or {}
        c.check(sc.get("allowPrivilegeEscalation") is False, cw, "allowPrivilegeEscalation must be false")
        c.check(sc.get("readOnlyRootFilesystem") is True, cw, "readOnlyRootFilesystem must be true")
        c.check("ALL" in ((sc.get("capabilities") or {}).get("drop") or []), cw, "capabilities.drop must hold ALL")
        c.check(sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, cw, "must run as non-root")
        c.check(not sc.get("privileged"), cw, "must not be privileged")

        mounts = {m.get("mountPath"): m for m in ct.get("volumeMounts") or []}
        secret_mounts = {p: m for p, m in mounts.items() if m.get("name") in secret_volumes}
        for p, m in secret_mounts.items():
            c.check(m.get("readOnly") is True, cw, f"secret mount {p} must be readOnly")
        env = ct.get("env") or []
        for e in env:
            name = e.get("name", "")
            c.check(name not in SECRET_ENV_NAMES, cw,
                    f"{name} must not be an environment variable: pass the secret as a file ({name}_FILE)")
            if name.endswith("_FILE"):
                path = str(e.get("value", ""))
                mount = next((mp for mp in secret_mounts if path.startswith(mp.rstrip("/") + "/")), None)
                if c.check(mount is not None, cw, f"{name}={path} is not inside a secret mount"):
                    vol = secret_volumes[secret_mounts[mount]["name"]]
                    items = vol.get("items")
                    rel = path[len(mount.rstrip("/")) + 1:]
                    if items is not None:
                        c.check(rel in {i.get("path") for i in items}, cw,
                                f"{name}: {rel} is not among the secret volume's items")
        if ct in containers:
            args = [str(a) for a in ct.get("args") or []]
            c.check(ct.get("command") is None, cw, "use args, keep the image's ENTRYPOINT")
            c.check(args[:1] == ["run"], cw, f"args must start with `run`, got {args[:1]}")
            names = {e.get("name") for e in env}
            c.check("GATEWAY_API_KEY_FILE" in names, cw, "GATEWAY_API_KEY_FILE must be set")
            c.check("DATABASE_URL_FILE" in names, cw, "DATABASE_URL_FILE must be set")
            c.check(flag_value(args, "--log-format") == "json", cw, "--log-format json expected")
            c.check(flag_value(args, "--progress") == "never", cw, "--progress never expected")
            worker = flag_value(args, "--worker-id")
            if c.check(worker is not None, cw, "--worker-id missing (leases need a distinct worker id)"):
                refs = set(re.findall(r"\$\((\w+)\)", worker))
                c.check(bool(refs), cw, "--worker-id must differ per pod (use $(POD_NAME))")
                for ref in refs:
                    e = next((e for e in env if e.get("name") == ref), None)
                    c.check(e is not None and (e.get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath")
                            == "metadata.name", cw, f"$({ref}) must come from the downward API metadata.name")
            c.check(flag_value(args, "--lease") is not None, cw, "--lease missing")
            url = next((e.get("value") for e in env if e.get("name") == "GATEWAY_BASE_URL"), None)
            if url is not None:
                c.check(url.startswith("https://") or is_loopback_url(url), cw,
                        f"GATEWAY_BASE_URL {url} must be https")
            report_dir = flag_value(args, "--report-dir")
            if c.check(report_dir is not None, cw, "--report-dir missing"):
                m = mounts.get(report_dir.rstrip("/"))
                c.check(m is not None, cw, f"--report-dir {report_dir} is not a mounted volume")
                if m is not None and require_pvc_reports:
                    c.check("persistentVolumeClaim" in volumes.get(m.get("name"), {}), cw,
                            "--report-dir must be on a PersistentVolumeClaim")
            push = next((e.get("value") for e in env if e.get("name") == "METRICS_PUSH_URL"), None)
            if push is not None:
                c.check(example_of(push).startswith(("http://", "https://")), cw,
                        f"METRICS_PUSH_URL {push} must be an http(s) URL of a Pushgateway")
            metrics = flag_value(args, "--metrics-file")
            if metrics is not None:
                c.check(any(metrics.startswith(p.rstrip("/") + "/") for p in mounts if p not in secret_mounts),
                        cw, f"--metrics-file {metrics} is not on a writable volume")


def check_job_spec(c, where, spec):
    c.check(isinstance(spec.get("backoffLimit"), int), where, "backoffLimit must be set")
    ads = spec.get("activeDeadlineSeconds")
    c.check(isinstance(ads, int) and ads > 0, where, "activeDeadlineSeconds must be set")
    for rule in (spec.get("podFailurePolicy") or {}).get("rules") or []:
        codes = (rule.get("onExitCodes") or {}).get("values") or []
        c.check(0 not in codes, where, "podFailurePolicy must not act on exit code 0")


def check_kubernetes(root):
    c = Checker()
    kdir = os.path.join(root, "cron", "kubernetes")
    docs = {}
    for name in ("cronjob.yaml", "backfill-job.yaml", "secret.example.yaml"):
        path = os.path.join(kdir, name)
        if c.check(os.path.exists(path), name, "missing"):
            docs[name] = load_all(path)
    secret_names, pvc_claims = set(), set()
    pvcs = {}
    for name, objs in docs.items():
        for o in objs:
            c.check("apiVersion" in o and "kind" in o and (o.get("metadata") or {}).get("name"), name,
                    "every object needs apiVersion, kind and metadata.name")
            if o.get("kind") == "PersistentVolumeClaim":
                pvcs[o["metadata"]["name"]] = o

    cronjobs = [o for o in docs.get("cronjob.yaml", []) if o.get("kind") == "CronJob"]
    if c.check(len(cronjobs) == 1, "cronjob.yaml", "one CronJob expected"):
        cj = cronjobs[0]
        w = "cronjob.yaml CronJob"
        c.check(cj.get("apiVersion") == "batch/v1", w, "apiVersion must be batch/v1")
        s = cj.get("spec") or {}
        check_cron_schedule(c, w, s.get("schedule"))
        c.check(s.get("concurrencyPolicy") == "Forbid", w, "concurrencyPolicy must be Forbid")
        sds = s.get("startingDeadlineSeconds")
        c.check(isinstance(sds, int) and sds > 0, w, "startingDeadlineSeconds must be set")
        js = (s.get("jobTemplate") or {}).get("spec") or {}
        check_job_spec(c, w, js)
        pod = (js.get("template") or {}).get("spec") or {}
        check_pod_spec(c, w, pod, secret_names, pvc_claims)
        grace = pod.get("terminationGracePeriodSeconds") or 0
        c.check((js.get("activeDeadlineSeconds") or 0) > grace, w, "activeDeadlineSeconds must exceed the grace period")

    jobs = [o for o in docs.get("backfill-job.yaml", []) if o.get("kind") == "Job"]
    if c.check(len(jobs) == 1, "backfill-job.yaml", "one Job expected"):
        job = jobs[0]
        w = "backfill-job.yaml Job"
        s = job.get("spec") or {}
        par, comp = s.get("parallelism"), s.get("completions")
        c.check(isinstance(par, int) and par >= 2 and par == comp, w,
                f"parallelism and completions must be equal and >= 2 (N workers), got {par}/{comp}")
        check_job_spec(c, w, s)
        pod = (s.get("template") or {}).get("spec") or {}
        check_pod_spec(c, w, pod, secret_names, pvc_claims)
        args = [str(a) for a in ((pod.get("containers") or [{}])[0].get("args") or [])]
        after, before = flag_value(args, "--created-after"), flag_value(args, "--created-before")
        if c.check(after is not None and before is not None, w, "--created-after and --created-before required"):
            try:
                a = datetime.fromisoformat(after.replace("Z", "+00:00"))
                b = datetime.fromisoformat(before.replace("Z", "+00:00"))
                c.check(a < b, w, f"window is empty: {after} >= {before}")
            except ValueError as e:
                c.check(False, w, f"window bounds must be ISO 8601: {e}")
        rate = flag_value(args, "--rate")
        c.check(rate is not None and float(rate) > 0, w,
                "--rate must be set: the API key's whole budget (the workers split it)")
        c.check("--no-shared-budget" not in args, w,
                "the backfill's workers must share the key's budget (no --no-shared-budget)")
        # The scheduled run and the backfill share one budget: one figure for both.
        crons = [o for o in docs.get("cronjob.yaml", []) if o.get("kind") == "CronJob"]
        if crons:
            cpod = ((((crons[0].get("spec") or {}).get("jobTemplate") or {}).get("spec") or {})
                    .get("template") or {}).get("spec") or {}
            cargs = [str(a) for a in ((cpod.get("containers") or [{}])[0].get("args") or [])]
            c.check(flag_value(cargs, "--rate") == rate, w,
                    f"--rate {rate} differs from the CronJob's {flag_value(cargs, '--rate')}: both "
                    "are the key's one budget")
        # N pods on possibly different nodes share the report volume.
        for v in pod.get("volumes") or []:
            claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
            if claim in pvcs:
                c.check("ReadWriteMany" in (pvcs[claim].get("spec") or {}).get("accessModes", []), w,
                        f"PVC {claim} is shared by parallel pods: it needs ReadWriteMany")

    for claim in pvc_claims:
        c.check(claim in pvcs, "kubernetes", f"PersistentVolumeClaim {claim} is used but not defined")

    secrets = [o for o in docs.get("secret.example.yaml", []) if o.get("kind") == "Secret"]
    if c.check(len(secrets) == 1, "secret.example.yaml", "one Secret expected"):
        sec = secrets[0]
        w = "secret.example.yaml"
        c.check(sec["metadata"]["name"] in secret_names, w,
                f"the workloads mount {sorted(map(str, secret_names))}, not {sec['metadata']['name']}")
        data = dict(sec.get("stringData") or {})
        c.check(not sec.get("data"), w, "use stringData placeholders, no encoded values")
        for key in ("api-key", "database-url", "hmac-secret"):
            c.check(key in data, w, f"key {key} missing")
        for key, value in data.items():
            c.check("REPLACE" in str(value), w, f"{key} must be a placeholder (REPLACE-...), never a real value")
        # Every item a workload mounts must exist in the Secret.
        for name, objs in docs.items():
            for o in objs:
                for v in _pod_volumes(o):
                    for item in (v.get("secret") or {}).get("items") or []:
                        c.check(item.get("key") in data, name, f"secret item {item.get('key')} not in the Secret")
    return c


def _pod_volumes(obj):
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return ((spec.get("template") or {}).get("spec") or {}).get("volumes") or []


def _deps(svc):
    d = svc.get("depends_on") or {}
    if isinstance(d, list):
        return {n: "service_started" for n in d}
    return {n: (v or {}).get("condition", "service_started") for n, v in d.items()}


def _as_list(cmd):
    if cmd is None:
        return []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(x) for x in cmd]


def _env(svc):
    e = svc.get("environment") or {}
    if isinstance(e, list):
        return dict(x.split("=", 1) if "=" in x else (x, None) for x in e)
    return {k: (None if v is None else str(v)) for k, v in e.items()}


def check_compose(root):
    c = Checker()
    path = os.path.join(root, "docker", "compose.yaml")
    if not c.check(os.path.exists(path), "docker/compose.yaml", "missing"):
        return c
    w = "compose.yaml"
    d = load_all(path)[0]
    services = d.get("services") or {}
    for name in ("postgres", "sim", "migrate", "job"):
        c.check(name in services, w, f"service {name} missing")
    if c.errors:
        return c
    pg, sim, migrate, job = (services[n] for n in ("postgres", "sim", "migrate", "job"))
    c.check(str(pg.get("image", "")).startswith("postgres:15"), w, "postgres must be postgres:15")
    c.check("healthcheck" in pg, w, "postgres needs a healthcheck (migrate waits for service_healthy)")

    sim_cmd = _as_list(sim.get("entrypoint")) + _as_list(sim.get("command"))
    c.check(any(x.endswith("deposit-gateway-sim") for x in sim_cmd), w, "sim must run deposit-gateway-sim")
    c.check(flag_value(sim_cmd, "--listen") == "0.0.0.0" and flag_value(sim_cmd, "--port") == "8080", w,
            f"sim must listen on 0.0.0.0:8080, got {sim_cmd}")
    c.check(_as_list(migrate.get("command"))[:1] == ["migrate"], w, "migrate service must run `migrate`")
    c.check(_deps(migrate).get("postgres") == "service_healthy", w, "migrate must wait for postgres service_healthy")
    c.check(_as_list(job.get("command"))[:1] == ["run"], w, "job service must run `run`")
    jd = _deps(job)
    c.check(jd.get("migrate") == "service_completed_successfully", w,
            "job must wait for migrate service_completed_successfully")
    c.check(jd.get("sim") in ("service_started", "service_healthy"), w, "job must depend on sim")
    c.check(job.get("network_mode") == "service:sim", w,
            "job must share the simulator's network namespace (plain http is accepted only for loopback)")
    app_image = job.get("image")
    push = _env(job).get("METRICS_PUSH_URL")
    if push is not None:
        host = re.sub(r"^https?://([^:/]+).*$", r"\1", str(push))
        c.check(str(push).startswith(("http://", "https://")), w, "METRICS_PUSH_URL must be http(s)")
        c.check(host in services and host in jd, w,
                f"METRICS_PUSH_URL names {host}: it must be a service the job depends on")

    for name, svc in services.items():
        sw = f"{w} service {name}"
        for dep, cond in _deps(svc).items():
            c.check(dep in services, sw, f"depends on unknown service {dep}")
            if cond == "service_completed_successfully" and dep in services:
                c.check(str(services[dep].get("restart", "no")) == "no", sw,
                        f"{dep} is a one-shot: it must not restart")
            if cond == "service_healthy" and dep in services:
                c.check("healthcheck" in services[dep], sw, f"{dep} has no healthcheck to wait for")
        mode = str(svc.get("network_mode", ""))
        if mode.startswith("service:"):
            c.check(mode.split(":", 1)[1] in services, sw, "network_mode names an unknown service")
            c.check("ports" not in svc, sw, "ports cannot be published with network_mode service:")
            c.check(mode.split(":", 1)[1] in _deps(svc), sw, "must depend on the service whose network it joins")
        env = _env(svc)
        for k, v in env.items():
            c.check(k not in SECRET_ENV_NAMES, sw, f"{k} must come from a secret file, not the environment")
            if k == "POSTGRES_PASSWORD":
                c.check(False, sw, "use POSTGRES_PASSWORD_FILE")
        url = env.get("GATEWAY_BASE_URL")
        if url is not None:
            c.check(url.startswith("https://") or is_loopback_url(url), sw,
                    f"GATEWAY_BASE_URL {url}: plain http is refused for non-loopback hosts")
            if url.startswith("http://"):
                c.check(mode == "service:sim", sw, "reaches the simulator on loopback only from its namespace")
        for k, v in env.items():
            if k.endswith("_FILE"):
                c.check(str(v).startswith("/run/secrets/"), sw, f"{k} must point into /run/secrets")
                secret = os.path.basename(str(v))
                c.check(secret in (svc.get("secrets") or []), sw, f"{k}: secret {secret} not granted")
        if svc.get("image") == app_image and name != "postgres":
            c.check(svc.get("read_only") is True, sw, "app containers must have a read-only root filesystem")
            c.check(str(svc.get("user", "")).split(":")[0] not in ("", "0", "root"), sw, "must run as non-root")
            c.check("ALL" in (svc.get("cap_drop") or []), sw, "cap_drop must hold ALL")
        build = svc.get("build")
        if build:
            ctx = os.path.normpath(os.path.join(root, "docker", build.get("context", ".")))
            c.check(os.path.isfile(os.path.join(ctx, build.get("dockerfile", "Dockerfile"))), sw,
                    "build.dockerfile not found relative to build.context")
    for name, s in (d.get("secrets") or {}).items():
        f = s.get("file")
        if f:
            c.check(os.path.isfile(os.path.join(root, "docker", f)), w, f"secret {name}: file {f} missing")
    return c


def _dockerfile_instructions(text):
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out, buf = [], ""
    for line in text.splitlines():
        s = line.strip()
        if not buf and (not s or s.startswith("#")):
            continue
        if s.startswith("#"):
            continue
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        buf += s
        parts = buf.split(None, 1)
        out.append((parts[0].upper(), parts[1] if len(parts) > 1 else ""))
        buf = ""
    return out


def _ignored(patterns, rel):
    """Docker's .dockerignore semantics, enough for an allow-list: last matching pattern wins."""
    ignored = False
    for p in patterns:
        neg = p.startswith("!")
        p = p[1:] if neg else p
        p = p.rstrip("/")
        parts = rel.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if any(fnmatch.fnmatchcase(x, p) or fnmatch.fnmatchcase(x, p.replace("**/", "")) for x in prefixes):
            ignored = not neg
    return ignored


def check_dockerfile(root):
    c = Checker()
    w = "docker/Dockerfile"
    path = os.path.join(root, "docker", "Dockerfile")
    if not c.check(os.path.exists(path), w, "missing"):
        return c
    ins = _dockerfile_instructions(open(path, encoding="utf-8").read())
    args = {}
    for op, rest in ins:
        if op == "ARG" and "=" in rest:
            k, v = rest.split("=", 1)
            args.setdefault(k, v)
    froms = [rest for op, rest in ins if op == "FROM"]
    c.check(len(froms) == 2, w, f"two stages (build, runtime) expected, got {len(froms)}")
    if len(froms) == 2:
        def resolve(s):
            return re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), s.split()[0])
        c.check(resolve(froms[0]) == "debian:12", w, f"build stage must default to debian:12, got {resolve(froms[0])}")
        c.check(resolve(froms[1]) == "debian:12-slim", w, f"runtime must default to debian:12-slim, got {resolve(froms[1])}")
        c.check(froms[0].split()[0].startswith("${"), w, "the build base must be a build ARG")
    runtime_start = max(i for i, (op, _) in enumerate(ins) if op == "FROM")
    build, runtime = ins[:runtime_start], ins[runtime_start:]
    build_runs = " ".join(r for op, r in build if op == "RUN")
    c.check("install-deps.sh --build-only" in build_runs, w, "build stage must use scripts/install-deps.sh --build-only")
    c.check("CMAKE_BUILD_TYPE=Release" in build_runs, w, "build stage must build Release")
    c.check("cmake --install" in build_runs, w, "build stage must `cmake --install`")
    runtime_runs = " ".join(r for op, r in runtime if op == "RUN")
    m = re.search(r"apt-get install (.*?)(&&|$)", runtime_runs)
    if c.check(m is not None, w, "runtime stage must apt-get install its libraries"):
        words = m.group(1).split()
        c.check("--no-install-recommends" in words, w, "runtime apt-get install needs --no-install-recommends")
        pkgs = {x for x in words if not x.startswith("-")}
        c.check(pkgs == RUNTIME_PACKAGES, w, f"runtime packages must be {sorted(RUNTIME_PACKAGES)}, got {sorted(pkgs)}")
    c.check("rm -rf /var/lib/apt/lists" in runtime_runs, w, "runtime stage must drop apt lists")
    c.check("10001" in runtime_runs, w, "runtime stage must create the uid 10001 user")
    users = [r for op, r in runtime if op == "USER"]
    c.check(users and users[-1].split(":")[0] == "10001", w, f"must end as USER 10001, got {users}")
    ep = [r for op, r in runtime if op == "ENTRYPOINT"]
    c.check(ep == ['["/usr/local/bin/deposit-reconciler"]'], w, f"ENTRYPOINT must be the exec form of the binary, got {ep}")
    cmd = [r for op, r in runtime if op == "CMD"]
    c.check(cmd == ['["run"]'], w, f'CMD must be ["run"], got {cmd}')
    copies = [r for op, r in runtime if op == "COPY"]
    c.check(all("--from=build" in r for r in copies), w, "the runtime stage copies only from the build stage")

    ign_path = os.path.join(root, "docker", "Dockerfile.dockerignore")
    if c.check(os.path.exists(ign_path), "docker/Dockerfile.dockerignore", "missing"):
        patterns = [l.strip() for l in open(ign_path, encoding="utf-8")
                    if l.strip() and not l.strip().startswith("#")]
        for op, rest in build:
            if op == "COPY" and "--from" not in rest:
                src = rest.split()[0]
                if src != ".":
                    c.check(os.path.exists(os.path.join(root, src)), w, f"COPY source {src} missing")
                    c.check(not _ignored(patterns, src), w, f"COPY source {src} is excluded by the ignore file")
        for must in (".git", "build", "build-x/CMakeCache.txt", "bench/results.csv"):
            c.check(_ignored(patterns, must), "Dockerfile.dockerignore", f"{must} must not enter the build context")
        # What the build and `cmake --install` read must be in the context.
        cml = open(os.path.join(root, "CMakeLists.txt"), encoding="utf-8").read()
        needed = {"CMakeLists.txt", "src/app/main.cc", "cmake/embed_sql.cmake", "scripts/install-deps.sh"}
        installed = {m.rstrip("/") for m in re.findall(r"install\((?:DIRECTORY|FILES)\s+([\w./-]+)", cml)}
        for n in sorted(installed):
            c.check(os.path.exists(os.path.join(root, n)), "CMakeLists.txt",
                    f"install() source {n} does not exist: `cmake --install` in the image build would fail")
        needed |= installed
        needed |= {m for m in re.findall(r"\$\{CMAKE_SOURCE_DIR\}/([\w./-]+)", cml) if "*" not in m}
        for n in sorted(needed):
            if n.startswith(("tests/", ".git")):
                continue  # the image builds with DR_BUILD_TESTS=OFF; the revision comes as a build ARG
            c.check(not _ignored(patterns, n), "Dockerfile.dockerignore", f"{n} is needed by the build but excluded")
    return c


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in ("kubernetes", "compose", "dockerfile"):
        print(__doc__, file=sys.stderr)
        return 2
    root, what = sys.argv[1], sys.argv[2]
    c = {"kubernetes": check_kubernetes, "compose": check_compose, "dockerfile": check_dockerfile}[what](root)
    for e in c.errors:
        print(f"FAIL {e}")
    if c.errors:
        print(f"{what}: {len(c.errors)} problem(s)")
        return 1
    print(f"{what}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
