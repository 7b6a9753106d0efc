"""Helpers the tests share (importable because conftest puts this folder on sys.path)."""

from __future__ import annotations

import contextlib
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

STRICT_TOOLS = os.environ.get("EDGEKIT_STRICT_TOOLS") == "1"


def require_tool(command: str, package: str) -> str:
    """The tool's path; skips without it, or fails in strict mode (CI), naming the Debian package."""
    path = shutil.which(command)
    if path is None:
        message = f"'{command}' is not installed (Debian package {package})"
        if STRICT_TOOLS:
            pytest.fail(message + " and EDGEKIT_STRICT_TOOLS=1")
        pytest.skip(message)
    return path


def assert_one_line_error(result, code: int, *fragments: str) -> None:
    """A CLI result failed with ``code`` and one stderr line (no traceback) holding every fragment."""
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# The data every compile target is tested on: (data, label, task) per case.
COMPILE_DATASETS = {
    "binary": ("bundled:breast-cancer", None, None),
    "multiclass": ("bundled:wine", None, None),
    "regression": ("synthetic:sensors?rows=1500&missing=0", "temperature_c", "regression"),
    "missing": ("synthetic:sensors?rows=2000&missing=0.05", None, None),
}
DENSE_FAMILIES = {"logistic", "linear", "mlp"}


def compile_cases(every_family: tuple[str, ...], dense_only: tuple[str, ...]):
    """(dataset, family, target) for every family that does the dataset's task: the targets
    every family takes, then those only dense models take."""
    from edgekit.train.families import family_names, get_family

    for dataset, (_, _, task) in COMPILE_DATASETS.items():
        for family in family_names():
            if (task or "classification") in get_family(family).tasks:
                targets = every_family + (dense_only if family in DENSE_FAMILIES else ())
                yield from ((dataset, family, target) for target in targets)


def bundle_cache(root):
    """get(dataset, family) -> bundle path, trained once under ``root`` on COMPILE_DATASETS."""
    from edgekit import train_bundle

    cache = {}

    def get(dataset: str, family: str):
        if (dataset, family) not in cache:
            data, label, task = COMPILE_DATASETS[dataset]
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("EDGEKIT_HOME", str(root / "home"))
                bundle = train_bundle(data, root / f"{dataset}-{family}", family=family, label=label, task=task)
            cache[(dataset, family)] = bundle.path
        return cache[(dataset, family)]

    return get


def postgres_binaries() -> Path:
    """The directory of PostgreSQL's server programs (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        message = "PostgreSQL is not installed (Debian package postgresql)"
        if STRICT_TOOLS:
            pytest.fail(message + " and EDGEKIT_STRICT_TOOLS=1")
        pytest.skip(message)
    return found[-1].parent


POSTGRES_CONTROLS: dict[str, list[str]] = {}  # URL -> pg_ctl and its options, for restart_postgres


def restart_postgres(url: str) -> None:
    """Restart the cluster behind ``url`` (fast shutdown: open connections are cut, as in a crash or a failover)."""
    import subprocess

    subprocess.run([*POSTGRES_CONTROLS[url], "-m", "fast", "restart"], check=True, capture_output=True, timeout=60)


@contextlib.contextmanager
def postgres_server():
    """A private PostgreSQL cluster on 127.0.0.1 for one test module; yields its SQLAlchemy URL.
    As root the server runs as the postgres user (PostgreSQL refuses to run as root), in a
    directory of its own (pytest's are closed to other users)."""
    import socket
    import subprocess
    import tempfile

    binaries = postgres_binaries()
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    directory = Path(tempfile.mkdtemp(prefix="edgekit-postgres-"))
    data, sockets = directory / "data", directory / "sockets"
    sockets.mkdir(exist_ok=True)
    if as_user:
        shutil.chown(directory, "postgres")
        shutil.chown(sockets, "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    subprocess.run([*as_user, str(binaries / "initdb"), "-D", str(data), "-U", "edgekit", "-A", "trust", "--no-sync"],
                   check=True, capture_output=True)
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run([*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l", str(directory / "log"), "start"],
                   check=True, capture_output=True)
    try:
        subprocess.run([*as_user, str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "edgekit", "fleet"],
                       check=True, capture_output=True)
        url = f"postgresql+psycopg://edgekit@127.0.0.1:{port}/fleet"
        POSTGRES_CONTROLS[url] = [*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l", str(directory / "log")]
        yield url
    finally:
        POSTGRES_CONTROLS.pop(f"postgresql+psycopg://edgekit@127.0.0.1:{port}/fleet", None)
        subprocess.run([*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)



@contextmanager
def edgekit_home(root: Path):
    """EDGEKIT_HOME (the run registry) under ``root`` for a module-scoped fixture that trains bundles."""
    import pytest

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EDGEKIT_HOME", str(root / "home"))
        yield root / "home"

# --- the update server, as a real process ------------------------------------------------------

def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def edgekit_script() -> str:
    import sys

    return str(Path(sys.executable).parent / "edgekit")


def start_server(home: Path, env: dict[str, str] | None = None, port: int | None = None, *options: str, log=None):
    """``edgekit server run`` on 127.0.0.1 (plus ``options``); returns (process, url) once /healthz
    answers. Its stderr goes to ``log`` (an open binary file) when given."""
    import subprocess
    import tempfile
    import time

    import httpx

    port = port or free_port()
    log = log or tempfile.TemporaryFile()  # a file, not a pipe: a chatty server never blocks on a full pipe
    process = subprocess.Popen([edgekit_script(), "server", "run", "--home", str(home), "--port", str(port), *options],
                               env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise AssertionError(log.read().decode(errors="replace"))
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("the server did not come up")


from edgekit.demo.fleet_story import broken_copy  # noqa: E402 - re-exported for the tests


def init_server(home: Path, *options: str) -> dict:
    """``edgekit server init --home HOME`` (plus ``options``); its JSON result (admin_key, database, ...)."""
    import json
    import subprocess

    result = subprocess.run([edgekit_script(), "server", "init", "--home", str(home), *options, "--json"],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


@contextmanager
def served_home(home: Path, env: dict[str, str] | None = None):
    """A new server home (``edgekit server init``) served by ``edgekit server run``: yields (url, admin key);
    the server is stopped when the block ends, however it ends."""
    admin_key = init_server(home)["admin_key"]
    process, url = start_server(home, env)
    try:
        yield url, admin_key
    finally:
        process.terminate()
        process.wait(timeout=30)


# --- nginx in front of a server, as a real process ---------------------------------------------

class NginxProcess:
    """nginx in the foreground (``daemon off``) in its own process group, so the test owns every
    process it starts: ``kill()`` is a crash of master and workers, ``stop()`` a graceful stop."""

    def __init__(self, config: Path, port: int) -> None:
        system = Path("/usr/sbin/nginx")  # Debian's, also for users without /usr/sbin on their PATH
        self.binary = str(system) if system.is_file() else require_tool("nginx", "nginx")
        self.config, self.port, self.process = config, port, None
        self.url = f"http://127.0.0.1:{port}"

    def start(self) -> None:
        import subprocess
        import time

        import httpx

        self.process = subprocess.Popen([self.binary, "-c", str(self.config), "-g", "daemon off;"],  # its own group:
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)  # killed whole
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(self.process.stderr.read().decode())
            try:
                httpx.get(f"{self.url}/metadata/1.root.json", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError("nginx did not come up")

    def kill(self) -> None:
        """A crash: master and workers die at once (a worker outlives a killed master on its own)."""
        import signal

        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        wait_until(lambda: not _answers(self.url), "nginx's workers to exit")

    def stop(self) -> None:
        import signal
        import subprocess

        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: the master waits for its workers
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def _answers(url: str) -> bool:
    import httpx

    try:
        httpx.get(f"{url}/metadata/1.root.json", timeout=0.5)
        return True
    except httpx.TransportError:
        return False


def wait_until(check, what: str, seconds: float = 15.0):
    """``check()``'s first true value within ``seconds``, or an AssertionError naming ``what``."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def nginx_in_front(home: Path, app_port: int, prefix: Path, auth_cache_seconds: int = 1) -> NginxProcess:
    """``edgekit server nginx-config --standalone`` for ``home`` before the server on ``app_port``, on a
    free port with its files under ``prefix``; not started yet (``start()``, and ``stop()`` it after)."""
    import subprocess

    port = free_port()
    rendered = subprocess.run([edgekit_script(), "server", "nginx-config", "--home", str(home), "--listen", f"127.0.0.1:{port}",
                               "--upstream", f"127.0.0.1:{app_port}", "--standalone", str(prefix), "--auth-cache-seconds",
                               str(auth_cache_seconds), "--out", str(prefix / "nginx.conf")], capture_output=True, text=True, check=False)
    assert rendered.returncode == 0, rendered.stderr
    return NginxProcess(prefix / "nginx.conf", port)


def pi4_onnx(bundle, directory: Path, *names: str) -> list[Path]:
    """ONNX artifacts of ``bundle`` compiled for raspberry-pi-4b (the fleet tests' device), one per name under
    ``directory``. Builds are deterministic, so each is written at its own opset (15, 14, 13, …): distinct
    builds, as releases of one model are."""
    from edgekit.compile import compile_bundle
    from edgekit.devices import load_profile

    pi = load_profile("raspberry-pi-4b")
    return [compile_bundle(bundle, "onnx", directory / name, device=pi, options={"opset": str(15 - index)}).path
            for index, name in enumerate(names)]


# --- the table layout's C tree kernels, built and checked (the SIMD and NEON tests) -------------

def train_tree_cases(work: Path, cases: dict[str, tuple]) -> dict:
    """One bundle per case ``name: (data, family, params, ...)``, trained under ``work``. Data "dense30"
    is 20 000 rows of 30 features whose deep trees grow near-complete (its label column "label"); a
    gradient-boosting case is the sensors' temperature regression."""
    import numpy as np
    from sklearn.datasets import make_classification

    from edgekit import train_bundle

    X, y = make_classification(n_samples=20_000, n_features=30, n_informative=18, random_state=0)  # near-complete deep trees
    dense = work / "dense30.csv"
    np.savetxt(dense, np.column_stack([X, y]), delimiter=",", header=",".join([f"f{i}" for i in range(30)] + ["label"]),
               comments="", fmt="%.7g")
    built = {}
    for name, (data, family, params, *_) in cases.items():
        label, task = ("temperature_c", "regression") if family == "gradient-boosting" else ("label", None) if data == "dense30" else (None, None)
        built[name] = train_bundle(str(dense) if data == "dense30" else data, work / name, family=family, params=params,
                                   label=label, task=task)
    return built


def compile_tree_kernel(source: str, work: Path, triple: str, lanes: int, *runtime_sources: Path):
    """``source`` (a model's C) as work/model.c, compiled with ``runtime_sources`` for ``triple`` with
    EDGEKIT_TREE_LANES=``lanes`` (the batch kernel's rows a vector; 0 for the scalar walk): the
    (toolchain, objects) to link into a library or a harness."""
    import dataclasses

    from edgekit.compile.c.toolchains import compile_objects, toolchain_for

    work.mkdir(parents=True, exist_ok=True)
    (work / "model.c").write_text(source)
    toolchain = toolchain_for(triple)
    toolchain = dataclasses.replace(toolchain, defines=(*toolchain.defines, f"-DEDGEKIT_TREE_LANES={lanes}u"))
    return toolchain, compile_objects(toolchain, [work / "model.c", *runtime_sources], work / "obj")


def assert_matches_certificate(predict, bundle, err_msg: str = "") -> None:
    """``predict`` (float32 rows -> outputs) gives ``bundle``'s certificate outputs on its test rows,
    within float32 rounding of the largest output."""
    import numpy as np

    reference = bundle.reference()
    expected = reference["test_outputs"]
    got = predict(reference["test_X"].astype(np.float32)).reshape(expected.shape)
    np.testing.assert_allclose(got, expected, atol=1e-5 * max(1.0, float(np.abs(expected).max())), err_msg=err_msg)


# --- hostile artifact archives (the upload and unpack tests) -------------------------------------

def artifact_tar(files: dict[str, bytes], manifest: dict | None = None) -> bytes:
    """A tar of an artifact.json whose manifest lists ``files`` (or is ``manifest``) and the files
    themselves, in that order: what an attacker can hand the server's upload or the agent's unpack."""
    import hashlib
    import io
    import json
    import tarfile

    if manifest is None:
        manifest = {name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)} for name, data in files.items()}
    members = {"artifact.json": json.dumps({"format_version": 1, "files": manifest}).encode(), **files}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


HOSTILE_ARCHIVES = {  # attack -> (files, manifest or None for the files' true entries, what the refusal says)
    "a manifest entry that is a string": ({"model.onnx": b"x"}, {"model.onnx": "abc"}, "entry 'model.onnx' is not {sha256, size}"),
    "a file that is also a directory": ({"a": b"x", "a/b": b"y"}, None, "member 'a': is a file and also a directory of another member"),
    "a member named dot": ({".": b"x"}, None, "member '.': has an empty, '.' or '..' path component"),
    "a name longer than a file system allows": ({"m" * 300: b"x"}, None, "path component longer than 255 bytes"),
    "twenty thousand empty members": ({f"f{index}": b"" for index in range(20_000)}, None, "has more than 1000 members"),
}


# Issue 20: a row of float32-sized values. float64 scikit-learn answers it; float32 standardisation
# of 3e38 overflows to inf, and the first layer's inf - inf is NaN.
HUGE_ROW = [3e38, 3e38, 3e38, 0.0, 9.0, 6.0]


def six_feature_logistic(root: Path):
    """A logistic-regression bundle on six features, the first three with standard deviations of
    0.05-0.2 (their inverse scales overflow 3e38) and weights of both signs."""
    import numpy as np
    import pandas as pd

    from edgekit import train_bundle

    rng = np.random.default_rng(20)
    X = rng.normal(size=(400, 6)) * [0.1, 0.2, 0.05, 1.0, 3.0, 2.0] + [0.0, 0.0, 0.0, 0.0, 9.0, 6.0]
    logit = 20 * X[:, 0] - 8 * X[:, 1] + 30 * X[:, 2] + 0.5 * X[:, 3] - 0.3 * (X[:, 4] - 9)
    frame = pd.DataFrame(X, columns=[f"f{index}" for index in range(6)])
    frame["label"] = (logit + rng.normal(size=len(X)) > 0).astype(int)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EDGEKIT_HOME", str(root / "home"))
        return train_bundle(frame, root / "bundle", family="logistic", label="label")
