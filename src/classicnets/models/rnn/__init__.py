"""Recurrent networks (Elman RNN, LSTM, GRU): config, headless model, language model, classifier and forecaster."""

from .configuration_rnn import RNNConfig
from .modeling_rnn import (
    RNNCache,
    RNNForCausalLM,
    RNNForecastOutput,
    RNNForSequenceClassification,
    RNNForTimeSeriesForecasting,
    RNNModel,
    RNNModelOutput,
    RNNPreTrainedModel,
    convert_rnn_state_dict,
)

__all__ = [
    "RNNConfig",
    "RNNCache",
    "RNNPreTrainedModel",
    "RNNModel",
    "RNNForCausalLM",
    "RNNForSequenceClassification",
    "RNNForTimeSeriesForecasting",
    "RNNModelOutput",
    "RNNForecastOutput",
    "convert_rnn_state_dict",
]
