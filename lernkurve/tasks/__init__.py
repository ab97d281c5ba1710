"""The built-in demo tasks, trained by the app's worker or from a terminal (``lernkurve train``)."""
