"""Test support, never used by a deploy: throwaway infrastructure containers, the bounded
load generator, the resilience report, in-image test runs and the nox sessions' helpers."""
