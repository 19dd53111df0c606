"""Fault injection: every failure path of issue 10, each with its exact outcome."""
