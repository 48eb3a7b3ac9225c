"""Paper-style figures and readable reports from tidy benchmark results. Reads results; never
recomputes them."""
