"""Embedding real images into W+: the optimisation (Sec. 3.2, App. A.2), pivotal tuning (beyond the paper),
the settings presets and the fidelity of a reconstruction."""
