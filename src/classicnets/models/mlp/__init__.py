"""Multilayer perceptron: config, headless model and heads."""

from .configuration_mlp import MLPConfig
from .modeling_mlp import (
    MLPForImageClassification,
    MLPForTabularClassification,
    MLPForTabularRegression,
    MLPModel,
    MLPPreTrainedModel,
    RegressionOutput,
)

__all__ = [
    "MLPConfig",
    "MLPPreTrainedModel",
    "MLPModel",
    "MLPForImageClassification",
    "MLPForTabularClassification",
    "MLPForTabularRegression",
    "RegressionOutput",
]
