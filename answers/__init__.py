"""Answers from a deployed model: retrieval for knowledge, the adapter for behaviour, a record of each."""
