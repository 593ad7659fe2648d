"""Readers/writers and small helpers for the dataset formats the subprojects share."""
