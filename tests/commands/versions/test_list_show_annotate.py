"""list, show and annotate: the shapes scripts rely on, references, tags and descriptions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import snapshot
from support.core import (
    CACHES,
    DEFAULT_STAGES,
    Ctx,
    Outcome,
    assert_error,
    assert_version_object,
    lib_register,
)

from modelreg import Registry


def code(result: Any) -> int:
    return result.exit_code


def test_references(cli: Any, reg_path: Path, tmp_path: Path) -> None:
    v1 = lib_register(reg_path, "m", {"a.bin": b"AAAA"}, tmp_path)
    lib_register(reg_path, "m", {"a.bin": b"BBBB"}, tmp_path)
    v3 = lib_register(reg_path, "m", {"a.bin": b"AAAA"}, tmp_path)  # the same file set as v1
    v4 = lib_register(reg_path, "m", {"a.bin": b"CCCC"}, tmp_path)
    assert v1.digest == v3.digest != v4.digest
    reg = Registry.open(reg_path)
    reg.promote("m@2", "staging")
    reg.promote("m@4", "staging")
    reg.promote("m@3", "production")

    def version_of(ref: str) -> int:
        out = cli("show", ref, "-R", reg_path, "--json")
        assert out.exit_code == 0, (ref, out.stderr)
        return json.loads(out.stdout)["version"]

    hex4 = v4.digest.partition(":")[2]
    assert version_of("m@3") == 3
    assert version_of("m@latest") == 4
    assert version_of("m@staging") == 4, "a stage holding several versions names the newest"
    assert version_of("m@production") == 3
    assert version_of(f"m@sha256:{hex4[:8]}") == 4
    assert version_of(f"m@sha256:{hex4[:20]}") == 4
    assert version_of(f"m@{v4.digest}") == 4
    all_hex = [reg.resolve(f"m@{n}").digest.partition(":")[2] for n in range(1, 5)]
    absent = next(p for p in ("00000000", "11111111", "22222222") if not any(h.startswith(p) for h in all_hex))

    def err(ref: str, code: int) -> str:
        r = cli("show", ref, "-R", reg_path)
        return assert_error(Outcome(r.exit_code, r.stdout, r.stderr), code, json_mode=False)

    ambiguous = err(f"m@sha256:{v1.digest[7:19]}", 2)
    assert "m@1" in ambiguous and "m@3" in ambiguous
    err(f"m@sha256:{absent}", 3)
    err("m@sha256:abc", 2)  # fewer than 8 hex digits
    err("m@archived", 3)  # a stage with nobody in it
    err("m@nowhere", 3)  # well formed: a stage or an alias, and this registry has neither
    err("m@5", 3)
    # promote accepts any reference too
    out = cli("promote", f"m@sha256:{hex4[:10]}", "production", "-R", reg_path, "--json")
    assert out.exit_code == 0 and json.loads(out.stdout)["archived"] == [3]


def test_list_shapes_cover_every_configured_stage(cli: Any, reg_path: Path, tmp_path: Path) -> None:
    lib_register(reg_path, "a", {"w": b"1"}, tmp_path)
    lib_register(reg_path, "a", {"w": b"2"}, tmp_path)
    lib_register(reg_path, "b", {"w": b"3"}, tmp_path)
    Registry.open(reg_path).promote("a@2", "production")
    doc = json.loads(cli("list", "-R", reg_path, "--json").stdout)
    assert set(doc) == {"models"}
    by_name = {m["name"]: m for m in doc["models"]}
    assert sorted(by_name) == ["a", "b"]
    for m in doc["models"]:
        assert {"name", "latest_version", "stages"} <= set(m)
        assert list(m["stages"]) == DEFAULT_STAGES
    assert by_name["a"]["latest_version"] == 2
    assert by_name["a"]["stages"] == {"development": [1], "staging": [], "production": 2, "archived": []}
    assert by_name["b"]["stages"] == {"development": [1], "staging": [], "production": None, "archived": []}
    versions = json.loads(cli("list", "a", "-R", reg_path, "--json").stdout)
    assert set(versions) == {"versions"}
    for number, v in enumerate(versions["versions"], start=1):
        assert_version_object(v, "a", number)
    # Filters.
    only_prod = json.loads(cli("list", "--stage", "production", "-R", reg_path, "--json").stdout)
    assert [m["name"] for m in only_prod["models"]] == ["a"]
    dev = json.loads(cli("list", "a", "--stage", "development", "-R", reg_path, "--json").stdout)
    assert [v["version"] for v in dev["versions"]] == [1]
    Registry.open(reg_path).annotate("a@1", set_tags={"team": "growth"})
    tagged = json.loads(cli("list", "a", "--tag", "team=growth", "-R", reg_path, "--json").stdout)
    assert [v["version"] for v in tagged["versions"]] == [1]
    Registry.open(reg_path).annotate("b", set_tags={"team": "risk"})
    tagged = json.loads(cli("list", "--tag", "team=risk", "-R", reg_path, "--json").stdout)
    assert [m["name"] for m in tagged["models"]] == ["b"]


def test_custom_stages_appear_in_list(cli: Any, reg_path: Path, tmp_path: Path) -> None:
    ctx = Ctx(reg_path, tmp_path)

    def custom(d: dict[str, Any]) -> None:
        d["stages"] = {
            "names": ["dev", "qa", "live", "retired"],
            "default": "dev",
            "exclusive": ["live"],
            "archive": "retired",
            "require_reason": [],
        }

    ctx.edit_config(custom)
    lib_register(reg_path, "m", {"w": b"1"}, tmp_path)
    stages = json.loads(cli("list", "-R", reg_path, "--json").stdout)["models"][0]["stages"]
    assert stages == {"dev": [1], "qa": [], "live": None, "retired": []}
    lib_register(reg_path, "m", {"w": b"2"}, tmp_path)
    assert cli("promote", "m@1", "live", "-R", reg_path).exit_code == 0
    assert cli("promote", "m@2", "live", "-R", reg_path).exit_code == 0
    stages = json.loads(cli("list", "-R", reg_path, "--json").stdout)["models"][0]["stages"]
    assert stages == {"dev": [], "qa": [], "live": 2, "retired": [1]}
    out = cli("promote", "m@1", "production", "-R", reg_path)
    assert out.exit_code == 2 and all(s in out.stderr for s in ("dev", "qa", "live", "retired"))


def test_annotate_tags_and_untag(cli: Any, reg_path: Path, tmp_path: Path) -> None:
    Ctx(reg_path, tmp_path).seed()
    out = cli("annotate", "m@1", "-t", "a=1", "-t", "b=2", "-R", reg_path, "--json")
    assert json.loads(out.stdout)["tags"] == {"a": "1", "b": "2"}
    out = cli("annotate", "m@1", "--untag", "a", "-R", reg_path, "--json")
    assert json.loads(out.stdout)["tags"] == {"b": "2"}
    v = json.loads(cli("show", "m@1", "-R", reg_path, "--json").stdout)
    assert v["tags"] == {"b": "2"}
    assert [e["action"] for e in v["history"]].count("annotate") == 2
    before = snapshot(reg_path, ignore=CACHES)
    out = cli("annotate", "m@1", "-t", "b=2", "-R", reg_path, "--json")
    assert json.loads(out.stdout)["changed"] is False
    assert snapshot(reg_path, ignore=CACHES) == before


def test_untag_of_a_missing_key_warns(cli: Any, reg_path: Path, make_file: Any, tmp_path: Path) -> None:
    Registry(reg_path).register("m", [make_file(tmp_path / "w.bin", "w")], tags={"team": "a"})
    result = cli("annotate", "m@1", "--untag", "owner", "--json", "-R", reg_path)
    assert code(result) == 0 and json.loads(result.stdout)["changed"] is False
    assert "'owner' was not set" in result.stderr
