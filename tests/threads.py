"""Running the same work in several threads at once, against the real database."""

import threading
from concurrent.futures import ThreadPoolExecutor

from django.db import connection, connections


def run_together(work, threads: int = 2) -> list[Exception]:
    """Start ``work()`` in ``threads`` threads released together; what they raised (each closes its connection)."""
    start = threading.Barrier(threads)
    errors: list[Exception] = []

    def worker():
        try:
            start.wait()
            work()
        except Exception as error:  # surfaced to the test
            errors.append(error)
        finally:
            connection.close()

    running = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    return errors


def run_concurrently(task, arguments, workers=40):
    """Run ``task(argument)`` for each argument on ``workers`` threads that start together.

    Returns the outcomes in order: each a result or the exception raised.
    """
    arguments = list(arguments)
    workers = min(workers, len(arguments))
    all_started = threading.Barrier(workers)

    def guarded(argument):
        try:
            return task(argument)
        except Exception as error:  # the outcome under test, whatever it is
            return error
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=workers, initializer=all_started.wait) as pool:
        return list(pool.map(guarded, arguments))
