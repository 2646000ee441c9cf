"""Acquisition: polls the meters on each bus and turns their replies into readings."""
