"""Batch classification of letter files (`xinfang classify`): streaming, resumable, on one machine or Ray."""
