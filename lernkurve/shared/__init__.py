"""What the training side and the web side share: rules (hparam schemas and their checks,
configs as plain data, recipes, the built-in tasks' specs) and where files live. Imports
nothing else of Lernkurve."""
