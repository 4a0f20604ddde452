"""docker/: what can be checked without a Docker engine (none runs on these machines).

The compose file and the Dockerfiles are parsed: every path they COPY or mount exists (and the
.dockerignore lets it through), every command they run is a console script of pyproject.toml
whose parser accepts the arguments, the configs they mount load with exactly the environment
the service gives (no secret in a file or an image), the ports and host names agree, the edge
config passes ``parkguard-edge check`` with the image's models, and the broker accounts the
compose makes let a real Mosquitto (docker/mosquitto.conf) take the edge's and the center's
logins and refuse an anonymous one.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
import re
import shlex
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import pytest
import yaml
from sqlalchemy.engine import make_url

from center.cli import build_parser as center_parser
from center.config import load_config
from edge.cli import _parser as edge_parser
from edge.cli import main as edge_main
from edge.config.node import load_edge_config
from tests.support.ports import free_port
from tests.support.procs import ManagedProcess

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
COMPOSE = yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
SCRIPTS = set(PYPROJECT["project"]["scripts"])
INTERPOLATION = re.compile(r"^\$\{([A-Z0-9_]+)(:?[?-][^}]*)?\}$")


# -- parsing ----------------------------------------------------------------------------------
@dataclass
class Dockerfile:
    path: Path
    stages: list[list[tuple[str, str]]] = field(default_factory=list)  # (instruction, arguments)

    @classmethod
    def parse(cls, path: Path) -> Dockerfile:
        text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
        out = cls(path)
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            word, _, rest = line.partition(" ")
            if word.upper() == "FROM":
                out.stages.append([])
            out.stages[-1].append((word.upper(), rest.strip()))
        return out

    def all(self, instruction: str) -> list[str]:
        return [args for stage in self.stages for ins, args in stage if ins == instruction]

    def final(self, instruction: str) -> list[str]:
        return [args for ins, args in self.stages[-1] if ins == instruction]


def json_or_shell(args: str) -> list[str]:
    args = args.strip()
    return yaml.safe_load(args) if args.startswith("[") else shlex.split(args)


def dockerignore_allows(rel: str) -> bool:
    """.dockerignore at the context root (the last matching pattern wins, ``!`` re-includes)."""
    allowed = True
    for raw in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines():
        pat = raw.strip()
        if not pat or pat.startswith("#"):
            continue
        neg = pat.startswith("!")
        pat = pat.lstrip("!").rstrip("/")
        if pat.startswith("**/"):
            hit = any(part == pat[3:] for part in rel.split("/"))
        else:
            hit = fnmatch.fnmatch(rel, pat) or rel.startswith(pat + "/")
        if hit:
            allowed = neg
    return allowed


def copies(df: Dockerfile) -> list[tuple[list[str], str]]:
    """(sources, destination) of each COPY from the build context (not --from a stage)."""
    out = []
    for args in df.all("COPY"):
        words = shlex.split(args)
        if any(w.startswith("--from") for w in words):
            continue
        words = [w for w in words if not w.startswith("--")]
        out.append((words[:-1], words[-1]))
    return out


def dockerfiles() -> dict[str, Dockerfile]:
    out = {}
    for name, svc in SERVICES.items():
        if "build" in svc:
            context = (DOCKER / svc["build"]["context"]).resolve()
            assert context == REPO, f"{name}: build context {context} (the repository root expected)"
            out[name] = Dockerfile.parse(context / svc["build"]["dockerfile"])
    return out


def bind_mounts(svc: dict[str, Any]) -> dict[str, Path]:
    """container path -> host path (relative to docker/) of a service's bind mounts."""
    out = {}
    for vol in svc.get("volumes", []):
        src, dst = vol.split(":")[:2]
        if src.startswith("."):
            out[dst] = (DOCKER / src).resolve()
    return out


def named_volumes(svc: dict[str, Any]) -> dict[str, str]:
    """container path -> volume name."""
    return {v.split(":")[1]: v.split(":")[0] for v in svc.get("volumes", []) if not v.startswith(".")}


def env_names(svc: dict[str, Any]) -> dict[str, str]:
    env = svc.get("environment", {})
    assert isinstance(env, dict), "environment as a mapping"
    return {k: str(v) for k, v in env.items()}


def host_path(svc: dict[str, Any], container_path: str) -> Path | None:
    """Where a container path of a service comes from on this checkout (a bind mount or a COPY)."""
    for dst, src in sorted(bind_mounts(svc).items(), key=lambda kv: -len(kv[0])):
        if container_path == dst or container_path.startswith(dst.rstrip("/") + "/"):
            return src / container_path[len(dst) :].lstrip("/")
    if "build" in svc:
        df = Dockerfile.parse(REPO / svc["build"]["dockerfile"])
        for sources, dest in copies(df):
            for s in sources:
                for src in REPO.glob(s):
                    # a folder's contents go to dest; a file to dest/ + its name, or to dest
                    if src.is_dir():
                        target = dest.rstrip("/")
                    else:
                        target = dest + src.name if dest.endswith("/") else dest
                    if container_path == target or container_path.startswith(target + "/"):
                        return src / container_path[len(target) :].lstrip("/")
    return None


def commands(name: str, svc: dict[str, Any], df: Dockerfile | None) -> list[list[str]]:
    """Every command line a service runs: its compose command or the image's CMD, and ``sh -c``
    scripts split at ``&&``."""
    cmd = svc.get("command") or (json_or_shell(df.final("CMD")[-1]) if df else None)
    if cmd is None:
        return []
    if cmd[:2] == ["sh", "-c"]:
        return [shlex.split(part.replace("exec ", "", 1)) for part in cmd[2].split("&&")]
    return [cmd]


# -- the tests --------------------------------------------------------------------------------
def test_every_copied_path_exists_and_reaches_the_build() -> None:
    found = dockerfiles()
    assert {"broker-accounts", "center-1", "center-2", "edge"} <= set(found)
    for name, df in found.items():
        for sources, _dest in copies(df):
            for s in sources:
                hits = list(REPO.glob(s))
                assert hits, f"{df.path.name}: COPY {s}: no such path"
                for hit in hits:
                    rel = hit.relative_to(REPO).as_posix()
                    assert dockerignore_allows(rel), (
                        f"{df.path.name}: COPY {rel} is left out by .dockerignore"
                    )
        # the build stage copies every package the wheel includes
        packages = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
        copied = {s for sources, _ in copies(df) for s in sources}
        for pkg in packages:
            assert pkg.rstrip("*") in copied, f"{name}: {df.path.name} does not COPY {pkg.rstrip('*')}"
        assert {"pyproject.toml", "README.md", "LICENSE"} <= copied
    assert not dockerignore_allows(".venv/bin/python") and not dockerignore_allows("tests/conftest.py")
    assert not dockerignore_allows("edge/__pycache__/node.cpython-311.pyc")


def test_every_bind_mount_exists() -> None:
    for name, svc in SERVICES.items():
        for dst, src in bind_mounts(svc).items():
            assert src.exists(), f"{name}: mount {src} -> {dst}: no such path"
        for dst, vol in named_volumes(svc).items():
            assert vol in COMPOSE["volumes"], f"{name}: volume {vol} ({dst}) not declared"


def test_every_command_is_a_console_script_its_parser_accepts() -> None:
    found = dockerfiles()
    seen = set()
    for name, svc in SERVICES.items():
        for argv in commands(name, svc, found.get(name)):
            if argv[0] in ("python", "sh"):
                continue
            assert argv[0] in SCRIPTS, f"{name}: {argv[0]} is not a console script of pyproject.toml"
            parser = center_parser() if argv[0] == "parkguard-center" else edge_parser()
            parser.parse_args(argv[1:])  # SystemExit (a failed test) on an unknown command or option
            seen.add((argv[0], argv[1]))
    assert {("parkguard-center", "serve"), ("parkguard-center", "broker-accounts")} <= seen
    assert {("parkguard-edge", "check"), ("parkguard-edge", "run")} <= seen
    # the health checks ask the servers' real endpoints, on the ports the configs give
    for name, df in found.items():
        (check,) = df.final("HEALTHCHECK")
        url = re.search(r"http://[^'\"]+", check)
        assert url, check
        cfg = service_config_env(name)
        port = urlsplit(url.group()).port
        if name.startswith("edge"):
            assert urlsplit(url.group()).path == "/healthz" and port == cfg.metrics_port
        else:
            assert urlsplit(url.group()).path == "/api/health" and port == cfg.http.port
            assert df.final("EXPOSE") == [str(cfg.http.port)]


def service_config(name: str) -> Any:
    """The config a service mounts at /etc/parkguard/*.yaml, loaded with only the environment
    the compose file gives it (dummy values)."""
    svc = SERVICES[name]
    mounts = bind_mounts(svc)
    path = mounts.get("/etc/parkguard/center.yaml") or mounts["/etc/parkguard/edge.yaml"]
    return load_config(path) if path.name.startswith("docker-center") else load_edge_config(path)


@pytest.mark.parametrize("name", ["broker-accounts", "center-1", "center-2", "edge"])
def test_configs_load_with_the_environment_the_service_gives(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = SERVICES[name]
    env = env_names(svc)
    for key in ("PARKGUARD_DB_PASSWORD", "PARKGUARD_MQTT_PASSWORD", "PARKGUARD_EDGE_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        # secrets only by interpolation from docker/.env: never a literal in the compose file
        if re.search("PASSWORD|TOKEN|SECRET", key):
            assert INTERPOLATION.match(value), f"{name}: {key} has a literal value"
            var = INTERPOLATION.match(value).group(1)  # type: ignore[union-attr]
            assert var in (DOCKER / "env.example").read_text(encoding="utf-8"), f"{var} not in env.example"
        monkeypatch.setenv(key, "dummy-value")
    cfg = service_config(name)
    if name.startswith("edge"):
        assert cfg.mqtt.password_env in env and cfg.center.token_env in env
        assert cfg.mqtt.host in SERVICES and urlsplit(cfg.center.url).hostname in SERVICES
    else:
        assert cfg.mqtt.password_env in env and cfg.database.password_env in env
        url = make_url(cfg.database.url)
        assert url.host in SERVICES and url.port == 5432 and url.password == "dummy-value"
        raw = yaml.safe_load(bind_mounts(svc)["/etc/parkguard/center.yaml"].read_text(encoding="utf-8"))
        assert make_url(raw["database"]["url"]).password is None, "a password in the config file"
        assert cfg.mqtt.host in SERVICES


def test_no_secret_in_the_images() -> None:
    for name, df in dockerfiles().items():
        for ins in ("ENV", "ARG", "LABEL"):
            for args in df.all(ins):
                assert not re.search("PASSWORD|TOKEN|SECRET|KEY", args, re.I), f"{name}: {ins} {args}"
        assert df.final("USER") == ["parkguard"], f"{name}: the image runs as root"


def test_ports_hosts_and_the_proxy_agree() -> None:
    c1, c2, edge = service_config_env("center-1"), service_config_env("center-2"), service_config_env("edge")
    # the replicas differ in their MQTT client id only
    raw1 = (REPO / "configs/docker-center-1.yaml").read_text(encoding="utf-8").splitlines()
    raw2 = (REPO / "configs/docker-center-2.yaml").read_text(encoding="utf-8").splitlines()
    diff = [(a, b) for a, b in zip(raw1, raw2, strict=True) if a != b]
    assert [a.split("#")[0].strip() for a, _ in diff[1:]] == ["client_id: parkguard-center-1"], diff
    assert c1.mqtt.client_id != c2.mqtt.client_id and c1.mqtt.shared_group == c2.mqtt.shared_group
    assert c1.evidence_dir == c2.evidence_dir
    assert (
        named_volumes(SERVICES["center-1"])[str(c1.evidence_dir)]
        == named_volumes(SERVICES["center-2"])[str(c2.evidence_dir)]
    ), "the replicas share one evidence volume"
    # nginx: the upstreams are the replicas on their http.port; it listens where compose and the edge say
    nginx = (DOCKER / "nginx.conf").read_text(encoding="utf-8")
    assert re.findall(r"server (\S+):(\d+)", nginx) == [
        ("center-1", str(c1.http.port)),
        ("center-2", str(c2.http.port)),
    ]
    (listen,) = re.findall(r"listen (\d+);", nginx)
    proxy = SERVICES["proxy"]
    assert [p.split(":")[-1] for p in proxy["ports"]] == [listen]
    assert urlsplit(edge.center.url).port == int(listen)
    mib = int(re.search(r"client_max_body_size (\d+)m;", nginx).group(1))  # type: ignore[union-attr]
    assert mib >= c1.http.limits.evidence_mib
    # the center believes X-Forwarded-For from the proxy's fixed address only
    address = ipaddress.ip_address(proxy["networks"]["site"]["ipv4_address"])
    subnet = ipaddress.ip_network(COMPOSE["networks"]["site"]["ipam"]["config"][0]["subnet"])
    assert address in subnet
    assert [str(n) for n in c1.security.trusted_proxies] == [f"{address}/32"]
    # MQTT: everyone on the broker's listener
    conf = (DOCKER / "mosquitto.conf").read_text(encoding="utf-8")
    (port,) = re.findall(r"^listener (\d+)", conf, re.M)
    assert c1.mqtt.port == c2.mqtt.port == edge.mqtt.port == int(port)
    assert SERVICES["mosquitto"]["ports"] == [f"127.0.0.1:{port}:{port}"]


def service_config_env(name: str) -> Any:
    with pytest.MonkeyPatch.context() as mp:
        for key in env_names(SERVICES[name]):
            mp.setenv(key, "dummy-value")
        return service_config(name)


def test_the_edge_image_has_what_its_config_needs(tmp_path: Path) -> None:
    """The compose edge config, its container paths mapped to what the image COPYs and compose
    mounts, passes the real ``parkguard-edge check`` (models, labels, face model, rules)."""
    svc = SERVICES["edge"]
    cfg_path = bind_mounts(svc)["/etc/parkguard/edge.yaml"]
    text = cfg_path.read_text(encoding="utf-8")
    for container in sorted(set(re.findall(r"(/opt/parkguard/\S+)", text))):
        src = host_path(svc, container)
        assert src is not None and src.exists(), f"{container}: neither COPYed nor mounted"
        text = text.replace(container, str(src))
    manifest = yaml.safe_load((REPO / "models/manifest.yaml").read_text(encoding="utf-8"))
    for entry in manifest["models"].values() if isinstance(manifest["models"], dict) else manifest["models"]:
        path = host_path(svc, f"/opt/parkguard/models/{entry['file']}")
        assert path is not None and path.is_file(), f"{entry['file']} not in the edge image"
    text = text.replace("/var/lib/parkguard", str(tmp_path / "state"))
    local = tmp_path / "edge.yaml"
    local.write_text(text, encoding="utf-8")
    assert edge_main(["check", "--config", str(local)]) == 0


@pytest.mark.e2e
def test_broker_accounts_let_the_compose_logins_in_a_real_mosquitto(tmp_path: Path) -> None:
    """The broker-accounts service's command (with its environment) writes the files that
    docker/mosquitto.conf names; a real Mosquitto with that config takes the edge's and the
    center's passwords, refuses anonymous clients, and holds the edge to its own topics."""
    svc = SERVICES["broker-accounts"]
    (argv,) = commands("broker-accounts", svc, None)
    out_container = argv[argv.index("--out") + 1]
    out = tmp_path / "auth"
    argv = [str(bind_mounts(svc).get(a, a)) for a in argv]
    argv[argv.index("--out") + 1] = str(out)
    env = {k: f"pw-{k.lower()}" for k in env_names(svc)}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / argv[0]), *argv[1:]],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert not (out / "credentials.env").exists(), "every password came from the environment"
    # the broker reads the files where the shared volume puts them
    vol = named_volumes(svc)[out_container]
    auth_dir = {v: d for d, v in named_volumes(SERVICES["mosquitto"]).items()}[vol]
    conf = (DOCKER / "mosquitto.conf").read_text(encoding="utf-8")
    assert f"password_file {auth_dir}/passwd" in conf and f"acl_file {auth_dir}/acl" in conf
    port = free_port()
    conf = conf.replace(auth_dir, str(out)).replace("/mosquitto/data/", str(tmp_path) + "/")
    conf = re.sub(r"^listener \d+ \S+", f"listener {port} 127.0.0.1", conf, flags=re.M)
    if os.geteuid() == 0:  # do not switch to user mosquitto, who cannot enter a pytest tmp folder
        conf = "user root\n" + conf  # (in the image its entrypoint gives it the volume's files)
    (tmp_path / "mosquitto.conf").write_text(conf, encoding="utf-8")
    with ManagedProcess(
        ["mosquitto", "-c", tmp_path / "mosquitto.conf"],
        name="broker",
        log_dir=tmp_path,
        ready_port=port,
    ):
        edge = service_config_env("edge")
        assert _login(port, None, None) != 0
        assert _login(port, edge.mqtt.username, "wrong") != 0
        assert _login(port, edge.mqtt.username, env["PARKGUARD_MQTT_PASSWORD_EDGE_01"]) == 0
        center = service_config_env("center-1")
        assert _login(port, center.mqtt.username, env["PARKGUARD_MQTT_PASSWORD"]) == 0
        # the ACL: the center reads the site's events; the edge's own arrive, another node's do not
        got: list[str] = []
        sub = _client(port, center.mqtt.username, env["PARKGUARD_MQTT_PASSWORD"])
        sub.on_message = lambda c, u, m: got.append(m.topic)
        sub.subscribe(f"parkguard/v1/{edge.site}/+/event", qos=1)
        pub = _client(port, edge.mqtt.username, env["PARKGUARD_MQTT_PASSWORD_EDGE_01"])
        time.sleep(0.5)
        pub.publish(f"parkguard/v1/{edge.site}/edge-99/event", b"{}", qos=1).wait_for_publish(5)
        pub.publish(f"parkguard/v1/{edge.site}/{edge.node}/event", b"{}", qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        for c in (sub, pub):
            c.loop_stop()
            c.disconnect()
        assert got == [f"parkguard/v1/{edge.site}/{edge.node}/event"]


def _client(port: int, user: str | None, password: str | None) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{free_port()}")
    client.username_pw_set(user, password)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def _login(port: int, user: str | None, password: str | None) -> int:
    """The CONNACK reason (0: accepted)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{free_port()}")
    if user is not None:
        client.username_pw_set(user, password)
    result: list[int] = []
    client.on_connect = lambda c, u, f, rc, p: result.append(rc.value)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for _ in range(100):
            if result:
                break
            time.sleep(0.05)
    finally:
        client.loop_stop()
        client.disconnect()
    assert result, "no CONNACK"
    return result[0]
