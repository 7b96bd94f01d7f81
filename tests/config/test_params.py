"""The parameter models of steps and outputs stay in step with what the steps take."""

from __future__ import annotations

import inspect
import typing

import pytest
from pydantic import ValidationError

from shopfloor.features import FeatureSet
from shopfloor.pipelines.params import (
    OUTPUT_PARAMS,
    STEP_PARAMS,
    AlertOutputParams,
    FeaturesParams,
    ModelParams,
)
from shopfloor.pipelines.steps import STEP_KINDS, ModelStep


def test_every_step_kind_and_output_kind_has_a_parameter_model() -> None:
    assert set(STEP_PARAMS) == set(STEP_KINDS)
    assert set(OUTPUT_PARAMS) == {"store", "bus", "alert"}


def test_the_features_parameters_are_those_of_feature_set_plus_speed() -> None:
    keywords = {p for p in inspect.signature(FeatureSet.__init__).parameters if p != "self"}
    assert set(FeaturesParams.model_fields) == keywords | {"speed"}


def test_the_model_types_are_those_the_step_fits() -> None:
    literal = ModelParams.model_fields["type"].annotation
    assert set(typing.get_args(literal)) == set(ModelStep.TYPES)


def test_defaults_give_the_same_feature_set() -> None:
    params = FeaturesParams().model_dump(exclude={"features", "speed", "bearing"})
    assert FeatureSet(None, **params) == FeatureSet()


def test_an_alert_needs_one_threshold() -> None:
    with pytest.raises(ValidationError, match="exactly one of 'above' or 'below'"):
        AlertOutputParams.model_validate({"column": "x"})
    assert FeaturesParams.model_validate({"features": "rms"}).features == ["rms"]
