"""Simulators, load generators and benchmarks for kefu-floor (DESIGN.md §1).

`acd` is the discrete-event ACD floor model, `erlang` the queueing formulas it is checked
against, `files` writes a simulated run as replay files, `bench` measures the kernels.
"""
