"""Center config loading: clear one-line errors, paths relative to the config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from center.config import load_config
from common.configfile import ConfigError

GOOD = """\
site: yijia
site_name: 毅佳工业园
timezone: Asia/Shanghai
database: {url: "sqlite:///var/center.db"}
mqtt: {host: 127.0.0.1, port: 1883, username: null, password_env: null, client_id: parkguard-center,
       shared_group: center, keepalive: 30}
http: {host: 127.0.0.1, port: 8080}
evidence_dir: var/evidence
"""


def write(tmp_path: Path, text: str, name: str = "center.yaml") -> Path:
    path = tmp_path / "configs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_good_config_and_relative_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, GOOD)
    monkeypatch.chdir("/")  # the working directory does not matter
    config = load_config(path)
    assert config.site_name == "毅佳工业园"
    assert config.database.url == f"sqlite:///{tmp_path / 'configs' / 'var' / 'center.db'}"
    assert config.evidence_dir == tmp_path / "configs" / "var" / "evidence"
    assert config.mqtt.port == 1883 and config.mqtt.password() is None


def test_absolute_and_postgres_urls_are_kept(tmp_path: Path) -> None:
    text = GOOD.replace("sqlite:///var/center.db", "sqlite:////srv/pg/center.db")
    assert load_config(write(tmp_path, text)).database.url == "sqlite:////srv/pg/center.db"
    url = "postgresql+psycopg://parkguard@db.local/parkguard"
    assert load_config(write(tmp_path, GOOD.replace("sqlite:///var/center.db", url))).database.url == url


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("port: 1883", "port: abc", "mqtt.port: Input should be a valid integer"),
        ("port: 8080", "port: 70000", "http.port: Input should be less than or equal to 65535"),
        ("keepalive: 30", "keepalive: 30, qos: 2", "mqtt.qos: unknown key"),
        ("site: yijia", "site: 毅佳", "site: use 1–64 letters"),
        ("site: yijia\n", "", "site: Field required"),
        ("Asia/Shanghai", "Mars/Olympus", "timezone: unknown time zone 'Mars/Olympus'"),
        ("sqlite:///var/center.db", "mysql://x/y", "database.url: only sqlite:/// and postgresql+psycopg://"),
        ("sqlite:///var/center.db", "postgresql://x/y", "database.url: use the psycopg 3 driver"),
        ("password_env: null", "password_env: PG_NO_SUCH_VAR_X", "mqtt.password_env: environment variable"),
    ],
)
def test_errors_name_the_file_and_field(tmp_path: Path, old: str, new: str, message: str) -> None:
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = str(info.value)
    assert text.startswith(f"{path}: "), text
    assert message in text, text
    assert "\n" not in text


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: no such file"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r"not valid YAML \(line 3, column 1\): expected .,. or .\]."):
        load_config(write(tmp_path, "site: a\nmqtt: [1, 2\n"))
    with pytest.raises(ConfigError, match="expected a mapping of settings at the top level"):
        load_config(write(tmp_path, "- just\n- a list\n"))
    with pytest.raises(ConfigError, match=r"mqtt: Input should be a valid dictionary"):
        load_config(write(tmp_path, "site: a\nmqtt: 5\n"))


def test_several_errors_each_on_a_line(tmp_path: Path) -> None:
    path = write(tmp_path, "site: a\nmqtt: {port: x, keepalive: y}\nhttp: {port: z}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    lines = str(info.value).splitlines()
    assert [line.split(": ")[1] for line in lines] == ["mqtt.port", "mqtt.keepalive", "http.port"], lines
    assert all(line.startswith(f"{path}: ") for line in lines), lines


def test_many_errors_are_counted(tmp_path: Path) -> None:
    bad = "\n".join(f"  k{i}: 1" for i in range(8))
    with pytest.raises(ConfigError, match=r"\(and 3 more errors\)$"):
        load_config(write(tmp_path, f"site: a\nmqtt:\n{bad}\n"))


PG = 'site: yijia\ndatabase: {url: "postgresql+psycopg://parkguard@db:5432/parkguard", %s}\n'


def test_database_password_from_the_environment_or_a_secret_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from center.store.db import describe

    monkeypatch.setenv("PG_TEST_DB_PASSWORD", "s3cr/et@x")
    config = load_config(write(tmp_path, PG % "password_env: PG_TEST_DB_PASSWORD"))
    assert config.database.url == "postgresql+psycopg://parkguard:s3cr%2Fet%40x@db:5432/parkguard"
    assert "s3cr" not in describe(config.database.url)

    (tmp_path / "configs" / "db_password").write_text("from-a-file\n", encoding="utf-8")
    config = load_config(write(tmp_path, PG % "password_file: db_password"))  # relative to the config
    assert config.database.url == "postgresql+psycopg://parkguard:from-a-file@db:5432/parkguard"


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            "password_env: PG_TEST_UNSET",
            "database.password_env: environment variable PG_TEST_UNSET is not set",
        ),
        ("password_file: nowhere", "database.password_file:"),
        ("password_file: empty", "is empty"),
        ("password_env: X, password_file: empty", "give password_env or password_file, not both"),
    ],
)
def test_database_password_errors_are_clear(tmp_path: Path, setting: str, message: str) -> None:
    write(tmp_path, "", name="empty")
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, PG % setting))
    assert message in str(err.value) and "center.yaml" in str(err.value)
