"""Media analysis: one decode per stream kind fans out to analyzers; derivers (embedders) run on their results.

See vidpipe.analysis.base for the contract and vidpipe.stages.analyze for the stage.
"""
