"""Medication attribute extraction: rules, finding in text, and linking to drug mentions."""
