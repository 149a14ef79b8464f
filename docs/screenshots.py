"""Screenshots of the product for the README, from the demo data, so they stay current.

Run the app with its demo data (``bin/serve``: it seeds ``acme`` on first run), then::

    .venv/bin/python docs/screenshots.py [--base-url http://127.0.0.1:8000] [--out docs/screenshots]

It signs in as ``admin-acme`` (the demo password) in Debian's Chromium (Playwright) and saves the
interactions list, an interaction, the request form and a request's results as PNG files.
"""

import argparse
import os
import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
PAGES = ("interactions-list", "interaction", "request-form", "request-results")


def main(argv=None):
    """Sign in, visit the four pages, save one PNG each; exit 1 with a message when a page is missing."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "screenshots"))
    parser.add_argument("--tenant", default="acme")
    parser.add_argument("--user", default="admin-acme")
    parser.add_argument("--password", default="holdfast-demo")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base, tenant = args.base_url.rstrip("/"), f"/t/{args.tenant}"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{base}/login/")
        page.fill("#id_username", args.user)
        page.fill("#id_password", args.password)
        page.click("button[type=submit]")
        page.wait_for_load_state()

        page.goto(f"{base}{tenant}/interactions/")
        page.screenshot(path=str(out / "interactions-list.png"))
        row = page.locator("#interactions tbody tr[data-guid]").first
        if not row.count():
            sys.exit("No interactions: run bin/serve once (it loads the demo data) or manage.py seed_demo.")
        guid = row.get_attribute("data-guid")
        row.locator("td.start a").click()
        page.wait_for_load_state()
        page.screenshot(path=str(out / "interaction.png"), full_page=True)

        page.goto(
            f"{base}{tenant}/configuration/artifacts-management-requests/new/?request_type=delete&artifact_type=any"
        )
        page.screenshot(path=str(out / "request-form.png"), full_page=True)

        page.goto(f"{base}{tenant}/configuration/artifacts-management-requests/")
        request = page.locator("table.requests tbody tr.rowlink a").first
        if not request.count():
            # The demo has no request yet: protect the first interaction through the form, as a user would.
            page.goto(
                f"{base}{tenant}/configuration/artifacts-management-requests/new/?request_type=add_lock"
                f"&artifact_type=any&interaction_ids={guid}&description=Screenshot"
            )
            page.check("#id_confirm_add_lock")
            page.click("#request-submit")
            page.wait_for_load_state()
        else:
            request.click()
            page.wait_for_load_state()
        page.screenshot(path=str(out / "request-results.png"), full_page=True)
        browser.close()
    print(f"Screenshots in {out}: " + ", ".join(f"{name}.png" for name in PAGES))


if __name__ == "__main__":
    main()
