"""The pipeline runner: parameters, steps with progress and cancellation, outputs."""
