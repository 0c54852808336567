"""The scale benchmark (issue #12): ``make bench`` or ``python -m paramedic_dev.bench``.

It measures the operator from the outside only (the API server's audit log,
watches, /proc), so it measures any design of the operator alike.
"""
