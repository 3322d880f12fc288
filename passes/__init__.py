"""vmlir's passes: one file, one pass, one name (see docs/architecture.md)."""

DEFAULT_PIPELINE = "batch-propagate-axes,batch-mask-control-flow,batch-chunk,batch-vectorize,batch-fuse,batch-lower"
"""What `vmlir.compile` runs when no pipeline is given."""
