"""The celery executor's common ground: the Celery app both sides make, and the notes they keep beside its queue.

Importing this module is the check that the `celery` extra is installed: without it, ToolMissing
says how to install it. Only the celery executor and `signoff worker` import it.

In the broker's Redis, beside Celery's own keys (the queue ``signoff``, kombu's ``unacked``):
``signoff:jobs``           hash: task id -> job, for each task the service still wants done;
                           a worker skips a task that is not there (the service gave up on it)
``signoff:worker:NODE``    a worker's heartbeat (JSON), set every fifth of ``worker_timeout``
                           and gone after it: the service takes its absence for the worker's death
``signoff:kept``           set by the service (in the result backend's Redis too, if that is
                           another); its absence means Redis lost its data (restarted without
                           persistence, or flushed): the tasks and results out went with it
"""

from __future__ import annotations

import json
from typing import Any

from pipeline.errors import BrokerUnreachable, ToolMissing
from pipeline.settings import Settings, redact_url

INSTALL_HINT = (
    "the celery executor needs the celery extra: pip install 'signoff[celery]' "
    "(in a checkout: .venv/bin/pip install -e '.[celery]')"
)

try:
    import redis
    from celery import Celery
    from celery.backends.redis import RedisBackend
except ImportError:
    raise ToolMissing(INSTALL_HINT, stage="setup") from None

__all__ = ["INSTALL_HINT", "QUEUE", "TASK", "Board", "PolledRedisBackend", "lost_data", "make_app"]

QUEUE = "signoff"  # one `signoff watch` per broker database: it purges the queue when it starts
TASK = "signoff.read"
JOBS_KEY = "signoff:jobs"
WORKER_KEY = "signoff:worker:"
KEPT_KEY = "signoff:kept"
# A result waits in the backend until the service takes it (within a second) and deletes it; this
# is how long one nobody takes (the service restarted meanwhile) is kept.
RESULT_EXPIRES = 3600
# kombu gives a task taken by a worker that never acknowledged it (killed) to another after this
# long. The service does not wait for that: it sees the worker's heartbeat stop and sends the task
# again itself. This only sweeps such tasks out of `unacked`; the worker that gets one skips it.
VISIBILITY_TIMEOUT = 3600
BROKER_TIMEOUT = 5.0  # seconds for a Redis call of ours or of the result backend before it counts as down


class PolledRedisBackend(RedisBackend):  # type: ignore[misc]
    """Celery's Redis result backend, read by polling (the service reads all its tasks' results in one
    MGET a tick) instead of a subscription per task, whose messages would pile up unread."""

    def on_task_call(self, producer: Any, task_id: str) -> None:
        return None


def make_app(settings: Settings) -> Celery:
    """The Celery app of the service (which sends) and of a worker (which reads), from the same settings."""
    assert settings.broker, "validate() makes the celery executor name a broker"
    backend = settings.result_backend or settings.broker
    app = Celery("signoff", broker=settings.broker, backend=f"{__name__}:PolledRedisBackend+{backend}", set_as_current=False)
    app.conf.update(
        # JSON only, both ways (pipeline.service.wire): nothing over the broker can run code.
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        # A task is acknowledged once its worker stored what it read; a worker killed before that
        # never acknowledges it. One task at a time per worker process, none reserved behind it.
        task_acks_late=True,
        task_reject_on_worker_lost=False,
        worker_prefetch_multiplier=1,
        # STARTED (with the worker's name) tells the service who holds a task.
        task_track_started=True,
        task_default_queue=QUEUE,
        result_expires=RESULT_EXPIRES,
        broker_transport_options={
            "visibility_timeout": VISIBILITY_TIMEOUT,
            "socket_timeout": 30,  # above kombu's one-second BRPOP; a dead connection is noticed
            "socket_connect_timeout": BROKER_TIMEOUT,
        },
        broker_connection_retry_on_startup=True,
        redis_socket_timeout=BROKER_TIMEOUT,
        redis_socket_connect_timeout=BROKER_TIMEOUT,
        # Logs are ours (stderr, text or JSON lines); Celery's own go there too, through the root logger.
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
    )
    return app


def lost_data(client: Any) -> bool:
    """Whether this Redis lost its data since the last call (restarted empty, or flushed); marks it
    again, so the next call says False. One round trip: SET NX of signoff:kept."""
    return bool(client.set(KEPT_KEY, b"1", nx=True))


class Board:
    """The notes beside the queue, in the broker's Redis: which tasks the service wants, which workers live."""

    def __init__(self, url: str, timeout: float = BROKER_TIMEOUT) -> None:
        self.url = url
        self.client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)

    errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)

    def ping(self) -> None:
        """Raises BrokerUnreachable (exit code 3) with one line saying why."""
        try:
            self.client.ping()
        except self.errors as exc:
            raise BrokerUnreachable(
                f"the broker {redact_url(self.url)} does not answer ({exc}); is Redis running there?", stage="setup"
            ) from None

    def close(self) -> None:
        self.client.close()

    # -- the service's side ---------------------------------------------------------------------------
    def want(self, task_id: str, job: str) -> None:
        self.client.hset(JOBS_KEY, task_id, job)

    def unwant(self, *task_ids: str) -> None:
        if task_ids:
            self.client.hdel(JOBS_KEY, *task_ids)

    def clear(self) -> None:
        """Forget every job an earlier run of the service wanted; their tasks are skipped when taken."""
        self.client.delete(JOBS_KEY)

    def depth(self) -> int:
        """Tasks waiting in the queue for a worker."""
        return int(self.client.llen(QUEUE))

    def workers(self) -> dict[str, dict[str, Any]]:
        """The workers alive: node name -> its last heartbeat."""
        keys = list(self.client.scan_iter(match=WORKER_KEY + "*", count=500))
        out: dict[str, dict[str, Any]] = {}
        for key, raw in zip(keys, self.client.mget(keys) if keys else []):
            if raw is None:
                continue  # expired between the two calls
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict):
                out[key.decode(errors="replace").removeprefix(WORKER_KEY)] = record
        return out

    # -- a worker's side ------------------------------------------------------------------------------
    def wanted(self, task_id: str) -> bool:
        return bool(self.client.hexists(JOBS_KEY, task_id))

    def beat(self, node: str, record: dict[str, Any], ttl: float) -> None:
        self.client.set(WORKER_KEY + node, json.dumps(record), px=max(1000, int(ttl * 1000)))

    def gone(self, node: str) -> None:
        self.client.delete(WORKER_KEY + node)
