"""Waiting for a condition in the page under the site's Content-Security-Policy.

Playwright's ``page.wait_for_function`` compiles its predicate with ``eval`` inside the page, which
the policy (``script-src 'self'``, no ``'unsafe-eval'``) refuses; ``page.evaluate`` goes through the
DevTools protocol, which the policy does not govern. So the polling happens here.
"""

import time


def wait_until(page, expression, timeout=15.0, interval=0.05):
    """Poll the JavaScript ``expression`` in ``page`` until it is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"Still false after {timeout} s: {expression}")
        page.wait_for_timeout(interval * 1000)
