"""Walk a review queue in headless chromium as a reviewer would: log in with a key, open the first letter,
then for each of N letters set the sector to the label it came with when the model disagrees (else accept),
with the keyboard only; saves screenshots of the queue and a letter, and prints what was stored.

    xinfang classify LETTERS.jsonl -o OUT.jsonl && xinfang review load OUT.jsonl --texts LETTERS.jsonl
    xinfang serve &   # same XINFANG_STATE_DIR; key: xinfang apikey create --label NAME --role reviewer
    python benchmarks/review_walk.py --base http://127.0.0.1:8000 --key KEY --queue human -n 20 --shots docs
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from xinfang.evaluation.render import find_chromium


def _sector_key(page: Page) -> str | None:
    """The digit that sets the sector to its human label, when one is shown and differs from the model."""
    box = page.locator('fieldset.head[data-head="sector"]')
    human = box.locator("p.human strong")
    if not human.count():
        return None
    wanted = human.inner_text().rsplit("(", 1)[-1].rstrip(")")
    if box.locator("p.model strong").inner_text().endswith(f"({wanted})"):
        return None  # the model agrees: accept
    values = [v.get_attribute("value") for v in box.locator("input").all()]
    return str(values.index(wanted) + 1) if wanted in values and len(values) < 10 else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="http://127.0.0.1:8000")
    ap.add_argument("--key", required=True)
    ap.add_argument("--queue", default="human")
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--shots", type=Path)
    args = ap.parse_args()
    t0 = time.perf_counter()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{args.base}/review/queues/{args.queue}")
        page.fill("#key", args.key)
        page.click("#login")
        page.wait_for_selector("#queue")
        page.keyboard.press("Enter")
        page.wait_for_selector("#correct")
        done = {"set": 0, "accept": 0}
        for i in range(args.n):
            letter = page.locator("h1 code").inner_text()
            key = _sector_key(page)
            if key:
                while page.locator("fieldset.head.focused").get_attribute("data-head") != "sector":
                    page.keyboard.press("j")
                page.keyboard.press(key)
                if args.shots and not (args.shots / "review-letter.png").exists():
                    page.screenshot(path=str(args.shots / "review-letter.png"), full_page=False)
                with page.expect_navigation():
                    page.keyboard.press("Shift+S")  # save, then the next letter
                done["set"] += 1
            else:
                with page.expect_navigation():
                    page.keyboard.press("Shift+A")  # accept the model's answers, then the next letter
                done["accept"] += 1
            print(f"{i + 1:2d} {letter}: {'sector set' if key else 'accepted'}")
            if page.locator("h1 code").inner_text() == letter:
                break  # the end of the queue
        if args.shots:  # the queue with the letters just reviewed
            page.goto(f"{args.base}/review/queues/{args.queue}")
            page.screenshot(path=str(args.shots / "review-queue.png"), full_page=False)
        browser.close()
    print(f"{sum(done.values())} letters reviewed ({done}) in {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
