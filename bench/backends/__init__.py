"""Real backends the lab starts itself (or finds through an environment variable): Redis."""
