"""Property tests: prompt validation and body checks fail only with their own 4xx errors."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brushwork.engine.registry import default_registry
from brushwork.engine.validation import PromptValidator, ValidatedPrompt
from brushwork.errors import InvalidJSONError, PromptValidationError
from brushwork.http.limits import check_depth, check_prompt_links
from brushwork.runtime import load_node_module

REGISTRY = default_registry()
load_node_module(REGISTRY, "tests.support.nodes")
CLASS_TYPES = sorted(REGISTRY.object_info())
VALIDATOR = PromptValidator(REGISTRY, max_nodes=50, max_string_length=200)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
node_ids = st.sampled_from(["1", "2", "3", "4", "5", "x"])
links = st.tuples(node_ids, st.integers(min_value=-2, max_value=4)).map(list)
input_values = links | json_values
input_names = st.sampled_from(
    [
        "value",
        "a",
        "b",
        "image",
        "images",
        "width",
        "height",
        "message",
        "select",
        "on_true",
        "count",
        "values",
        "seconds",
        "filename_prefix",
        "color",
        "batch_size",
    ]
) | st.text(max_size=6)
nodes = st.fixed_dictionaries(
    {"class_type": st.sampled_from(CLASS_TYPES) | st.text(max_size=10)},
    optional={"inputs": st.dictionaries(input_names, input_values, max_size=5)},
)
prompts = st.dictionaries(node_ids, nodes | json_values, max_size=6)
FUZZ = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(
    prompt=prompts | json_values,
    targets=st.none() | st.lists(node_ids | st.text(max_size=3), max_size=3),
)
def test_validator_raises_only_validation_errors(prompt, targets):
    try:
        result = VALIDATOR.validate(prompt, targets)
    except PromptValidationError as error:
        assert set(error.body) == {"error", "node_errors"}
        json.dumps(error.body)  # the error body must be serializable
        return
    assert isinstance(result, ValidatedPrompt)
    assert set(result.outputs) <= set(prompt)
    json.dumps(result.prompt, allow_nan=True)


@FUZZ
@given(
    body=st.dictionaries(st.sampled_from(["prompt", "client_id"]), prompts | json_values)
    | json_values
)
def test_link_check_raises_only_validation_errors(body):
    try:
        check_prompt_links(body, max_links=3)
    except PromptValidationError as error:
        assert error.body["error"]["type"] == "invalid_prompt"


@FUZZ
@given(value=json_values, limit=st.integers(min_value=1, max_value=6))
def test_depth_check_matches_definition(value, limit):
    def depth(item) -> int:
        if isinstance(item, dict):
            return 1 + max((depth(v) for v in item.values()), default=0)
        if isinstance(item, list):
            return 1 + max((depth(v) for v in item), default=0)
        return 0

    try:
        check_depth(value, limit)
    except InvalidJSONError:
        assert depth(value) > limit
    else:
        assert depth(value) <= limit
