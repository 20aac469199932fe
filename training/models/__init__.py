"""Training registers: base models, fine-tune jobs and their events, adapter versions, evaluations."""

from training.models.adapters import AdapterVersion, Evaluation
from training.models.base_models import BaseModel
from training.models.jobs import FineTuneEvent, FineTuneJob

__all__ = ["AdapterVersion", "BaseModel", "Evaluation", "FineTuneEvent", "FineTuneJob"]
