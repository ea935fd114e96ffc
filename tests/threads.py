"""Running the same work in several threads at once, against the real database."""

import threading

from django.db import connection


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
