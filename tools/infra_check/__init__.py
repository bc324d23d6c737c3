"""Offline checks of the Bicep under infra/ (no Bicep CLI here): schema check against Azure's type data."""
