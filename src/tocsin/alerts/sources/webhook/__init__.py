"""A generic JSON webhook: any JSON object, fields located by per-integration dot paths."""
