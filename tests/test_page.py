#!/usr/bin/python3
"""The page of `dalle-vk serve` in headless Chromium (Debian's chromium + chromium-driver, python3-selenium):
type a prompt, press Generate, previews of every candidate arrive while it samples, then the best image.

Usage: tests/test_page.py BUILD_DIR [--screenshot PATH] [--prompt P] [--n N] [--candidates M] [--seed S]
Exits 77 (ctest: skipped) when chromium, chromedriver or selenium is missing.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server import Server  # noqa: E402

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:
    print("SKIP: python3-selenium is not installed")
    sys.exit(77)

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
TIMEOUT = int(os.environ.get("DVK_PAGE_TIMEOUT", "180"))


def browser(profile):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 "--window-size=1100,1250", "--user-data-dir=" + profile):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=DRIVER), options=opts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--screenshot")
    ap.add_argument("--prompt", default="red heart, twemoji style")
    ap.add_argument("--n", default="1")
    ap.add_argument("--candidates", default="2")
    ap.add_argument("--seed", default="1")
    ap.add_argument("--preview-rows", default="2")
    a = ap.parse_args()
    if not CHROMIUM or not DRIVER:
        print("SKIP: chromium or chromedriver is not installed")
        return 77
    srv = Server()  # the default model, loopback, no key
    profile = tempfile.mkdtemp(prefix="dvk-chromium-")
    drv = None
    try:
        drv = browser(profile)
        drv.get(f"http://127.0.0.1:{srv.port}/")
        wait = WebDriverWait(drv, TIMEOUT, poll_frequency=0.05)
        wait.until(lambda d: "px" in d.find_element(By.ID, "model").text)  # the model's defaults are shown
        assert drv.find_element(By.ID, "temperature").get_attribute("value") != "", "defaults not filled in"
        prompt = drv.find_element(By.ID, "prompt")
        prompt.send_keys(a.prompt)
        for field, value in (("n", a.n), ("candidates", a.candidates), ("seed", a.seed), ("preview_rows", a.preview_rows)):
            el = drv.find_element(By.ID, field)
            el.clear()
            el.send_keys(value)
        drv.find_element(By.ID, "generate").click()
        # previews: every candidate's image, rows arriving while the result is not there yet
        rows_seen = set()

        def preview_before_result(d):
            imgs = d.find_elements(By.CSS_SELECTOR, "#previews img")
            if imgs and not d.find_elements(By.CSS_SELECTOR, "#results img"):
                rows_seen.add(d.find_element(By.ID, "previews").get_attribute("data-rows"))
            return bool(d.find_elements(By.CSS_SELECTOR, "#results img"))

        wait.until(preview_before_result)
        assert rows_seen - {None}, "no preview arrived before the result"
        previews = drv.find_elements(By.CSS_SELECTOR, "#previews img")
        assert len(previews) == int(a.candidates), f"{len(previews)} previews for {a.candidates} candidates"
        results = drv.find_elements(By.CSS_SELECTOR, "#results img")
        assert len(results) == int(a.n), f"{len(results)} results, want {a.n}"
        wait.until(lambda d: d.execute_script("return [...document.querySelectorAll('#results img')]"
                                              ".every(i => i.complete && i.naturalWidth === 64)"))
        assert "done" in drv.find_element(By.ID, "status").text
        assert drv.find_elements(By.CSS_SELECTOR, "#history .item"), "the result is not in the history"
        link = drv.find_element(By.CSS_SELECTOR, "#results a[download]")
        assert link.get_attribute("download").endswith(".png") and "seed" + a.seed in link.get_attribute("download")
        # beam search from the form: the job's settings come back and the history names them
        Select(drv.find_element(By.ID, "decoding")).select_by_value("beam")
        rows = drv.find_element(By.ID, "beam_sampled_rows")
        rows.clear()
        rows.send_keys("2")  # the model's default is 1: a different job
        drv.find_element(By.ID, "generate").click()
        wait.until(lambda d: any("beam search after 2 rows" in m.text
                                 for m in d.find_elements(By.CSS_SELECTOR, "#history .item .meta")))
        assert "done" in drv.find_element(By.ID, "status").text
        print(f"PASS page: previews after rows {sorted(r for r in rows_seen if r)}, {len(results)} result(s), history, "
              "download, beam search")
        if a.screenshot:
            time.sleep(0.3)
            drv.save_screenshot(a.screenshot)
            print("screenshot:", a.screenshot)
        return 0
    except Exception:
        if drv:
            print("status:", drv.find_element(By.ID, "status").text, file=sys.stderr)
            for entry in drv.get_log("browser"):
                print("console:", entry, file=sys.stderr)
        print("server log:", srv.stderr(), file=sys.stderr)
        raise
    finally:
        if drv:
            drv.quit()
        shutil.rmtree(profile, ignore_errors=True)
        srv.stop()


if __name__ == "__main__":
    sys.exit(main())
