"""Training: balanced minibatches of crops and the optimisation loop."""
