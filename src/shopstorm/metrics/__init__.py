"""Measurements of a run: HDR latency histograms per request name and per journey, mergeable across workers."""
