"""Simulated machines for tests, benchmarks and the demo.

Each simulator has two halves: a pure model (numpy, no I/O; usable offline and faster
than real time) and a server that publishes the model through a real industrial protocol
on loopback. Simulators import only :mod:`shopfloor.model`, :mod:`shopfloor.errors` and
third-party libraries.

- :mod:`shopfloor.sim.cnc`: a CNC machining centre over OPC UA, with a physically
  modelled spindle accelerometer and injectable, growing bearing faults.
"""
