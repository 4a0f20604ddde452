"""``parkguard-center demo``: broker + center + one edge node on the bundled footage, one command.

Everything runs on this machine with embedded defaults: SQLite, a private broker (Mosquitto
when installed, else amqtt in-process), the sample clip looping as a camera. Ctrl-C stops
all of it. Logs go to ``var/demo/logs/``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

from center.broker import mosquitto_binary, start_mosquitto
from center.config import CenterConfig, load_config
from common.configfile import ConfigError

REPO = Path(__file__).resolve().parent.parent


def _say(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def _wait(what: str, check, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}; see {log}:\n{_tail(log)}")
        if check():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready after {timeout:.0f} s; see {log}:\n{_tail(log)}")


def _tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


# how long each part may take to stop: the edge drains its clips, uploads and outbox first
STOP_S = {"edge": 30.0, "center": 10.0, "broker": 5.0}


class Demo:
    def __init__(self, center_cfg: Path, edge_cfg: Path, workdir: Path, broker: str) -> None:
        self.center_cfg_path = center_cfg
        self.edge_cfg_path = edge_cfg
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.broker_kind = broker
        self.procs: list[tuple[str, subprocess.Popen, Path]] = []

    def _spawn(
        self, name: str, argv: list[str], extra_env: dict[str, str] | None = None
    ) -> tuple[subprocess.Popen, Path]:
        log = self.logs / f"{name}.log"
        fh = log.open("ab")
        env = dict(os.environ, PYTHONUNBUFFERED="1", **(extra_env or {}))
        proc = subprocess.Popen(
            argv, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True
        )
        self.procs.append((name, proc, log))
        return proc, log

    def start(self) -> str:
        self.logs.mkdir(parents=True, exist_ok=True)
        cfg = load_config(self.center_cfg_path)
        host, port = cfg.mqtt.host, cfg.mqtt.port
        if _port_open(host, port):
            raise RuntimeError(f"port {host}:{port} (the demo broker's) is already in use; stop what uses it")
        if _port_open(cfg.http.host or "127.0.0.1", cfg.http.port):
            raise RuntimeError(f"port {cfg.http.port} (the demo web console's) is already in use")

        use_mosquitto = self.broker_kind == "mosquitto" or (self.broker_kind == "auto" and mosquitto_binary())
        center_cfg = self.center_cfg_path
        if use_mosquitto:
            _say(f"starting Mosquitto on {host}:{port}")
            log = self.logs / "broker.log"
            proc = start_mosquitto(self.workdir / "broker", host, port, log)
            self.procs.append(("broker", proc, log))
        else:
            _say(f"starting the embedded broker (amqtt) on {host}:{port}")
            proc, log = self._spawn(
                "broker", [sys.executable, "-m", "center.cli", "broker", "--host", host, "--port", str(port)]
            )
            # amqtt speaks MQTT 3.1.1 without $share: give the center a plain subscription.
            raw = yaml.safe_load(self.center_cfg_path.read_text(encoding="utf-8"))
            raw.setdefault("mqtt", {})["shared_group"] = None
            for key in ("url",):
                db = raw.get("database", {}).get(key, "")
                if db.startswith("sqlite:///") and not db.startswith("sqlite:////"):
                    raw["database"][key] = "sqlite:///" + str(
                        (self.center_cfg_path.parent / db[10:]).resolve()
                    )
            if "evidence_dir" in raw and not Path(raw["evidence_dir"]).is_absolute():
                raw["evidence_dir"] = str((self.center_cfg_path.parent / raw["evidence_dir"]).resolve())
            center_cfg = self.workdir / "center-amqtt.yaml"
            center_cfg.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
        _wait("broker", lambda: _port_open(host, port), proc, log, 15)

        self._start_mailboxes(cfg)

        _say("seeding the demo park (enterprises, cameras, users, 30 days of history)")
        seeded = _center_cli(["seed", "--config", str(center_cfg)], "seeding", 300)
        for line in seeded.splitlines():
            _say(line.strip())

        _say("starting the control center")
        http_host = cfg.http.host if cfg.http.host not in ("0.0.0.0", "::") else "127.0.0.1"
        url = f"http://{http_host}:{cfg.http.port}/"
        proc, log = self._spawn(
            "center", [sys.executable, "-m", "center.cli", "serve", "--config", str(center_cfg)]
        )
        _wait("center", lambda: _http_ok(url + "api/health"), proc, log, 60)

        # the seeded machine account edge-01 gets a token for its evidence uploads (snapshots, clips)
        token = _center_cli(
            ["user", "token", "--config", str(center_cfg), "--username", "edge-01", "--days", "7"],
            "an upload token for edge-01",
            60,
        )

        _say("starting edge node edge-01 on the sample footage (samples/vtest-walkway.mp4)")
        proc, log = self._spawn(
            "edge",
            [sys.executable, "-m", "edge.cli", "run", "--config", str(self.edge_cfg_path)],
            {"PARKGUARD_EDGE_TOKEN": token.strip()},
        )
        time.sleep(1.0)
        if proc.poll() is not None:
            raise RuntimeError(f"edge exited with code {proc.returncode}; see {log}:\n{_tail(log)}")
        return url

    def _start_mailboxes(self, cfg: CenterConfig) -> None:
        """The demo's e-mail channels on this machine get a mailbox (aiosmtpd) that keeps each mail
        in var/demo/mail, so the notifications are delivered offline and can be read."""
        ports = {
            ch.smtp.port
            for ch in cfg.notify.channels
            if ch.smtp is not None and ch.smtp.host in ("127.0.0.1", "localhost")
        }
        for port in sorted(ports):
            if _port_open("127.0.0.1", port):
                raise RuntimeError(f"port 127.0.0.1:{port} (the demo mailbox's) is already in use")
            folder = self.workdir / "mail"
            _say(f"starting the demo mailbox (SMTP) on 127.0.0.1:{port}: notification e-mails go to {folder}")
            proc, log = self._spawn(
                f"mailbox-{port}" if len(ports) > 1 else "mailbox",
                [sys.executable, "-m", "center.cli", "mailbox", "--port", str(port), "--dir", str(folder)],
            )
            _wait("mailbox", lambda p=port: _port_open("127.0.0.1", p), proc, log, 15)

    def watch(self) -> None:
        while True:
            for name, proc, log in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"{name} stopped unexpectedly (code {proc.returncode}); see {log}:\n{_tail(log)}"
                    )
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop the parts one after another, the edge first: its last events and uploads still
        reach the center and the broker, which stop only once it is gone."""
        for name, proc, _log in reversed(self.procs):
            if proc.poll() is not None:
                continue
            if name == "edge":
                _say("stopping the edge node first (its last clips, uploads and events) …")
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_S.get(name, 10.0))
            except subprocess.TimeoutExpired:
                _say(f"{name} did not stop in time; killing it")
                proc.kill()
                proc.wait()


def _center_cli(args: list[str], what: str, timeout: float) -> str:
    """Run a ``parkguard-center`` command to its end; its standard output, or RuntimeError."""
    done = subprocess.run(
        [sys.executable, "-m", "center.cli", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def main(ns: argparse.Namespace | None = None) -> int:
    p = argparse.ArgumentParser(prog="parkguard-center demo")
    p.add_argument("--edge-config", type=Path, default=REPO / "configs" / "demo-edge.yaml")
    p.add_argument("--broker", choices=["auto", "mosquitto", "amqtt"], default="auto")
    p.add_argument("--workdir", type=Path, default=REPO / "var" / "demo")
    args = p.parse_args(getattr(ns, "extra", None))
    center_cfg = Path(getattr(ns, "config", None) or REPO / "configs" / "demo-center.yaml")
    demo = Demo(center_cfg, args.edge_config, args.workdir, args.broker)
    stopping = False

    def _sigterm(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _sigterm)
    # Ctrl-C must stop the demo even when it was started with SIGINT ignored (a background job)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        url = demo.start()
        _say(f"ready: open {url}  (alerts appear within seconds; Ctrl-C stops everything)")
        _say("log in as operator / operator-demo (other demo users: README); 企业风险 is the risk map")
        _say(f"logs: {demo.logs}")
        if (demo.workdir / "mail").exists():
            _say(f"notification e-mails: {demo.workdir / 'mail'} (subjects in {demo.logs / 'mailbox.log'})")
        demo.watch()
    except KeyboardInterrupt:
        stopping = True
        _say("stopping …")
        return 0
    except (RuntimeError, ConfigError, OSError) as exc:
        _say(f"error: {exc}")
        return 1
    finally:
        demo.stop()
        if stopping:
            _say("stopped")
    return 0
