"""How a computation runs, below every method: data-parallel processes (`distributed`) and precisions
(`precision`: fp32, or bf16 layers with float32 weights and losses)."""
