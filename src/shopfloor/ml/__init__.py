"""Models: training, the model contract and the registry (configuration so far)."""
