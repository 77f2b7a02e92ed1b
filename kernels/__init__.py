"""Pure numba kernels: numpy arrays in, arrays out. No I/O, no asyncio, no Python objects.

The service (`kefu_floor`) owns the arrays and calls these functions; the column layout
of every state array lives in `kernels.layout` so both sides agree on it.
"""
