"""What a page may ask of the playground, and the bounds on it: one pydantic model per request.

The same names are the page's URL parameters (``?data=xor&hidden=4,2&activation=tanh,tanh``), so
a shared link and an API call are validated by the same rules; anything outside them gets a 422
that names the field and the limit.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chainrule.toys import REGRESSION, TOYS

MAX_HIDDEN_LAYERS = 6
MAX_NEURONS = 8
MIN_SAMPLES, MAX_SAMPLES = 10, 2000  # rows of a toy set or of an uploaded CSV
MAX_CLASSES = 10
MAX_SEED = 2**31 - 1

DataName = Literal["xor", "circles", "moons", "spiral", "gaussians", "plane", "csv"]
HiddenActivation = Literal["tanh", "relu", "leaky_relu", "sigmoid", "identity"]
LossName = Literal["cross_entropy", "binary_cross_entropy", "squared_error"]
OptimizerName = Literal["sgd", "momentum", "nesterov", "adam"]
FeatureName = Literal["x1", "x2", "x1_squared", "x2_squared", "x1_x2", "sin_x1", "sin_x2"]
FEATURE_NAMES: tuple[str, ...] = get_args(FeatureName)  # the inputs the network may take (`features`)
MULTICLASS = ("spiral", "gaussians")  # the toys with 2..10 classes; the others have 2


class Strict(BaseModel):
    """Unknown fields, NaN and infinity are refused rather than ignored."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Settings(Strict):
    """The data, the network and its training: everything the page's controls set."""

    data: DataName = "xor"
    classes: int = Field(2, ge=2, le=MAX_CLASSES)
    samples: int = Field(400, ge=MIN_SAMPLES, le=MAX_SAMPLES)
    noise: float = Field(0.1, ge=0, le=1)
    test_fraction: float = Field(0.5, ge=0.1, le=0.9)
    hidden: list[Annotated[int, Field(ge=1, le=MAX_NEURONS)]] = Field(
        default_factory=lambda: [4, 2], max_length=MAX_HIDDEN_LAYERS
    )
    activation: list[HiddenActivation] = Field(
        default_factory=lambda: ["tanh", "tanh"], max_length=MAX_HIDDEN_LAYERS
    )
    features: list[FeatureName] = Field(
        default_factory=lambda: ["x1", "x2"], min_length=1, max_length=len(FEATURE_NAMES)
    )
    loss: LossName = "cross_entropy"
    optimizer: OptimizerName = "sgd"
    lr: float = Field(0.03, gt=0, le=10)
    batch_size: int = Field(10, ge=1, le=MAX_SAMPLES)
    l2: float = Field(0.0, ge=0, le=1)
    l1: float = Field(0.0, ge=0, le=1)
    dropout: float = Field(0.0, ge=0, le=0.9)
    seed: int = Field(0, ge=0, le=MAX_SEED)

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if len(self.activation) != len(self.hidden):
            raise ValueError(
                f"give one activation per hidden layer: {len(self.hidden)} hidden layer(s) but "
                f"{len(self.activation)} activation(s)"
            )
        if len(set(self.features)) != len(self.features):
            raise ValueError("input features: choose each feature at most once")
        if self.classes != 2 and self.data not in MULTICLASS:
            raise ValueError(
                f"{self.data} has 2 classes; classes={self.classes} works with spiral and gaussians"
            )
        if self.data in REGRESSION and self.loss != "squared_error":
            raise ValueError(f"{self.data} is a regression data set: use loss squared_error")
        if self.data in TOYS and self.data not in REGRESSION and self.loss == "squared_error":
            raise ValueError(
                f"{self.data} is a classification data set: use loss cross_entropy or binary_cross_entropy"
            )
        if self.loss == "binary_cross_entropy" and self.classes != 2:
            raise ValueError("binary_cross_entropy has one sigmoid output: it needs 2 classes")
        return self


MAX_SPEED = 10_000  # steps per second: above it, "full speed" (None) says what is meant


class Run(Strict):
    """Train (True) or pause (False); ``speed`` is the pace in steps per second, None for as fast as
    the machine goes."""

    running: bool
    speed: float | None = Field(None, gt=0, le=MAX_SPEED)


class Step(Strict):
    """One iteration; ``sample`` is the training example whose a and δ the page shows."""

    sample: int = Field(0, ge=0, lt=MAX_SAMPLES)
