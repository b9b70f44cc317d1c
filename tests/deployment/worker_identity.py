"""``[core] hostname_callable`` of the deployment: each Celery worker reports its own name.

All workers of the test deployment share one machine, so the machine's name cannot tell them
apart; with ``MAILGUN_DEPLOY_WORKER=w1`` in a worker's environment the task instances it runs record
``hostname = "w1"`` (visible in the REST API's task instance tries). Other processes use the FQDN.
"""

from __future__ import annotations

import os
import socket

WORKER_NAME_VAR = "MAILGUN_DEPLOY_WORKER"


def hostname() -> str:
    return os.environ.get(WORKER_NAME_VAR) or socket.getfqdn()
