"""``ModelregStore``: MLflow's model registry store (entry point ``mlflow.model_registry_store``,
scheme ``modelreg``) over a modelreg registry.

Every change is an ordinary change of the registry, made through ``Registry``: audited under
this process's identity, under the registry's transitions, gates and approvals, with its hooks.
Nothing MLflow deletes is lost: a deleted version is a ``remove`` (history kept); a deleted
model has its versions removed and is hidden from MLflow (``modelreg show`` still has it).
What MLflow and modelreg do differently is written up in docs/guide/mlflow.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.exceptions import MlflowException
from mlflow.prompt.registry_utils import has_prompt_tag
from mlflow.protos import databricks_pb2 as codes
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.model_registry.abstract_store import AbstractStore
from mlflow.utils.validation import (
    _validate_model_alias_name,
    _validate_model_alias_name_reserved,
    _validate_model_version_tag,
    _validate_registered_model_tag,
    _validate_tag_name,
)

from modelreg.errors import ConflictError, NotFoundError
from modelreg.records.names import NAME_RULE, is_valid_name
from modelreg.registry import Registry, find_root

from . import filters, source, uris
from .entities import HIDDEN, ModelView, mlflow_ids
from .errors import exists, invalid, not_found, translated
from .stages import Stages

if TYPE_CHECKING:
    from modelreg.records.manifest import Version

_MODELS_VERSION = re.compile(r"models:/([^/@]+)/([0-9]{1,7})/?")


def _bad_stage(text: object, stages: Stages) -> str:
    return f"Invalid Model Version stage: {text}. Value must be one of {', '.join(stages.mlflow_names())}."


def _reason(method: str) -> str:
    return f"through MLflow ({method})"


class ModelregStore(AbstractStore):
    """MLflow's registry calls answered from, and recorded in, a modelreg registry."""

    def __init__(self, store_uri: str | None = None, tracking_uri: str | None = None) -> None:
        super().__init__(store_uri, tracking_uri)
        try:
            path = uris.registry_path(store_uri or "modelreg:")
        except uris.BadUri as exc:
            invalid(str(exc))
        with translated():
            self.root = find_root(path)
        self.tracking_uri = tracking_uri

    # -- plumbing ------------------------------------------------------------
    @contextmanager
    def _session(self) -> Iterator[tuple[Registry, Stages]]:
        """A fresh view of the registry for each call: its rules and records as they are now
        (another process, or `modelreg` itself, may have changed them since the last call)."""
        with translated():
            registry = Registry(self.root)
            yield registry, Stages.of(registry.config)

    @staticmethod
    def _new_name(name: Any) -> str:
        if not isinstance(name, str) or not name.strip():
            invalid("Missing value for required parameter 'name'.")
        if not is_valid_name(name):
            invalid(f"Invalid model name {name!r}: {NAME_RULE}.")
        return name

    def _view(self, registry: Registry, stages: Stages, name: Any) -> ModelView:
        """The model as MLflow sees it; RESOURCE_DOES_NOT_EXIST when there is none, it was
        deleted through MLflow, or its name is one no modelreg model can have."""
        if not isinstance(name, str) or not is_valid_name(name):
            if not isinstance(name, str) or not name.strip():
                invalid("Missing value for required parameter 'name'.")
            not_found(f"Registered Model with name={name} not found")
        try:
            view = ModelView(registry, name, stages)
        except NotFoundError:
            not_found(f"Registered Model with name={name} not found")
        if view.hidden:
            not_found(f"Registered Model with name={name} not found")
        return view

    @staticmethod
    def _number(version: Any) -> int:
        try:
            number = int(str(version))
        except ValueError:
            invalid(f"Parameter 'version' must be an integer, got '{version}'.")
        return number

    def _live(self, view: ModelView, version: Any) -> Version:
        number = self._number(version)
        if not view.live(number):
            not_found(f"Model Version (name={view.name}, version={number}) not found")
        return view.version(number)

    @staticmethod
    def _tags(tags: Any, *, model: bool) -> dict[str, str]:
        out: dict[str, str] = {}
        for tag in tags or []:
            if model:
                _validate_registered_model_tag(tag.key, tag.value)
            else:
                _validate_model_version_tag(tag.key, tag.value)
            if tag.key == HIDDEN:
                invalid(f"the tag {HIDDEN!r} is kept by modelreg for models deleted through MLflow")
            out[tag.key] = str(tag.value)
        return out

    # -- registered models ---------------------------------------------------
    def create_registered_model(
        self, name: str, tags: Any = None, description: str | None = None, deployment_job_id: str | None = None
    ) -> RegisteredModel:
        self._new_name(name)
        if has_prompt_tag(tags):
            invalid("a modelreg registry holds models, not prompts")
        wanted = self._tags(tags, model=True)
        with self._session() as (registry, stages):
            try:
                state = registry.state(name)
            except NotFoundError:
                try:
                    registry.create_model(name, description=description or "", tags=wanted)
                except ConflictError as exc:
                    if exc.code != "model_exists":
                        raise
                    exists(f"Registered Model (name={name}) already exists.")
            else:
                if HIDDEN not in state.index.tags:
                    exists(f"Registered Model (name={name}) already exists.")
                # Made again after a delete: a new start for MLflow, on the model's kept history.
                registry.annotate(
                    name,
                    description=description or "",
                    set_tags=wanted,
                    unset_tags=[k for k in state.index.tags if k not in wanted],
                )
            return ModelView(registry, name, stages).model_entity()

    def update_registered_model(
        self, name: str, description: str | None, deployment_job_id: str | None = None
    ) -> RegisteredModel:
        with self._session() as (registry, stages):
            self._view(registry, stages, name)
            registry.annotate(name, description=description or "")
            return ModelView(registry, name, stages).model_entity()

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        with self._session() as (registry, stages):
            self._view(registry, stages, name)
            self._new_name(new_name)
            if new_name != name:
                try:
                    self._view(registry, stages, new_name)
                except MlflowException:
                    pass
                else:
                    exists(f"Registered Model (name={new_name}) already exists.")
        raise MlflowException(
            f"cannot rename {name!r}: a modelreg model keeps its name for good, since its audit history, "
            "manifests and references are recorded under it; copy its versions to a new model with "
            "MlflowClient.copy_model_version (or `modelreg register`) instead",
            error_code=codes.FEATURE_DISABLED,
        )

    def delete_registered_model(self, name: str) -> None:
        with self._session() as (registry, stages):
            view = self._view(registry, stages, name)
            for number in view.live_numbers():
                registry.remove(f"{name}@{number}", reason=_reason("delete_registered_model"))
            when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            registry.annotate(name, set_tags={HIDDEN: when})

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Any = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        limit = filters.models_limit(max_results)
        with self._session() as (registry, stages):
            models = []
            for name in registry.model_names():
                view = ModelView(registry, name, stages)
                if not view.hidden:
                    models.append(view.model_entity())
        return filters.page(models, filters.without_prompts(filter_string), order_by, page_token, limit, versions=False)

    def get_registered_model(self, name: str) -> RegisteredModel:
        with self._session() as (registry, stages):
            return self._view(registry, stages, name).model_entity()

    def get_latest_versions(self, name: str, stages: Any = None) -> list[ModelVersion]:
        with self._session() as (registry, mapping):
            view = self._view(registry, mapping, name)
            wanted: list[str] = []
            for text in stages or []:
                stage = mapping.from_mlflow(str(text))
                if stage is None:
                    invalid(_bad_stage(text, mapping))
                wanted.append(stage)
            result = []
            for stage in dict.fromkeys(wanted or mapping.names):
                holders = view.state.holders(stage)
                if holders:
                    result.append(view.version_entity(view.version(max(holders))))
            return result

    def set_registered_model_tag(self, name: str, tag: Any) -> None:
        wanted = self._tags([tag], model=True)
        with self._session() as (registry, stages):
            self._view(registry, stages, name)
            registry.annotate(name, set_tags=wanted)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        _validate_tag_name(key)
        if key == HIDDEN:
            invalid(f"the tag {HIDDEN!r} is kept by modelreg for models deleted through MLflow")
        with self._session() as (registry, stages):
            view = self._view(registry, stages, name)
            if key in view.state.index.tags:
                registry.annotate(name, unset_tags=[key])

    # -- model versions ------------------------------------------------------
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Any = None,
        run_link: str | None = None,
        description: str | None = None,
        local_model_path: str | None = None,
        model_id: str | None = None,
    ) -> ModelVersion:
        if has_prompt_tag(tags):
            invalid("a modelreg registry holds models, not prompts")
        wanted = self._tags(tags, model=False)
        with self._session() as (registry, stages):
            self._view(registry, stages, name)
            with self._fetch(registry, stages, name, source, run_id, model_id, local_model_path, run_link) as logged:
                version, _ = registry.register(
                    name,
                    logged.files,
                    metrics=logged.metrics,
                    params=logged.params,
                    tags=wanted,
                    description=description or "",
                    reason=_reason("create_model_version"),
                    imported=logged.imported,
                )
            if logged.left_out:
                registry.warnings.append(f"{name}@{version.version}: left out {', '.join(logged.left_out)}")
            return ModelView(registry, name, stages).version_entity(version)

    @contextmanager
    def _fetch(
        self,
        registry: Registry,
        stages: Stages,
        name: str,
        where: str,
        run_id: str | None,
        model_id: str | None,
        local_model_path: str | None,
        run_link: str | None,
    ) -> Iterator[source.Logged]:
        """The files of the new version: a version of this registry (``models:/NAME/N``, as
        ``copy_model_version`` gives) from the registry itself, verified; anything else from MLflow."""
        match = _MODELS_VERSION.fullmatch(where)
        if match is not None:
            origin = self._live(self._view(registry, stages, match.group(1)), match.group(2))
            ids = mlflow_ids(origin)
            imported = {
                **source.lineage(
                    ids.get("tracking_uri"),
                    name,
                    where,
                    run_id or ids.get("run_id"),
                    model_id or ids.get("model_id"),
                    run_link,
                    None,
                ),
                "run": ids.get("run"),
                "creator": ids.get("creator"),
            }
            yield source.Logged(registry.materialize(origin), dict(origin.metrics), dict(origin.params), imported)
            return
        try:
            with source.fetch(self.tracking_uri, name, where, run_id, model_id, local_model_path, run_link) as logged:
                yield logged
        except MlflowException:
            raise
        except OSError as exc:
            message = f"cannot read the model's files at {where!r}: {exc}"
            raise MlflowException(message, error_code=codes.IO_ERROR) from exc

    def update_model_version(self, name: str, version: Any, description: str | None) -> ModelVersion:
        with self._session() as (registry, stages):
            view = self._view(registry, stages, name)
            number = self._live(view, version).version
            registry.annotate(f"{name}@{number}", description=description or "")
            view = ModelView(registry, name, stages)
            return view.version_entity(view.version(number))

    def transition_model_version_stage(
        self, name: str, version: Any, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        with self._session() as (registry, stages):
            view = self._view(registry, stages, name)
            number = self._live(view, version).version
            target = stages.from_mlflow(str(stage))
            if target is None:
                invalid(_bad_stage(stage, stages))
            if archive_existing_versions and target in (stages.default, stages.archive):
                invalid(
                    f"Model version transition cannot archive existing model versions because '{stage}' is not "
                    "an Active stage."
                )
            others = [n for n in view.state.holders(target) if n != number] if archive_existing_versions else []
            registry.promote(f"{name}@{number}", target, reason=_reason("transition_model_version_stage"))
            current = ModelView(registry, name, stages)
            for other in others:
                if other in current.state.holders(target):  # an exclusive stage already archived it
                    registry.promote(f"{name}@{other}", stages.archive, reason=_reason("archive_existing_versions"))
            current = ModelView(registry, name, stages)
            return current.version_entity(current.version(number))

    def delete_model_version(self, name: str, version: Any) -> None:
        with self._session() as (registry, stages):
            number = self._live(self._view(registry, stages, name), version).version
            registry.remove(f"{name}@{number}", reason=_reason("delete_model_version"))

    def get_model_version(self, name: str, version: Any) -> ModelVersion:
        with self._session() as (registry, stages):
            view = self._view(registry, stages, name)
            return view.version_entity(self._live(view, version))

    def get_model_version_download_uri(self, name: str, version: Any) -> str:
        with self._session() as (registry, stages):
            number = self._live(self._view(registry, stages, name), version).version
            return uris.download_uri(registry.root, name, number)

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Any = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        limit = filters.versions_limit(max_results)
        wanted = filters.without_prompts(filter_string)
        pinned = filters.model_names_in(wanted)
        with self._session() as (registry, stages):
            names = registry.model_names() if pinned is None else sorted(n for n in pinned if is_valid_name(n))
            found: list[ModelVersion] = []
            for name in names:
                try:
                    view = ModelView(registry, name, stages)
                except NotFoundError:
                    continue
                if not view.hidden:
                    view.times()  # every version's last change in one read of the history
                    found.extend(view.version_entity(view.version(n)) for n in view.live_numbers())
        return filters.page(found, wanted, order_by, page_token, limit, versions=True)

    def set_model_version_tag(self, name: str, version: Any, tag: Any) -> None:
        wanted = self._tags([tag], model=False)
        with self._session() as (registry, stages):
            number = self._live(self._view(registry, stages, name), version).version
            registry.annotate(f"{name}@{number}", set_tags=wanted)

    def delete_model_version_tag(self, name: str, version: Any, key: str) -> None:
        _validate_tag_name(key)
        with self._session() as (registry, stages):
            found = self._live(self._view(registry, stages, name), version)
            if key in found.tags:
                registry.annotate(f"{name}@{found.version}", unset_tags=[key])

    # -- aliases -------------------------------------------------------------
    def set_registered_model_alias(self, name: str, alias: str, version: Any) -> None:
        _validate_model_alias_name(alias)
        _validate_model_alias_name_reserved(alias)
        with self._session() as (registry, stages):
            number = self._live(self._view(registry, stages, name), version).version
            registry.alias(f"{name}@{number}", alias, reason=_reason("set_registered_model_alias"))

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        _validate_model_alias_name(alias)
        with self._session() as (registry, stages):
            view = self._view(registry, stages, name)
            if alias in view.state.aliases.targets:  # MLflow: deleting a missing alias is no error
                registry.delete_alias(name, alias, reason=_reason("delete_registered_model_alias"))

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        with self._session() as (registry, stages):
            view = self._view(registry, stages, name)
            if alias.lower() == "latest":
                live = view.live_numbers()
                if not live:
                    invalid(f"Registered model alias {alias} not found.")
                return view.version_entity(view.version(live[-1]))
            number = view.state.aliases.targets.get(alias)
            if number is None or not view.live(number):
                invalid(f"Registered model alias {alias} not found.")
            return view.version_entity(view.version(number))
