"""The database both sides talk through: tables, the engine and its locks, point blocks,
migrations, reads for the charts and the files checkpoints leave. Imports only lernkurve.shared."""
