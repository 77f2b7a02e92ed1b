"""Pure numba kernels: numpy arrays in, arrays out. No I/O, no asyncio, no Python objects.

The service (`kefu_floor`) owns the arrays and calls these functions; the column layout
of every state array lives in `kernels.layout` so both sides agree on it. How a process
runs them (numba's JIT, or the extension compiled ahead of time for a replay) is
`kernels.compiled`; importing this package alone loads neither.
"""
