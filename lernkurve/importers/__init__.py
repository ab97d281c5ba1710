"""Other tools' logs as Lernkurve runs: TensorBoard event files. Imports only the store."""
