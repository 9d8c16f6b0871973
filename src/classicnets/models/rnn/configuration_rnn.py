"""Configuration of recurrent networks: the Elman RNN, the LSTM and the GRU.

A recurrent layer reads a sequence ``x_1 .. x_T`` and carries a state from step to step,
``h_t = f(x_t, h_{t-1})``. The three cells are

- ``rnn``: Elman, "Finding structure in time", Cognitive Science 1990: ``h_t = tanh(W_ih x_t + W_hh h_{t-1} + b_h)``;
- ``lstm``: Hochreiter & Schmidhuber, "Long short-term memory", Neural Computation 1997, with the forget gate of
  Gers, Schmidhuber & Cummins, "Learning to forget", Neural Computation 2000;
- ``gru``: Cho et al., "Learning phrase representations using RNN encoder-decoder for statistical machine
  translation", EMNLP 2014 (arXiv:1406.1078).

Layers are stacked (the outputs of layer ``l`` are the inputs of layer ``l + 1``, with dropout between them) and may be
bidirectional (Schuster & Paliwal, "Bidirectional recurrent neural networks", IEEE Trans. Signal Processing 1997).
The inputs are token ids (``vocab_size``: language models, text classifiers) or real-valued feature vectors
(``input_size``: time series). This file imports only ``transformers`` so that it can travel inside a checkpoint as
remote code.
"""

import math

from transformers import PretrainedConfig

RNN_CELL_TYPES = ("rnn", "lstm", "gru")
RNN_IMPLEMENTATIONS = ("torch", "scratch")


class RNNConfig(PretrainedConfig):
    r"""Configuration of an [`RNNModel`] and its heads.

    Give exactly one of ``vocab_size`` (token inputs, embedded in ``embedding_size`` dimensions) or ``input_size``
    (real-valued inputs of that many features per time step, e.g. a multivariate time series).

    Args:
        cell_type (`str`, defaults to `"lstm"`): the recurrent cell: rnn (Elman), lstm or gru.
        implementation (`str`, defaults to `"torch"`): "torch" runs the fused `nn.RNN`/`nn.LSTM`/`nn.GRU`;
            "scratch" runs cells written from the equations, one time step at a time, with parameters named after
            the maths (``W_ii``, ``W_hf``, ``b_o`` ...). Both compute the same function; `convert_rnn_state_dict`
            copies weights between them.
        vocab_size (`int`, *optional*): number of token ids (token inputs).
        input_size (`int`, *optional*): number of real-valued features per time step (time-series inputs).
        embedding_size (`int`, *optional*): width of the token embeddings; defaults to ``hidden_size``.
        hidden_size (`int`, defaults to 128): width of the state ``h_t`` of each direction of each layer.
        num_layers (`int`, defaults to 1): stacked recurrent layers (also readable as ``num_hidden_layers``).
        bidirectional (`bool`, defaults to `False`): run a second, time-reversed recurrence in every layer and
            concatenate the two states. Not for language models (the backward direction reads the future).
        hidden_dropout_prob (`float`, defaults to 0.0): dropout on the outputs of every recurrent layer but the last
            (between layers, as in Zaremba, Sutskever & Vinyals 2014, arXiv:1409.2329).
        classifier_dropout_prob (`float`, defaults to 0.0): dropout before the output layer of the heads.
        projection_size (`int`, *optional*): a linear projection of the last layer's output before the language-model
            decoder; lets a model tie its decoder to embeddings narrower than ``hidden_size``.
        tie_word_embeddings (`bool`, defaults to `False`): share the decoder matrix of the language model with the
            input embeddings (Press & Wolf 2017, arXiv:1608.05859; Inan et al. 2017, arXiv:1611.01462). Needs
            ``projection_size`` (or ``hidden_size`` when there is no projection) equal to ``embedding_size``.
        prediction_length (`int`, defaults to 1): number of future steps the forecasting head predicts at once.
        input_mean / input_std (`list[float]`, *optional*): per-feature mean and standard deviation of the training
            series (input standardisation for real-valued inputs). When set, the forecasting head reads
            ``(x - mean) / std``, predicts in those units and returns its predictions in the original units, so a
            saved model takes and returns raw values; its MSE loss is measured in standardised units.
        forecast_from_last (`bool`, defaults to `False`): the forecasting head predicts the change from the last
            observed value, ``y_hat_{t+k} = x_t + std * head(s)``: a net with a zero head is the naive forecast, and
            levels outside the training range (where a saturating state cannot follow) keep the naive forecast's
            accuracy.
        forget_bias (`float`, defaults to 1.0): initial bias of the LSTM forget gate (Gers et al. 2000;
            Jozefowicz, Zaremba & Sutskever, "An empirical exploration of recurrent network architectures", ICML 2015).
        initializer_range (`float`, defaults to 0.1): half-width of the uniform initialisation of the embeddings.
        pad_token_id / bos_token_id / eos_token_id (`int`, *optional*): special token ids of a token vocabulary.
        num_labels (`int`, defaults to 2): classes of the sequence-classification head.

    Example:
        ```python
        >>> from classicnets import RNNConfig, RNNForCausalLM
        >>> config = RNNConfig(cell_type="lstm", vocab_size=96, hidden_size=256, num_layers=2, tie_word_embeddings=True)
        >>> model = RNNForCausalLM(config)
        >>> config.num_hidden_layers
        2
        ```
    """

    model_type = "classicnets_rnn"
    attribute_map = {"num_hidden_layers": "num_layers"}

    cell_type: str = "lstm"
    implementation: str = "torch"
    vocab_size: int | None = None
    input_size: int | None = None
    embedding_size: int | None = None
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = False
    hidden_dropout_prob: float = 0.0
    classifier_dropout_prob: float = 0.0
    projection_size: int | None = None
    tie_word_embeddings: bool = False
    prediction_length: int = 1
    input_mean: list[float] | None = None
    input_std: list[float] | None = None
    forecast_from_last: bool = False
    forget_bias: float = 1.0
    initializer_range: float = 0.1
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | None = None

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if self.embedding_size is None and self.vocab_size is not None:
            self.embedding_size = self.hidden_size
        self.validate()

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def is_token_model(self) -> bool:
        """True for token inputs (``vocab_size``), False for real-valued inputs (``input_size``)."""
        return self.vocab_size is not None

    @property
    def first_layer_input_size(self) -> int:
        return self.embedding_size if self.is_token_model else self.input_size

    def validate(self):
        """Checks every field and raises a `ValueError` naming the field, the value and what is allowed."""
        for name in ("hidden_size", "num_layers", "prediction_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        if self.cell_type not in RNN_CELL_TYPES:
            raise ValueError(f"cell_type={self.cell_type!r} is not supported; choose one of {', '.join(RNN_CELL_TYPES)}.")
        if self.implementation not in RNN_IMPLEMENTATIONS:
            raise ValueError(
                f"implementation={self.implementation!r} is not supported; choose one of {', '.join(RNN_IMPLEMENTATIONS)}."
            )
        if (self.vocab_size is None) == (self.input_size is None):
            raise ValueError(
                "RNNConfig needs exactly one kind of input: vocab_size=<number of token ids> for token inputs, or "
                f"input_size=<features per step> for real-valued inputs; got vocab_size={self.vocab_size!r}, "
                f"input_size={self.input_size!r}."
            )
        for name in ("vocab_size", "input_size", "embedding_size", "projection_size"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
                raise ValueError(f"{name} must be a positive int or None, got {value!r}.")
        if not self.is_token_model and self.embedding_size is not None:
            raise ValueError(
                f"embedding_size={self.embedding_size} is for token inputs; a model with input_size={self.input_size} "
                f"feeds its features to the first layer directly. Drop embedding_size."
            )
        if not isinstance(self.bidirectional, bool):
            raise ValueError(f"bidirectional must be True or False, got {self.bidirectional!r}.")
        for name in ("hidden_dropout_prob", "classifier_dropout_prob"):
            p = getattr(self, name)
            if not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1), got {p!r}.")
        if self.tie_word_embeddings:
            if not self.is_token_model:
                raise ValueError(
                    f"tie_word_embeddings=True needs token inputs (vocab_size); this config reads input_size="
                    f"{self.input_size} real-valued features and has no embeddings to tie."
                )
            decoder_in = self.projection_size or self.hidden_size
            if decoder_in != self.embedding_size:
                source = f"projection_size={self.projection_size}" if self.projection_size else f"hidden_size={self.hidden_size}"
                raise ValueError(
                    f"tie_word_embeddings=True shares the decoder with the embeddings, so the decoder input ({source}) "
                    f"must equal embedding_size={self.embedding_size}; set projection_size={self.embedding_size} or "
                    f"tie_word_embeddings=False."
                )
        if (self.input_mean is None) != (self.input_std is None):
            raise ValueError("Give both input_mean and input_std (the training series' statistics), or neither.")
        if self.input_mean is not None:
            if self.is_token_model:
                raise ValueError("input_mean/input_std standardise real-valued inputs; a token model (vocab_size) has none.")
            for name in ("input_mean", "input_std"):
                value = getattr(self, name)
                if not isinstance(value, (list, tuple)) or len(value) != self.input_size or not all(
                    isinstance(v, (int, float)) and math.isfinite(v) for v in value
                ):
                    raise ValueError(f"{name} must be a list of {self.input_size} finite numbers (one per input "
                                     f"feature), got {value!r}.")
            if not all(v > 0 for v in self.input_std):
                raise ValueError(f"input_std must be > 0 for every feature, got {self.input_std!r}; a constant "
                                 f"feature carries no information, drop it.")
            self.input_mean, self.input_std = [float(v) for v in self.input_mean], [float(v) for v in self.input_std]
        if self.initializer_range <= 0:
            raise ValueError(f"initializer_range must be > 0, got {self.initializer_range!r}.")
        if self.num_labels is None or self.num_labels < 1:
            raise ValueError(f"num_labels must be >= 1, got {self.num_labels!r}.")
        for name in ("pad_token_id", "bos_token_id", "eos_token_id"):
            value = getattr(self, name)
            if value is None:
                continue
            if not self.is_token_model:
                raise ValueError(f"{name}={value} is for token inputs; a model with input_size has no token ids.")
            if not isinstance(value, int) or not 0 <= value < self.vocab_size:
                raise ValueError(f"{name} must be a token id in [0, vocab_size={self.vocab_size}), got {value!r}.")


__all__ = ["RNNConfig", "RNN_CELL_TYPES", "RNN_IMPLEMENTATIONS"]
