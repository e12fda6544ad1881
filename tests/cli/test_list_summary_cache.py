"""``list`` answers from its cache of model summaries only while the models' files are the ones
the summaries came from, and only from a cache this machine wrote for this registry: whatever
lies in the cache, or is done to the files, ``list --json`` prints what reading every file gives."""

from __future__ import annotations

import json
import marshal
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from modelreg import Registry
from modelreg.base.machine import seal, unseal
from modelreg.ops.queries import listing


@pytest.fixture
def settled_now(monkeypatch: pytest.MonkeyPatch) -> None:
    """Summaries of files written a moment ago are kept too (every file of these tests is new)."""
    monkeypatch.setattr(listing, "SETTLED_NS", 0)


def _registry(root: Path, models: int = 3) -> Registry:
    reg, _ = Registry.init(root)
    for i in range(models):
        weights = root.parent / "m.bin"
        weights.write_bytes(f"weights {i}".encode())
        reg.register(f"model-{i}", [weights], author="tester")
    return reg


def _listed(cli: Callable[..., Any], root: Path) -> tuple[int, Any]:
    result = cli("list", "--json", "-R", root)
    return result.exit_code, json.loads(result.stdout) if result.exit_code == 0 else result.stderr


def _read_every_file(root: Path) -> list[dict[str, Any]]:
    repo = Registry.open(root)
    return [listing.summary(repo, name).to_json() for name in repo.model_names()]


def _cache(root: Path) -> Path:
    return root / ".modelreg" / "cache" / "listing"


def _cached_models(root: Path) -> dict[str, Any]:
    data = unseal(_cache(root).read_bytes(), listing._LISTING_PURPOSE)
    assert data is not None
    entries: dict[str, Any] = marshal.loads(data)[1]
    return entries


@pytest.mark.usefixtures("settled_now")
def test_every_change_to_a_model_shows_in_the_next_list(tmp_path: Path, cli: Callable[..., Any]) -> None:
    root = tmp_path / "reg"
    reg = _registry(root)
    code, first = _listed(cli, root)
    assert code == 0
    assert set(_cached_models(root)) == {"model-0", "model-1", "model-2"}
    assert _listed(cli, root) == (0, first)
    assert cli("promote", "model-1@1", "production", "-R", root).exit_code == 0
    assert cli("annotate", "model-2", "--description", "the new one", "-R", root).exit_code == 0
    (tmp_path / "m.bin").write_bytes(b"weights again")
    reg.register("model-0", [tmp_path / "m.bin"], author="tester")
    assert cli("alias", "model-0@1", "champion", "-R", root).exit_code == 0
    reg.remove("model-0@2", reason="bad", actor="tester")
    code, after = _listed(cli, root)
    models = {m["name"]: m for m in after["models"]}
    assert models["model-1"]["stages"]["production"] == 1
    assert models["model-2"]["description"] == "the new one"
    assert models["model-0"]["latest_version"] == 1
    assert models["model-0"]["aliases"] == {"champion": 1}
    assert after["models"] == _read_every_file(root)


@pytest.mark.usefixtures("settled_now")
def test_an_unchanged_model_is_not_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "reg"
    _registry(root)
    first = [m.to_json() for m in Registry.open(root).list_models()]
    assert first == _read_every_file(root)
    from modelreg.repo import Repo

    def refuse(self: Repo, name: str) -> None:
        raise AssertionError(f"{name} was read although its files did not change")

    monkeypatch.setattr(Repo, "state", refuse)
    assert [m.to_json() for m in Registry.open(root).list_models()] == first


def _forge(root: Path, description: str, *, key_of: Path | None = None) -> bytes:
    """A cache whose entries match the files' identities but carry ``description``, sealed with
    the key of whoever runs this, made for the registry at ``key_of`` (default: ``root``)."""
    repo = Registry.open(root)
    config = repo.config
    where = key_of or root
    key = repr((str(where), config.stages, sorted(config.exclusive), config.claims.engine))
    entries = {}
    for name in repo.model_names():
        m = listing.summary(repo, name)
        fields = (m.latest_version, m.stages, description, m.tags, m.created_at, m.created_by, m.aliases)
        entries[name] = (listing._signature(str(root / "models" / name), listing._READ_FROM), fields)
    sealed = seal(marshal.dumps((key, entries)), listing._LISTING_PURPOSE)
    assert sealed is not None
    return sealed


@pytest.mark.usefixtures("settled_now")
@pytest.mark.parametrize("planted", ["by this machine", "by another machine", "unsealed", "for another registry"])
def test_only_a_cache_this_machine_made_for_this_registry_is_believed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., Any], planted: str
) -> None:
    root = tmp_path / "reg"
    _registry(root)
    truth = _read_every_file(root)
    _cache(root).parent.mkdir(parents=True, exist_ok=True)
    if planted == "by this machine":
        _cache(root).write_bytes(_forge(root, "planted"))
    elif planted == "by another machine":
        with monkeypatch.context() as other:
            other.setenv("XDG_CONFIG_HOME", str(tmp_path / "someone-else"))
            _cache(root).write_bytes(_forge(root, "planted"))
    elif planted == "unsealed":
        _cache(root).write_bytes(b"\0" * 64 + marshal.dumps(("key", {"model-0": ((), ())})))
    else:
        _cache(root).write_bytes(_forge(root, "planted", key_of=tmp_path / "elsewhere"))
    code, listed = _listed(cli, root)
    assert code == 0
    if planted == "by this machine":  # the control: a sealed entry whose files match is believed
        assert {m["description"] for m in listed["models"]} == {"planted"}
    else:
        assert listed["models"] == truth


def _tamper_rewrite(model: Path) -> None:
    """model.yaml rewritten to the same size with its times put back (only the change time moves)."""
    path = model / "model.yaml"
    before = path.stat()
    text = path.read_text()
    path.write_text(text.replace("created_by: tester", "created_by: hacker"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size


def _tamper_symlink(model: Path) -> None:
    """model.yaml replaced by a symlink to a copy of itself: the slow path refuses to follow it."""
    shutil.copy(model / "model.yaml", model.parent.parent / "copy.yaml")
    (model / "model.yaml").unlink()
    (model / "model.yaml").symlink_to(model.parent.parent / "copy.yaml")


def _tamper_copied_back(model: Path) -> None:
    """The model's directory replaced by a copy whose model.yaml says otherwise, every time kept."""
    aside = model.parent.parent / "aside"
    model.rename(aside)
    shutil.copytree(aside, model, copy_function=shutil.copy2)
    _tamper_rewrite(model)
    os.utime(model, ns=(aside.stat().st_atime_ns, aside.stat().st_mtime_ns))


@pytest.mark.usefixtures("settled_now")
@pytest.mark.parametrize("tamper", [_tamper_rewrite, _tamper_symlink, _tamper_copied_back], ids=lambda f: f.__name__)
def test_whatever_is_done_to_the_files_list_answers_as_without_a_cache(
    tmp_path: Path, cli: Callable[..., Any], tamper: Callable[[Path], None]
) -> None:
    root = tmp_path / "reg"
    _registry(root)
    assert _listed(cli, root)[0] == 0
    assert "model-1" in _cached_models(root)
    tamper(root / "models" / "model-1")
    with_cache = _listed(cli, root)
    _cache(root).unlink()
    without = _listed(cli, root)
    assert with_cache == without
    if tamper is not _tamper_symlink:
        assert {m["name"]: m["created_by"] for m in without[1]["models"]}["model-1"] == "hacker"


def test_files_written_a_moment_ago_are_read_each_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # "A moment" stretched to an hour, so that a slow machine cannot age the files past it.
    monkeypatch.setattr(listing, "SETTLED_NS", 3600 * 10**9)
    root = tmp_path / "reg"
    reg = _registry(root, models=2)
    Registry.open(root).list_models()
    # Nothing kept: each list reads these models again.
    assert not _cache(root).exists() or _cached_models(root) == {}
    reg.annotate("model-0", description="changed at once")
    assert Registry.open(root).list_models()[0].description == "changed at once"


@pytest.mark.usefixtures("settled_now")
def test_with_a_claim_engine_a_manifest_that_arrives_shows(tmp_path: Path, cli: Callable[..., Any]) -> None:
    """With a claim engine the versions are the manifests present: a new one (come by git) moves latest."""
    root = tmp_path / "reg"
    _registry(root, models=1)
    with (root / "modelreg.toml").open("a") as toml:
        toml.write('\n[claims]\nengine = "git"\n')
    assert _listed(cli, root)[1]["models"][0]["latest_version"] == 1
    assert "model-0" in _cached_models(root)
    versions = root / "models" / "model-0" / "versions"
    manifest = (versions / "1.yaml").read_text()
    assert "\nversion: 1\n" in manifest
    (versions / "2.yaml").write_text(manifest.replace("\nversion: 1\n", "\nversion: 2\n"))
    code, listed = _listed(cli, root)
    assert code == 0
    assert listed["models"][0]["latest_version"] == 2
    assert listed["models"] == _read_every_file(root)
