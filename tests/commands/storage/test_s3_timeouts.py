"""An S3 endpoint that never answers fails in seconds."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from modelreg import Registry


def test_an_s3_endpoint_that_never_answers_fails_in_seconds(reg_path: Path, make_file: Any, tmp_path: Path) -> None:
    pytest.importorskip("boto3")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not done.is_set():
            try:
                held.append(listener.accept()[0])  # and never answer
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        port = listener.getsockname()[1]
        config = reg_path / "modelreg.toml"
        config.write_text(
            config.read_text().replace(
                "[remote]", f'[remote]\nurl = "s3://models/reg"\nendpoint_url = "http://127.0.0.1:{port}"'
            )
        )
        env = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_DEFAULT_REGION": "us-east-1"}
        Registry(reg_path).register("m", [make_file(tmp_path / "w.bin", "w")])
        for command in ("push", "pull"):
            if command == "pull":  # a pull asks the remote only for what is missing here
                import shutil

                shutil.rmtree(reg_path / "blobs")
                (reg_path / "blobs").mkdir()
            started = time.monotonic()
            proc = subprocess.run(
                [sys.executable, "-m", "modelreg", command, "-R", str(reg_path)],
                capture_output=True,
                text=True,
                timeout=300,
                env={**os.environ, **env},
                check=False,
            )
            took = time.monotonic() - started
            assert proc.returncode == 4 and proc.stderr.startswith("error: "), proc.stderr
            assert took < 90, f"{command} took {took:.0f} s to give up"
    finally:
        done.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()
