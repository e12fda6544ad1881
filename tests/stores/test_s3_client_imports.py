"""Opening boto3 leaves pyOpenSSL unloaded (botocore only wanted urllib3's own SSLContext from
it), gives botocore that very class, and leaves the module importable for anyone else."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("OpenSSL")  # the case only exists where pyOpenSSL is installed

PROBE = """
import json, sys
from modelreg.stores.remotes.s3_client import load_boto3
load_boto3("s3://bucket/prefix")
import botocore.httpsession, urllib3.util.ssl_
found = {
    "pyopenssl_loaded": "OpenSSL" in sys.modules,
    "same_context": botocore.httpsession.SSLContext is urllib3.util.ssl_.SSLContext,
}
import urllib3.contrib.pyopenssl
found["importable_after"] = "OpenSSL" in sys.modules
print(json.dumps(found))
"""


def test_boto3_opens_without_pyopenssl_and_botocore_gets_urllib3s_context() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == {"pyopenssl_loaded": False, "same_context": True, "importable_after": True}
