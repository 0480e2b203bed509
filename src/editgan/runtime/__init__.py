"""How a computation runs, below every method: data-parallel processes (`distributed`), precisions
(`precision`: fp32, or bf16 layers with float32 weights and losses) and the C allocator's reuse of
freed memory (`allocator`)."""
