"""What an iFlow is: its description from ``cpimock.toml`` or from a CPI export, and the load report."""
