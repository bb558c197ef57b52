"""What trained models reached, next to chance: the closing summary of a long command
names every model that is still within :data:`CHANCE_MARGIN` of guessing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from store import Catalog

__all__ = ["CHANCE_MARGIN", "ModelOutcome", "model_outcomes"]

#: A model whose accuracy is at most chance + this (2 points) is called out as near chance.
CHANCE_MARGIN = 0.02


@dataclass(frozen=True)
class ModelOutcome:
    """A trained model's accuracy on ``split`` (``"test"``, else ``"val"``: its best
    validation epoch; None when neither is stored) and the chance level of its dataset
    (1 / number of classes; None when the dataset has no classes)."""

    model_id: int
    name: str
    accuracy: float | None
    split: str | None
    chance: float | None

    @property
    def near_chance(self) -> bool:
        """True when the accuracy is within :data:`CHANCE_MARGIN` of chance (or below)."""
        if self.accuracy is None or self.chance is None:
            return False
        return self.accuracy <= self.chance + CHANCE_MARGIN


def model_outcomes(catalog: Catalog, model_ids: Iterable[int]) -> list[ModelOutcome]:
    """The :class:`ModelOutcome` of each model, in the order given."""
    out = []
    for model_id in model_ids:
        model = catalog.get_model(model_id)
        metrics = {m.name: m.value for m in catalog.get_metrics(model_id)
                   if m.step is None or m.name == "best_val_acc"}
        split = "test" if "test_acc" in metrics else "val" if "best_val_acc" in metrics else None
        accuracy = metrics.get("test_acc", metrics.get("best_val_acc"))
        chance = None
        if model.dataset_id is not None:
            classes = catalog.get_dataset(model.dataset_id).num_classes
            chance = 1.0 / classes if classes > 0 else None
        out.append(ModelOutcome(model_id, model.name or str(model_id), accuracy, split, chance))
    return out
