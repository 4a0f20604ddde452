"""Remote configuration of an edge node: receive, validate, apply live, persist, report.

The center publishes a :class:`~protocol.NodeConfig` retained on the node's ``…/config``
topic. Its ``config`` holds top-level keys of the edge config file (usually ``cameras``);
each replaces the local file's value of that key, and the result is parsed exactly like the
file (relative paths against the file's folder). A version newer than the one running is
applied with :meth:`EdgeNode.apply_config` without a restart and written to
``state_dir/remote-config.json``, so a restart starts from it. A refused version (invalid,
or a setting that cannot change live) leaves the running config as it is. Either way the
node's retained status tells the center (``config_version``, ``config_rejected``,
``config_error``). Versions equal to or older than the running one are ignored: the broker
sends the retained config again at every reconnect.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from common.configfile import ConfigError, read_yaml
from edge.config.node import EdgeConfig, parse_edge_config
from protocol import NodeConfig, now_ms

if TYPE_CHECKING:
    from edge.node import EdgeNode

log = logging.getLogger("parkguard.edge.remote")

STATE_FILE = "remote-config.json"
# identity, the broker link and where state lives come from the local file only: a remote
# config that changed them could cut the node off from the center for good
LOCAL_ONLY = frozenset({"site", "node", "mqtt", "state_dir"})


class RemoteConfig:
    """The node's side of remote configuration; ``attach`` it to an :class:`EdgeNode`."""

    def __init__(self, config_path: Path, local: EdgeConfig) -> None:
        self.config_path = Path(config_path)
        self.base = self.config_path.resolve().parent
        data = read_yaml(self.config_path)
        self.local_data: dict[str, Any] = data if isinstance(data, dict) else {}
        self.site = local.site
        self.node_id = local.node
        self.state_file = local.state_dir / STATE_FILE
        self.applied_version: int | None = None
        self.rejected_version: int | None = None
        self.error: str | None = None
        self.node: EdgeNode | None = None
        self._cond = threading.Condition()
        self._pending: NodeConfig | None = None
        self._stopping = False
        self._worker: threading.Thread | None = None

    # -- building ---------------------------------------------------------------------------
    def build(self, body: Any, source: str) -> EdgeConfig:
        """The local file with ``body``'s top-level keys in place of its own, validated."""
        if not isinstance(body, dict):
            raise ConfigError(f"{source}: config: expected a mapping of top-level keys")
        forbidden = sorted(set(body) & LOCAL_ONLY)
        if forbidden:
            raise ConfigError(f"{source}: {', '.join(forbidden)}: can only be set in the node's local file")
        return parse_edge_config({**self.local_data, **body}, source, self.base)

    def initial_config(self, local: EdgeConfig) -> EdgeConfig:
        """What to start with: the persisted remote config on top of the local file, if any."""
        try:
            state = json.loads(self.state_file.read_text(encoding="utf-8"))
            version, body = int(state["version"]), state["config"]
        except FileNotFoundError:
            return local
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("%s: unreadable (%s); starting from the local config", self.state_file, exc)
            return local
        try:
            cfg = self.build(body, f"remote config v{version} (persisted)")
        except ConfigError as exc:
            self.rejected_version, self.error = version, str(exc)
            log.error("persisted remote config v%d does not fit the local file any more: %s", version, exc)
            return local
        self.applied_version = version
        log.info("starting with remote config v%d from %s", version, self.state_file)
        return cfg

    # -- wiring -------------------------------------------------------------------------------
    def attach(self, node: EdgeNode) -> None:
        """Report through the node's publisher and take configs from it (before ``node.run()``)."""
        self.node = node
        self._report()
        node.publisher.on_config = self.receive
        self._worker = threading.Thread(target=self._work, name="remote-config", daemon=True)
        self._worker.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._worker is not None:
            self._worker.join(5)

    def receive(self, payload: bytes) -> None:
        """A message on the config topic (paho's network thread: check and queue only)."""
        if not payload:
            return  # the retained config was cleared: keep running what we have
        try:
            msg = NodeConfig.model_validate_json(payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(message)"
            log.error("remote config message refused: %s: %s", where, first["msg"])
            return
        if (msg.site, msg.node) != (self.site, self.node_id):
            log.error(
                "remote config v%d is for %s/%s, not this node %s/%s; ignored",
                msg.version, msg.site, msg.node, self.site, self.node_id,
            )  # fmt: skip
            return
        if self.applied_version is not None and msg.version <= self.applied_version:
            log.info("remote config v%d ignored: v%d is running", msg.version, self.applied_version)
            return
        with self._cond:
            self._pending = msg  # a newer one arriving before this is applied replaces it
            self._cond.notify_all()

    def _work(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopping or self._pending is not None)
                if self._stopping:
                    return
                msg, self._pending = self._pending, None
            assert msg is not None
            if self.applied_version is not None and msg.version <= self.applied_version:
                continue
            try:
                self.apply(msg)
            except Exception:
                log.exception("remote config v%d: unexpected failure", msg.version)

    # -- applying -----------------------------------------------------------------------------
    def apply(self, msg: NodeConfig) -> bool:
        """Validate, apply live and persist ``msg``; False (old config kept) when refused."""
        assert self.node is not None, "attach() first"
        source = f"remote config v{msg.version}"
        tmp = self.state_file.with_name(self.state_file.name + ".tmp")
        try:
            new = self.build(msg.config, source)
            self._write(tmp, msg)
            self.node.apply_config(new)
        except Exception as exc:
            tmp.unlink(missing_ok=True)
            reason = str(exc) if isinstance(exc, ConfigError) else f"{source}: {type(exc).__name__}: {exc}"
            self.rejected_version, self.error = msg.version, reason
            log.error("%s refused; the running config stays: %s", source, reason)
            self._report()
            return False
        try:
            os.replace(tmp, self.state_file)
        except OSError as exc:  # running, but a restart would go back to the previous one
            log.error("%s applied but not persisted to %s: %s", source, self.state_file, exc)
        self.applied_version, self.rejected_version, self.error = msg.version, None, None
        log.info("%s applied (set by %s)", source, msg.by or "?")
        self._report()
        return True

    def _write(self, tmp: Path, msg: NodeConfig) -> None:
        tmp.parent.mkdir(parents=True, exist_ok=True)
        state = {"version": msg.version, "config": msg.config, "ts_ms": msg.ts_ms, "applied_ms": now_ms()}
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(state, fh, ensure_ascii=False)
            fh.flush()
            os.fsync(fh.fileno())

    def _report(self) -> None:
        assert self.node is not None
        pub = self.node.publisher
        pub.config_version = self.applied_version
        pub.config_rejected = self.rejected_version
        pub.config_error = self.error
        pub.publish_status()  # not connected: the next birth carries it
