"""How a computation runs, below every method: data-parallel processes (`distributed`) and training
precisions (`precision`)."""
