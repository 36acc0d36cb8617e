"""Shared constants and helpers below every other room: labels, input size, hashing, quiet imports, memory."""
