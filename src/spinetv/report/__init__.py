"""JSON reports and QA figures."""
