"""MLflow's search: its filter grammar, ordering and page tokens, answered by MLflow's own
search utilities (as its file store does), so a filter means here what it means in MLflow."""

from __future__ import annotations

from typing import Any, TypeVar

from mlflow.prompt.registry_utils import add_prompt_filter_string
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.model_registry import (
    SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT,
    SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD,
    SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT,
    SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD,
)
from mlflow.utils.search_utils import SearchModelUtils, SearchModelVersionUtils, SearchUtils

from .errors import invalid

T = TypeVar("T")
# MLflow's file store orders versions this way when the caller gives no order.
DEFAULT_VERSION_ORDER = ["last_updated_timestamp DESC", "name ASC", "version_number DESC"]


def _limit(max_results: Any, default: int, ceiling: int) -> int:
    if max_results is None:
        return default
    if not isinstance(max_results, int) or isinstance(max_results, bool) or max_results < 1:
        invalid(f"Invalid value for max_results. It must be a positive integer, but got {max_results}")
    if max_results > ceiling:
        invalid(
            "Invalid value for request parameter max_results. "
            f"It must be at most {ceiling}, but got value {max_results}"
        )
    return max_results


def models_limit(max_results: Any) -> int:
    default, ceiling = SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT, SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD
    return _limit(max_results, default, ceiling)


def versions_limit(max_results: Any) -> int:
    return _limit(max_results, SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT, SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD)


def without_prompts(filter_string: str | None) -> str | None:
    """MLflow keeps prompts among registered models; a modelreg registry holds none, and a
    search for them finds nothing (the filter says so, as in MLflow's stores)."""
    wanted: str | None = add_prompt_filter_string(filter_string, is_prompt=False)
    return wanted


def model_names_in(filter_string: str | None) -> set[str] | None:
    """The model names a version filter pins with ``name = '...'`` (None: any model), so that a
    search of one model's versions reads that model only. A malformed filter is refused here."""
    if not filter_string:
        return None
    names: set[str] | None = None
    for clause in SearchModelVersionUtils.parse_search_filter(filter_string):
        if clause.get("type") == "attribute" and clause.get("key") == "name" and clause.get("comparator") == "=":
            value = {str(clause.get("value"))}
            names = value if names is None else names & value
    return names


def page(
    items: list[T],
    filter_string: str | None,
    order_by: list[str] | None,
    page_token: str | None,
    limit: int,
    *,
    versions: bool,
) -> PagedList[T]:
    utils = SearchModelVersionUtils if versions else SearchModelUtils
    chosen = utils.filter(items, filter_string)
    ordered = utils.sort(chosen, order_by or (DEFAULT_VERSION_ORDER if versions else None))
    start = SearchUtils.parse_start_offset_from_page_token(page_token)
    end = start + limit
    return PagedList(ordered[start:end], SearchUtils.create_page_token(end) if end < len(ordered) else None)
