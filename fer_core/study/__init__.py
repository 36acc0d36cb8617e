"""Studies: many participants, stimulus windows, group results with confidence intervals."""
