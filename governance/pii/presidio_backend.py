"""The presidio and spaCy side of PII scanning, imported only when a scan or mask first runs.

Kept apart from governance/pii/engine.py so that importing the services (and so every management
command, through the admin) does not load presidio, spaCy and torch: they cost seconds and memory.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass

import spacy
from presidio_analyzer import (
    AnalyzerEngine,
    BatchAnalyzerEngine,
    EntityRecognizer,
    RecognizerRegistry,
    RecognizerResult,
)
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
from presidio_analyzer.nlp_engine import (
    NlpArtifacts,
    NlpEngine,
    NlpEngineProvider,
    NoOpNlpEngine,
    SpacyNlpEngine,
)
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig
from presidio_anonymizer.entities import RecognizerResult as AnonymizerResult
from spacy.language import Language
from spacy.tokens import Doc

from governance.pii.engine import (
    _NON_NER_COMPONENTS,
    ENTITY_TYPES,
    LANGUAGE,
    spacy_nlp_configuration,
)
from governance.pii.recognizers import build_recognizers

logger = logging.getLogger("governance.pii.engine")

__all__ = ["AnonymizerResult", "OperatorConfig", "Scanner", "anonymizer", "build_scanner"]


class NerOnlySpacyNlpEngine(SpacyNlpEngine):
    """presidio's spaCy engine, loading an installed model package with only its NER component."""

    def load(self) -> None:
        """Load each model from its installed package; never download one."""
        loaded: dict[str, Language] = {}
        for model in self.models:
            self._validate_model_params(model)
            name = model["model_name"]
            if not spacy.util.is_package(name):
                raise RuntimeError(f"spaCy model package {name} is not installed")
            loaded[model["lang_code"]] = spacy.load(name, exclude=list(_NON_NER_COMPONENTS))
        # presidio leaves the attribute un-annotated and initialised to None, so mypy infers None.
        self.nlp = loaded  # type: ignore[assignment]

    def _doc_to_nlp_artifact(self, doc: Doc, language: str) -> NlpArtifacts:
        # Without the lemmatizer every lemma is empty, which would blind presidio's context words
        # ("phone", "pesel", "iban"); lower-cased tokens serve, as context matching is by substring.
        entities, scores = self._get_updated_entities(
            list(self._get_entities(doc)), self._get_scores_for_entities(doc)
        )
        return NlpArtifacts(
            entities=entities,
            tokens=doc,
            tokens_indices=[token.idx for token in doc],
            lemmas=[token.lower_ for token in doc],
            nlp_engine=self,
            language=language,
            scores=scores,
        )


class PassThroughContextEnhancer(ContextAwareEnhancer):
    """Context enhancement for the regex engine: it has no tokens to read context from."""

    def __init__(self) -> None:
        super().__init__(
            context_similarity_factor=0,
            min_score_with_context_similarity=0,
            context_prefix_count=0,
            context_suffix_count=0,
        )

    def enhance_using_context(
        self,
        text: str,
        raw_results: list[RecognizerResult],
        nlp_artifacts: NlpArtifacts,
        recognizers: list[EntityRecognizer],
        context: list[str] | None = None,
    ) -> list[RecognizerResult]:
        """Return the results unchanged (presidio's default deep-copies them to find nothing)."""
        return raw_results


def _nlp_engine(engine: str) -> NlpEngine:
    if engine == "spacy":
        provider = NlpEngineProvider(
            nlp_engines=(NerOnlySpacyNlpEngine,), nlp_configuration=spacy_nlp_configuration()
        )
    else:
        provider = NlpEngineProvider(
            nlp_engines=(NoOpNlpEngine,),
            nlp_configuration={
                "nlp_engine_name": "no_op",
                "models": [{"lang_code": LANGUAGE, "model_name": ""}],
            },
        )
    return provider.create_engine()


@dataclass(frozen=True)
class Scanner:
    """A loaded analyzer and the entity types it can find."""

    analyzer: AnalyzerEngine
    batch: BatchAnalyzerEngine
    entities: tuple[str, ...]


def build_scanner(engine: str, regions: tuple[str, ...]) -> Scanner:
    started = time.monotonic()
    nlp_engine = _nlp_engine(engine)
    registry = RecognizerRegistry(recognizers=build_recognizers(regions), supported_languages=[LANGUAGE])
    registry.add_nlp_recognizer(nlp_engine=nlp_engine)  # a no-op for the regex engine
    analyzer = AnalyzerEngine(
        registry=registry,
        nlp_engine=nlp_engine,
        supported_languages=[LANGUAGE],
        context_aware_enhancer=PassThroughContextEnhancer() if engine == "regex" else None,
    )
    supported = set(analyzer.get_supported_entities(LANGUAGE))
    # Asking presidio for a type no recogniser supports logs a warning on every call (PERSON, regex).
    entities = tuple(entity for entity in ENTITY_TYPES if entity in supported)
    logger.info("PII engine %s loaded in %.1f s", engine, time.monotonic() - started)
    return Scanner(analyzer=analyzer, batch=BatchAnalyzerEngine(analyzer_engine=analyzer), entities=entities)


@functools.cache
def anonymizer() -> AnonymizerEngine:
    return AnonymizerEngine()
