"""The training side: a script's run (``lernkurve.init``), its writer thread, live steering,
trials, the autopilot, gradient health and distributed jobs. Never imports the web side."""
