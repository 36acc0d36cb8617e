"""Tables and figures of results: emotion timelines and Plotly charts."""
