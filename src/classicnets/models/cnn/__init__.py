"""Convolutional networks (LeNet-5, VGG- and ResNet-style): config, headless model and classifier."""

from .configuration_cnn import CNNConfig
from .modeling_cnn import CNNForImageClassification, CNNModel, CNNPreTrainedModel

__all__ = ["CNNConfig", "CNNPreTrainedModel", "CNNModel", "CNNForImageClassification"]
