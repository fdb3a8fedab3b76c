"""One botocore data loader for every boto3 session a test process makes.

A botocore session parses its JSON data files (endpoints, each service's model) once, in its own loader. The
tests make a session per test at least: ``mock_aws`` resets ``boto3.DEFAULT_SESSION`` each time it starts, and
``crewhouse.core.aws.clear_clients`` drops the functions' session with it. Each fresh session parsed the same
files again (about 150 ms of CPU for its first two clients, over a minute in the component tier). The
files never change while the process runs, so sessions share one loader: each file is parsed once per process.
Sessions, their credentials and their clients stay separate, as before.
"""

from __future__ import annotations

import functools
from typing import Any

import botocore.loaders
import botocore.session


@functools.cache
def _shared_loader(search_path_string: str | None = None) -> Any:
    return botocore.loaders.create_loader(search_path_string)


def share_botocore_loader() -> None:
    """Make every botocore session of this process use one loader per data path (idempotent)."""
    botocore.session.create_loader = _shared_loader
