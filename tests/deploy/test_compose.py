"""The deployment files read as a whole: compose, the GPU override, Dockerfiles, nginx, .env.example.

Docker is not needed: the files are parsed and checked against each other and against the
Django settings, so a renamed variable or a missing mount fails here instead of at `up`.
Run without Django: ``pytest tests/deploy/test_compose.py -p no:django``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from trainer.allocator import MODEL_PROCESS_TUNABLES

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"db", "redis", "api", "worker", "trainer", "web"}
PYTHON_SERVICES = ("api", "worker", "trainer")
GPU_SERVICES = {"worker", "trainer"}


class _ComposeLoader(yaml.SafeLoader):
    """YAML with Compose's own tags: ``!reset`` and ``!override`` read as their plain value."""


def _plain(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    assert isinstance(node, yaml.ScalarNode)
    return loader.construct_scalar(node)


for _tag in ("!reset", "!override"):
    _ComposeLoader.add_constructor(_tag, _plain)


def _load(name: str) -> dict[str, Any]:
    data = yaml.load((ROOT / name).read_text(), Loader=_ComposeLoader)  # a SafeLoader: no Python objects
    assert isinstance(data, dict), f"{name} is not a YAML mapping"
    return data


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load("docker-compose.yml")


@pytest.fixture(scope="module")
def gpu_override() -> dict[str, Any]:
    return _load("docker-compose.gpu.yml")


@pytest.fixture(scope="module")
def worker_host() -> dict[str, Any]:
    return _load("docker-compose.worker.yml")


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return _env_example_names()


@pytest.fixture(scope="module")
def nginx_conf() -> str:
    return _strip_comments((ROOT / "web/nginx/nginx.conf").read_text())


# ---- helpers -------------------------------------------------------------------------------

ENV_LINE = re.compile(r"^(?:#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")


def _env_example_names() -> dict[str, str]:
    """NAME -> value for ``NAME=value`` lines and for ``# NAME=value`` (left at its default)."""
    names: dict[str, str] = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = ENV_LINE.match(line.strip())
        if match:
            names[match.group(1)] = match.group(2)
    return names


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _compose_variables(data: dict[str, Any]) -> set[str]:
    """Names compose interpolates (``${X}``, ``${X:-d}``, ``$X``); ``$$`` is a literal dollar."""
    found: set[str] = set()
    for text in _strings(data):
        found.update(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", text.replace("$$", "")))
    return found


def _mounts(service: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """Mount target -> (source, read_only) for short and long volume syntax."""
    mounts: dict[str, tuple[str, bool]] = {}
    for entry in service.get("volumes", []):
        if isinstance(entry, dict):
            mounts[entry["target"]] = (str(entry.get("source", "")), bool(entry.get("read_only")))
            continue
        parts = entry.split(":")
        source, target = parts[0], parts[1]
        mode = parts[2] if len(parts) > 2 else "rw"
        mounts[target] = (source, "ro" in mode.split(","))
    return mounts


def _named_mount(service: dict[str, Any], volume: str) -> tuple[str, bool]:
    """(target, read_only) where the named volume is mounted in the service."""
    for target, (source, read_only) in _mounts(service).items():
        if source == volume:
            return target, read_only
    raise AssertionError(f"volume {volume!r} is not mounted")


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def _command(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def _option(args: list[str], *names: str) -> str:
    for index, arg in enumerate(args):
        if arg in names:
            return args[index + 1]
        for name in names:
            if name.startswith("--") and arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    raise AssertionError(f"none of {names} in {args}")


def _strip_comments(text: str) -> str:
    return "\n".join(
        line.split("#", 1)[0] if not line.lstrip().startswith("#") else "" for line in text.splitlines()
    )


def _dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with comments dropped and continuation lines joined."""
    lines = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    instructions = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, args = line.strip().partition(" ")
            instructions.append((keyword.upper(), args.strip()))
    return instructions


def _dockerfile(compose: dict[str, Any], service: str) -> Path:
    build = compose["services"][service]["build"]
    return ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")


def _installs(dockerfile: Path) -> str:
    return " ".join(args for keyword, args in _dockerfile_instructions(dockerfile) if keyword == "RUN")


def _requirement_names(name: str) -> set[str]:
    lines = (ROOT / name).read_text().splitlines()
    return {
        re.split(r"[<>=!~\[; ]", line.strip(), maxsplit=1)[0].lower()
        for line in lines
        if line.strip()[:1].isalnum()
    }


def _nginx_location(conf: str, path: str) -> str:
    match = re.search(r"location\s+(?:=\s*|\^~\s*)?" + re.escape(path) + r"\s*\{([^}]*)\}", conf)
    assert match, f"nginx.conf has no location {path}"
    return match.group(1)


def _nginx_size_bytes(value: str) -> int:
    units = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
    match = re.fullmatch(r"(\d+)([kmg]?)", value.lower())
    assert match, f"unreadable nginx size {value!r}"
    return int(match.group(1)) * units[match.group(2)]


# ---- services ------------------------------------------------------------------------------


def test_compose_defines_all_six_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == SERVICES


def test_every_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        test = service.get("healthcheck", {}).get("test")
        assert test and test != ["NONE"], f"{name} has no healthcheck"


def test_services_wait_for_the_health_of_what_they_need(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, needs in {
        "api": {"db", "redis"},
        "worker": {"db", "redis"},
        "trainer": {"db", "redis"},
        "web": {"api"},
    }.items():
        depends = services[name]["depends_on"]
        for need in needs:
            assert depends[need]["condition"] == "service_healthy", f"{name} does not wait for healthy {need}"


def test_worker_consumes_the_tagging_queue_and_trainer_the_training_queue(compose: dict[str, Any]) -> None:
    worker = _command(compose["services"]["worker"])
    trainer = _command(compose["services"]["trainer"])
    assert worker[:4] == ["celery", "-A", "api", "worker"]
    assert trainer[:4] == ["celery", "-A", "api", "worker"]
    assert "tagging" in _option(worker, "-Q", "--queues").split(",")
    assert _option(trainer, "-Q", "--queues").split(",") == ["training"]
    # The tagging worker sizes its own pool (a process per core on a CPU, one on a GPU); the
    # trainer runs one training at a time.
    assert not any(arg in {"-c", "--concurrency"} or arg.startswith("--concurrency=") for arg in worker)
    assert _option(trainer, "--concurrency", "-c") == "1"
    assert "--beat" in trainer or "-B" in trainer, "the trainer runs the periodic schedule"


def test_celery_healthchecks_ping_the_node_names_the_workers_start_with(compose: dict[str, Any]) -> None:
    for name in GPU_SERVICES:
        service = compose["services"][name]
        node = _option(_command(service), "-n", "--hostname")
        assert node == f"{name}@%h"
        test = " ".join(service["healthcheck"]["test"])
        # In compose $$ is a literal $, so the container's shell expands HOSTNAME (what %h is).
        assert f"-d {name}@$$HOSTNAME" in test, test


def test_api_migrates_collects_static_and_serves_with_gunicorn(compose: dict[str, Any]) -> None:
    command = " ".join(_command(compose["services"]["api"]))
    steps = [
        "manage.py migrate --noinput",
        "manage.py collectstatic --noinput",
        "gunicorn api.wsgi:application",
    ]
    positions = [command.find(step) for step in steps]
    assert -1 not in positions and positions == sorted(positions), command
    assert "--bind 0.0.0.0:8000" in command
    assert "http://127.0.0.1:8000/healthz" in " ".join(compose["services"]["api"]["healthcheck"]["test"])


# ---- volumes -------------------------------------------------------------------------------


def test_named_volumes_pgdata_shared_fs_and_static_are_declared(compose: dict[str, Any]) -> None:
    assert {"pgdata", "shared_fs", "static"} <= set(compose["volumes"])


def test_every_named_volume_a_service_mounts_is_declared(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for source, _ in _mounts(service).values():
            if not source.startswith((".", "/")):
                assert source in compose["volumes"], f"{name} mounts undeclared volume {source!r}"


def test_database_keeps_its_data_in_the_pgdata_volume(compose: dict[str, Any]) -> None:
    db = compose["services"]["db"]
    assert _named_mount(db, "pgdata") == ("/var/lib/postgresql/data", False)
    assert _mounts(db)["/docker-entrypoint-initdb.d"][0] == "./db/init"


def test_python_services_write_photos_where_settings_say(compose: dict[str, Any]) -> None:
    for name in PYTHON_SERVICES:
        service = compose["services"][name]
        target, read_only = _named_mount(service, "shared_fs")
        assert not read_only, f"{name} must write to shared_fs"
        assert target == _environment(service)["SHARED_FS"]


def test_api_collects_static_files_into_the_static_volume(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]
    assert _named_mount(api, "static") == (_environment(api)["STATIC_ROOT"], False)


def test_web_reads_static_and_photo_volumes_read_only_where_nginx_looks(
    compose: dict[str, Any], nginx_conf: str
) -> None:
    web = compose["services"]["web"]
    static_target, static_ro = _named_mount(web, "static")
    photos_target, photos_ro = _named_mount(web, "shared_fs")
    assert static_ro and photos_ro
    assert f"alias {static_target.rstrip('/')}/;" in _nginx_location(nginx_conf, "/static/")
    assert f"alias {photos_target.rstrip('/')}/;" in _nginx_location(nginx_conf, "/protected/")
    assert _mounts(web)["/etc/nginx/nginx.conf"][0] == "./web/nginx/nginx.conf"


def test_web_publishes_a_port(compose: dict[str, Any]) -> None:
    ports = compose["services"]["web"].get("ports", [])
    assert ports, "web publishes no port"
    assert any(str(port).endswith(":80") for port in ports)
    others = [name for name, service in compose["services"].items() if name != "web" and service.get("ports")]
    assert others == [], "only nginx faces the outside"


def test_bind_mounted_files_exist(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for source, _ in _mounts(service).values():
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


# ---- environment ---------------------------------------------------------------------------


def test_python_services_share_one_environment_and_an_optional_dotenv(compose: dict[str, Any]) -> None:
    envs = [_environment(compose["services"][name]) for name in PYTHON_SERVICES]
    assert envs[0] == envs[1] == envs[2]
    env = envs[0]
    assert env["DATABASE_URL"].startswith("postgres://") and "@db:5432/" in env["DATABASE_URL"]
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert env["SERVE_FILES_WITH_NGINX"] == "1"
    assert env["DEBUG"] == "0"
    # Empty when unset, so compose's own commands (logs, down) work without a .env; Django then
    # refuses to start without it (tests/deploy/test_settings.py).
    assert env["SECRET_KEY"] == "${SECRET_KEY:-}"
    for name in PYTHON_SERVICES:
        assert compose["services"][name]["env_file"] == [{"path": ".env", "required": False}]


def test_every_compose_variable_is_listed_in_env_example(
    compose: dict[str, Any],
    gpu_override: dict[str, Any],
    worker_host: dict[str, Any],
    env_example: dict[str, str],
) -> None:
    used = _compose_variables(compose) | _compose_variables(gpu_override) | _compose_variables(worker_host)
    assert used, "the variable scan found nothing; the regex is broken"
    assert used - set(env_example) == set()


def test_every_environment_variable_the_django_code_reads_is_listed_in_env_example(
    env_example: dict[str, str],
) -> None:
    readers = re.compile(r"env_(?:str|bool|int|list|rate|choice|float)\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']")
    direct = re.compile(r"os\.(?:environ\.get\(|environ\[|getenv\()\s*[\"']([A-Z][A-Z0-9_]*)[\"']")
    read: set[str] = set()
    for path in (ROOT / "api").rglob("*.py"):
        text = path.read_text()
        read.update(readers.findall(text))
        read.update(direct.findall(text))
    assert {"DEBUG", "SECRET_KEY", "DATABASE_URL"} <= read, "the settings scan found too little"
    assert read - set(env_example) == set()


def test_every_env_example_variable_says_what_it_does_in_a_comment_above(env_example: dict[str, str]) -> None:
    lines = (ROOT / ".env.example").read_text().splitlines()
    for index, line in enumerate(lines):
        match = ENV_LINE.match(line.strip())
        if match:
            above = lines[index - 1].strip() if index else ""
            assert above.startswith("#") and not ENV_LINE.match(above), (
                f"{match.group(1)} has no comment above"
            )
            block = []
            for previous in reversed(lines[:index]):
                if not previous.startswith("#"):
                    break
                block.append(previous)
            assert "Default" in " ".join(block), f"{match.group(1)} does not say its default"


def test_env_example_keeps_secrets_empty(env_example: dict[str, str]) -> None:
    for name in ("SECRET_KEY", "ADMIN_PASSWORD", "POSTGRES_PASSWORD"):
        assert env_example[name] == "", f"{name} must not ship a value"


# ---- images --------------------------------------------------------------------------------


def test_every_build_context_and_dockerfile_exists(compose: dict[str, Any]) -> None:
    built = [name for name, service in compose["services"].items() if "build" in service]
    assert set(built) == set(PYTHON_SERVICES)
    for name in built:
        build = compose["services"][name]["build"]
        assert (ROOT / build["context"]).is_dir(), f"{name}: no context {build['context']}"
        assert _dockerfile(compose, name).is_file(), f"{name}: no {build['dockerfile']}"


def test_worker_and_trainer_run_the_same_ml_image(compose: dict[str, Any]) -> None:
    worker, trainer = compose["services"]["worker"], compose["services"]["trainer"]
    assert worker["build"] == trainer["build"]
    assert worker.get("image") == trainer.get("image")
    assert _dockerfile(compose, "worker") != _dockerfile(compose, "api")


def test_api_image_installs_no_torch_while_the_ml_image_does(compose: dict[str, Any]) -> None:
    api = _installs(_dockerfile(compose, "api"))
    ml = _installs(_dockerfile(compose, "worker"))
    assert "pip install -r requirements.txt" in api
    assert "requirements-ml.txt" not in api and "torch" not in api
    assert "requirements-ml.txt" in ml
    assert "torch" in _requirement_names("requirements-ml.txt")
    assert "torch" not in _requirement_names("requirements.txt")


def test_the_ml_image_starts_its_processes_with_the_model_allocator_settings(compose: dict[str, Any]) -> None:
    def env_of(service: str) -> dict[str, str]:
        pairs = [
            pair.split("=", 1)
            for keyword, args in _dockerfile_instructions(_dockerfile(compose, service))
            if keyword == "ENV"
            for pair in shlex.split(args)
        ]
        return dict(pairs)  # type: ignore[arg-type]

    assert env_of("worker")["GLIBC_TUNABLES"] == MODEL_PROCESS_TUNABLES
    assert "GLIBC_TUNABLES" not in env_of("api")
    for service in ("worker", "trainer"):
        assert "GLIBC_TUNABLES" not in compose["services"][service].get("environment", {})


def test_every_path_the_dockerfiles_copy_exists(compose: dict[str, Any]) -> None:
    for name in ("api", "worker"):
        dockerfile = _dockerfile(compose, name)
        for keyword, args in _dockerfile_instructions(dockerfile):
            if keyword in {"COPY", "ADD"}:
                sources = [part for part in args.split() if not part.startswith("--")][:-1]
                for source in sources:
                    assert (ROOT / source).exists(), f"{dockerfile.name} copies missing {source}"


def test_images_run_as_a_non_root_user(compose: dict[str, Any]) -> None:
    for name in ("api", "worker"):
        users = [
            args
            for keyword, args in _dockerfile_instructions(_dockerfile(compose, name))
            if keyword == "USER"
        ]
        assert users and users[-1] not in {"root", "0"}


# ---- GPU override --------------------------------------------------------------------------


def test_gpu_override_reserves_nvidia_devices_for_worker_and_trainer_only(
    compose: dict[str, Any], gpu_override: dict[str, Any]
) -> None:
    assert set(gpu_override["services"]) == GPU_SERVICES
    for name in GPU_SERVICES:
        service = gpu_override["services"][name]
        devices = service["deploy"]["resources"]["reservations"]["devices"]
        assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
        assert _environment(service)["NVIDIA_VISIBLE_DEVICES"] == "all"
    for name, service in compose["services"].items():
        assert "deploy" not in service, f"the default stack must run without a GPU ({name})"


def test_gpu_override_documents_how_to_use_it() -> None:
    head = (ROOT / "docker-compose.gpu.yml").read_text().splitlines()[:5]
    assert any("docker compose -f docker-compose.yml -f docker-compose.gpu.yml up" in line for line in head)


# ---- nginx ---------------------------------------------------------------------------------


def test_nginx_serves_photo_files_only_through_an_internal_location(nginx_conf: str) -> None:
    protected = _nginx_location(nginx_conf, "/protected/")
    assert re.search(r"^\s*internal;", protected, re.MULTILINE)
    # No other location may reach the photo volume, or originals would skip the permission check.
    assert nginx_conf.count("/srv/shared_fs") == 1


def test_nginx_proxies_everything_else_to_the_api_with_forwarded_headers(nginx_conf: str) -> None:
    assert "proxy_pass http://api:8000;" in _nginx_location(nginx_conf, "/")
    assert "proxy_pass http://api:8000;" in _nginx_location(nginx_conf, "/healthz")
    outside_locations = re.sub(r"location[^{]*\{[^}]*\}", "", nginx_conf)
    for header in ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"):
        assert f"proxy_set_header {header} " in outside_locations, header
    assert "proxy_read_timeout" in outside_locations
    # A location with its own proxy_set_header would silently drop the server-level ones.
    for block in re.findall(r"location[^{]*\{([^}]*)\}", nginx_conf):
        assert "proxy_set_header" not in block and "proxy_hide_header" not in block


def test_nginx_accepts_bodies_larger_than_the_upload_limit(
    nginx_conf: str, env_example: dict[str, str]
) -> None:
    match = re.search(r"client_max_body_size\s+(\w+);", nginx_conf)
    assert match
    assert _nginx_size_bytes(match.group(1)) > int(env_example["MAX_UPLOAD_BYTES"])


def test_nginx_sends_security_headers_on_every_response(nginx_conf: str) -> None:
    for header in ("X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options", "Content-Security-Policy"):
        assert re.search(rf"add_header {header} .* always;", nginx_conf), header
    # add_header in a location would replace the server's headers for that location.
    for block in re.findall(r"location[^{]*\{([^}]*)\}", nginx_conf):
        assert "add_header" not in block
    csp = re.search(r'add_header Content-Security-Policy "([^"]*)"', nginx_conf)
    assert csp
    policy = dict((part.split()[0], part.split()[1:]) for part in csp.group(1).split(";") if part.strip())
    assert policy["script-src"] == ["'self'"]
    assert "'unsafe-inline'" not in policy.get("default-src", [])


def test_nginx_braces_balance(nginx_conf: str) -> None:
    assert nginx_conf.count("{") == nginx_conf.count("}")
    assert re.search(r"^events\s*\{", nginx_conf, re.MULTILINE) and re.search(
        r"^http\s*\{", nginx_conf, re.MULTILINE
    )


def test_database_init_enables_trigram_search_and_pgvector() -> None:
    sql = (ROOT / "db/init/01-extensions.sql").read_text()
    assert "CREATE EXTENSION IF NOT EXISTS pg_trgm;" in sql
    assert "CREATE EXTENSION IF NOT EXISTS vector;" in sql


# ---- secure defaults -----------------------------------------------------------------------


def test_only_nginx_is_reachable_from_outside_the_stack(compose: dict[str, Any]) -> None:
    # The database, Redis and gunicorn publish no port: every request passes nginx's headers and
    # every photo file Django's permission check.
    published = {name for name, service in compose["services"].items() if service.get("ports")}
    assert published == {"web"}


def test_nginx_reaches_the_photo_volume_only_through_the_internal_location(
    compose: dict[str, Any], nginx_conf: str
) -> None:
    photos_target, _ = _named_mount(compose["services"]["web"], "shared_fs")
    locations = re.findall(r"location\s+([^{]+?)\s*\{([^}]*)\}", nginx_conf)
    serving_photos = [path for path, block in locations if photos_target.rstrip("/") in block]
    assert serving_photos == ["/protected/"]
    assert "autoindex on" not in nginx_conf
    # The static folder is a different volume: an original can never be fetched as a static file.
    static_target, _ = _named_mount(compose["services"]["web"], "static")
    assert not static_target.startswith(photos_target) and not photos_target.startswith(static_target)


def test_python_services_run_without_debug_and_with_secure_cookies_by_default(
    compose: dict[str, Any], env_example: dict[str, str]
) -> None:
    env = _environment(compose["services"]["api"])
    assert env["DEBUG"] == "0"
    assert env["SECURE_COOKIES"] == "${SECURE_COOKIES:-1}"
    assert "SECURE_COOKIES" in env_example


# ---- more than one machine (docs/deployment.md) ----------------------------------------------


def test_a_worker_host_runs_the_main_files_worker_against_the_main_hosts_servers(
    worker_host: dict[str, Any],
) -> None:
    worker = worker_host["services"]["worker"]
    assert worker["extends"] == {"file": "docker-compose.yml", "service": "worker"}
    # Its own servers would be a second site: it must name the main host's, or not start.
    assert worker["environment"]["DATABASE_URL"].startswith("${DATABASE_URL:?")
    assert worker["environment"]["REDIS_URL"].startswith("${REDIS_URL:?")
    nfs = worker_host["volumes"]["shared_fs"]["driver_opts"]
    assert nfs["type"] == "nfs" and "hard" in nfs["o"].split(",") and "nocto" not in nfs["o"]


def test_a_worker_host_never_starts_a_second_trainer_even_with_the_gpu_override(
    worker_host: dict[str, Any], gpu_override: dict[str, Any]
) -> None:
    assert set(gpu_override["services"]) <= set(worker_host["services"])  # nothing half-defined
    assert worker_host["services"]["trainer"]["profiles"] == ["main-host-only"]
    assert "main-host-only" not in (ROOT / "docs" / "deployment.md").read_text()


def test_the_gpu_override_builds_the_cuda_image_apart_from_the_cpu_one(
    compose: dict[str, Any], gpu_override: dict[str, Any]
) -> None:
    cpu_args = compose["services"]["worker"]["build"]["args"]
    # Set but empty means pip's own index (the GPU build), so only an unset one takes the default.
    assert cpu_args["TORCH_INDEX_URL"] == "${TORCH_INDEX_URL-https://download.pytorch.org/whl/cpu}"
    for name in GPU_SERVICES:
        gpu = gpu_override["services"][name]
        assert gpu["build"]["args"]["TORCH_INDEX_URL"] == ""  # pip's own index: the CUDA build
        assert gpu["image"] != compose["services"][name]["image"]


def test_the_site_is_published_on_this_machine_only_unless_told(compose: dict[str, Any]) -> None:
    assert compose["services"]["web"]["ports"] == ["${WEB_BIND:-127.0.0.1}:${WEB_PORT:-8080}:80"]


def test_redis_writes_no_snapshot_and_keeps_data_in_memory(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    assert redis["command"] == ["redis-server", "--save", "", "--appendonly", "no"]
    assert redis["tmpfs"] == "/data"  # the image's VOLUME /data, so no anonymous volume


def test_beats_schedule_is_on_the_trainers_own_volume(compose: dict[str, Any]) -> None:
    trainer = compose["services"]["trainer"]
    assert "--schedule /var/lib/tagloop/celerybeat-schedule" in trainer["command"]
    assert "trainer_state:/var/lib/tagloop" in trainer["volumes"]
