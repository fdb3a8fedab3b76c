"""Job types: one module each, registered with :mod:`crewhouse.jobs.registry` on import (see ``base.py``)."""
