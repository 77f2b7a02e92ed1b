"""Simulators and load generators for kefu-floor (DESIGN.md §1); the benchmarks that drive
them are in `benchmarks/`.

`acd` is the discrete-event ACD floor model, `erlang` the queueing formulas it is checked
against, `files` writes a simulated run as replay files, `publish` and `load` send events to
a broker, `queuelog` writes a day as Asterisk's queue_log, `fuzz` draws hostile payloads.
"""
