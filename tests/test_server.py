#!/usr/bin/env python3
"""`dalle-vk serve` against a real HTTP client (Python's http.client / socket), on 127.0.0.1.

Two servers: TINY runs a 6x6-code test model with a reranker (tests/data/parity, ~0.1 s a generation), behind an
API key, with a device-memory budget (DVK_DEVICE_MEMORY_MB=1) that fits up to 5 candidates, so 64 fail in the
engine; EMOJI runs the default model (~1-5 s a generation) with a queue of 2, for the tests that need a job to
run for a while (cancel, disconnect, queue full) and for the byte comparison with the CLI on the real model.

Usage: tests/test_server.py BUILD_DIR   (ctest passes it; env DVK_TEST_DATA = tests/data)
"""
import base64
import http.client
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import zlib

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
BIN = os.path.join(BUILD, "dalle-vk")
DATA = os.environ.get("DVK_TEST_DATA", "tests/data")
TINY_MODEL = os.path.join(DATA, "parity", "g6-full-convclamp-f32.gguf")
EMOJI_MODEL = "assets/dalle-emoji.gguf"
KEY = "test-key-7f3a"
TIMEOUT = 120  # seconds for anything that waits on a generation (the machine may be busy)


class Server:
    """A `dalle-vk serve` process on a free port; stop() sends SIGINT and expects a clean exit."""

    def __init__(self, *args, env=None):
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([BIN, "serve", "--port", "0", *args], stderr=self.log,
                                     env={**os.environ, **(env or {})})
        deadline = time.time() + 60
        self.port = None
        while self.port is None:
            self.log.seek(0)
            m = re.search(rb"listening on http://127\.0\.0\.1:(\d+)/", self.log.read())
            if m:
                self.port = int(m.group(1))
            elif self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("server did not start: " + self.stderr())
            else:
                time.sleep(0.05)

    def stderr(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def request(self, method, path, body=None, key=None, headers=None, timeout=TIMEOUT):
        """Returns (status, headers dict (lower-case names), parsed JSON or raw bytes)."""
        h = dict(headers or {})
        if key:
            h["Authorization"] = "Bearer " + key
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if body is not None:
            h.setdefault("Content-Type", "application/json")
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            raw = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
        finally:
            c.close()
        data = json.loads(raw) if hdrs.get("content-type", "").startswith("application/json") else raw
        return r.status, hdrs, data

    def events(self, job_id, key=None, until=("result",), timeout=TIMEOUT):
        """Reads the job's Server-Sent Events until one named in `until`; returns [(name, data)]."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = {"Authorization": "Bearer " + key} if key else {}
        c.request("GET", f"/v1/jobs/{job_id}/events", headers=h)
        r = c.getresponse()
        assert r.status == 200 and r.getheader("Content-Type") == "text/event-stream", r.status
        out, name = [], None
        try:
            while True:
                line = r.fp.readline()
                if not line:
                    break
                line = line.decode().rstrip("\r\n")
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    out.append((name, json.loads(line[6:])))
                    if name in until:
                        break
        finally:
            c.close()
        return out

    def wait_log(self, pattern, timeout=10):
        """The access-log line (stderr) matching the regular expression `pattern` (lines are printed when a request
        ends, just after its response); the match object."""
        deadline = time.time() + timeout
        while True:
            m = re.search(pattern, self.stderr(), re.M)
            if m or time.time() > deadline:
                return m
            time.sleep(0.05)

    def wait_idle(self, key=None, timeout=TIMEOUT):
        deadline = time.time() + timeout
        while time.time() < deadline:
            _, _, h = self.request("GET", "/health", key=key)
            if not h["running"] and h["queued"] == 0:
                return h
            time.sleep(0.1)
        raise AssertionError("the server stayed busy")

    def stop(self):
        self.proc.send_signal(2)
        rc = self.proc.wait(timeout=60)
        assert rc == 0, f"serve exited with {rc}: {self.stderr()}"
        assert "dalle-vk: validation" not in self.stderr(), self.stderr()
        self.log.close()


def png_size(data):
    """(width, height) of a PNG after checking its signature and decompressing its image data."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, wh = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            wh = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    w, h = wh
    assert len(zlib.decompress(idat)) == h * (1 + 3 * w), "PNG image data has the wrong size"
    return w, h


def cli_pngs(model, prompt, n, candidates, seed, extra=()):
    """The CLI's --separate PNG bytes for the same settings."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "x.png")
        subprocess.run([BIN, "--model", model, prompt, "-n", str(n), "--candidates", str(candidates), "--seed",
                        str(seed), *extra, "--separate", "-q", "-o", out], check=True)
        out = []
        for i in range(n):
            with open(os.path.join(d, f"x-{i}.png"), "rb") as f:
                out.append(f.read())
        return out


class TinyServer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Server("--model", TINY_MODEL, "--api-key", KEY, "--queue", "8", "--max-n", "4",
                       "--max-candidates", "64", env={"DVK_DEVICE_MEMORY_MB": "1"})

    @classmethod
    def tearDownClass(cls):
        cls.s.stop()

    def gen(self, body, **kw):
        return self.s.request("POST", "/v1/images/generations", body, key=KEY, **kw)

    def assert_error(self, resp, status, param):
        st, _, body = resp
        self.assertEqual(st, status, body)
        self.assertEqual(body["error"]["param"], param, body)
        self.assertTrue(body["error"]["message"])

    def test_generate_matches_cli(self):
        st, _, body = self.gen({"prompt": "red heart", "n": 2, "candidates": 4, "seed": 3, "size": "24x24",
                                "response_format": "b64_json", "model": "parity-g6-full-convclamp"})
        self.assertEqual(st, 200, body)
        self.assertEqual(body["seed"], 3)
        pngs = [base64.b64decode(d["b64_json"]) for d in body["data"]]
        self.assertEqual([png_size(p) for p in pngs], [(24, 24)] * 2)
        self.assertEqual(pngs, cli_pngs(TINY_MODEL, "red heart", 2, 4, 3))

    def test_beam_search_matches_cli(self):
        req = {"prompt": "red heart", "n": 2, "candidates": 4, "seed": 3, "decoding": "beam", "beam_sampled_rows": 1}
        st, _, body = self.gen(req)
        self.assertEqual(st, 200, body)
        pngs = [base64.b64decode(d["b64_json"]) for d in body["data"]]
        beam = ("--decoding", "beam", "--beam-sampled-rows", "1")
        self.assertEqual(pngs, cli_pngs(TINY_MODEL, "red heart", 2, 4, 3, beam))
        self.assertNotEqual(pngs, cli_pngs(TINY_MODEL, "red heart", 2, 4, 3))  # not plain sampling
        st, _, job = self.s.request("POST", "/v1/jobs", {**req, "seed": 4}, key=KEY)
        self.assertEqual(st, 202, job)
        self.assertEqual((job["decoding"], job["beam_sampled_rows"]), ("beam", 1))

    def test_defaults_are_what_a_bare_request_uses(self):
        """/v1/models "defaults" and a job's echoed settings both come from the engine's own resolution."""
        st, _, body = self.s.request("GET", "/v1/models", key=KEY)
        self.assertEqual(st, 200, body)
        defaults = body["data"][0]["defaults"]
        keys = ("candidates", "temperature", "top_k", "top_p", "cond_scale", "decoding", "beam_sampled_rows")
        st, _, job = self.s.request("POST", "/v1/jobs", {"prompt": "x", "preview_rows": 0}, key=KEY)
        self.assertEqual(st, 202, job)
        self.assertEqual({k: job[k] for k in keys}, {k: defaults[k] for k in keys})
        st, _, job = self.s.request("POST", "/v1/jobs", {"prompt": "x", "decoding": "beam", "beam_sampled_rows": 0,
                                                         "candidates": 3, "preview_rows": 0}, key=KEY)
        self.assertEqual(st, 202, job)
        self.assertEqual((job["decoding"], job["beam_sampled_rows"], job["candidates"]), ("beam", 0, 3))
        st, _, body = self.gen({"prompt": "x", "decoding": "beam", "beam_sampled_rows": 99})
        self.assertEqual((st, body["error"]["param"]), (400, "beam_sampled_rows"), body)
        self.assertIn("at most 5", body["error"]["message"])  # the engine's check: a 6x6 grid

    def test_models_and_health(self):
        st, _, body = self.s.request("GET", "/v1/models", key=KEY)
        self.assertEqual(st, 200)
        m = body["data"][0]
        self.assertEqual((m["id"], m["size"], m["limits"]["n"]), ("parity-g6-full-convclamp", "24x24", 4))
        st, _, body = self.s.request("GET", "/health")  # no key needed
        self.assertEqual((st, body["status"]), (200, "ok"))

    def test_concurrent_clients(self):
        """8 clients x 3 requests each, all at once: every request answered with its own seed's images."""
        results, errors = {}, []

        def client(k):
            try:
                for r in range(3):
                    seed = 100 + 3 * k + r
                    st, _, body = self.gen({"prompt": "dog face", "candidates": 1, "seed": seed})
                    results[seed] = (st, body)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(sorted(results), list(range(100, 124)))
        for seed, (st, body) in results.items():
            self.assertEqual(st, 200, body)
            self.assertEqual(body["seed"], seed)
            self.assertEqual(len(body["data"]), 1)
        # the same seed alone gives the same bytes (jobs do not leak into each other)
        st, _, again = self.gen({"prompt": "dog face", "candidates": 1, "seed": 107})
        self.assertEqual(again["data"], results[107][1]["data"])

    def test_job_previews_and_result(self):
        st, _, job = self.s.request("POST", "/v1/jobs", {"prompt": "red heart", "n": 1, "candidates": 3, "seed": 5,
                                                          "preview_rows": 1}, key=KEY)
        self.assertEqual(st, 202, job)
        ev = self.s.events(job["id"], key=KEY)
        names = [n for n, _ in ev]
        previews = [d for n, d in ev if n == "preview"]
        self.assertIn("progress", names)
        self.assertGreaterEqual(len(previews), 1)
        for p in previews:
            self.assertEqual(len(p["data"]), 3)  # every candidate
            self.assertEqual(png_size(base64.b64decode(p["data"][0]["b64_json"])), (24, 24))
        result = ev[-1][1]
        self.assertEqual((ev[-1][0], result["status"]), ("result", "done"))
        # previews do not change the result: the same request through the OpenAI endpoint
        st, _, body = self.gen({"prompt": "red heart", "n": 1, "candidates": 3, "seed": 5})
        self.assertEqual(body["data"], result["data"])
        st, _, got = self.s.request("GET", f"/v1/jobs/{job['id']}", key=KEY)
        self.assertEqual((st, got["status"], got["seed"]), (200, "done", 5))
        st, _, hist = self.s.request("GET", "/v1/jobs", key=KEY)
        self.assertIn(job["id"], [j["id"] for j in hist["data"]])

    def test_engine_failure_is_500_and_server_goes_on(self):
        st, _, body = self.gen({"prompt": "x", "candidates": 64, "seed": 1})
        self.assertEqual(st, 500, body)
        self.assertIn("out of device memory", body["error"]["message"])
        st, _, body = self.gen({"prompt": "x", "candidates": 1, "seed": 1})
        self.assertEqual(st, 200, body)

    def test_bad_key(self):
        for key in (None, "wrong", KEY + "x"):
            st, hdrs, body = self.s.request("GET", "/v1/models", key=key)
            self.assertEqual(st, 401, key)
            self.assertEqual(hdrs.get("www-authenticate"), "Bearer")
        st, _, _ = self.s.request("POST", "/v1/images/generations", {"prompt": "x"},
                                  headers={"Authorization": "Basic " + KEY})
        self.assertEqual(st, 401)

    def test_malformed_json(self):
        for raw in ['{"prompt": "x"', '{"prompt": "x"} trailing', "[1, 2]", "", "{'prompt': 'x'}", '{"prompt":"a\x00"}']:
            self.assert_error(self.gen(raw), 400, None)

    def test_not_utf8(self):
        """JSON is UTF-8: a body that is not gets 400 before any job exists, so every string echoed back is valid."""
        for raw in (b'{"prompt": "a\xffb", "candidates": 1}', b'{"model": "\xc3", "prompt": "x"}', b'{"\xed\xa0\x80": 1}'):
            st, _, body = self.gen(raw)
            self.assertEqual(st, 400, body)
            self.assertIn("not valid UTF-8", body["error"]["message"])
        st, _, hist = self.s.request("GET", "/v1/jobs", key=KEY)  # the history is still valid JSON
        self.assertEqual(st, 200)

    def test_oversize_body(self):
        st, _, body = self.gen('{"prompt": "' + "a" * (64 * 1024) + '"}')
        self.assertEqual(st, 413, body)
        st, _, body = self.gen({"prompt": "x", "candidates": 1})  # still serving
        self.assertEqual(st, 200)

    def test_access_log(self):
        """One stderr line per request: UTC time, client, method, path, status; generations add the job id; the
        seconds last. No API key and no body in the log."""
        line = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ 127\.0\.0\.1 "
        st, _, _ = self.s.request("GET", "/v1/models?x=1", key=KEY)
        self.assertEqual(st, 200)
        self.assertTrue(self.s.wait_log(line + r"GET /v1/models 200 \d+\.\d{3}s$"), self.s.stderr())
        st, _, body = self.gen({"prompt": "a logged-nowhere prompt", "candidates": 2, "seed": 1})
        self.assertEqual(st, 200, body)
        self.assertTrue(self.s.wait_log(line + r"POST /v1/images/generations 200 job-[0-9a-f]+ \d+\.\d{3}s$"),
                        self.s.stderr())
        st, _, job = self.s.request("POST", "/v1/jobs", {"prompt": "x", "candidates": 2, "preview_rows": 0}, key=KEY)
        self.assertEqual(st, 202, job)
        self.assertTrue(self.s.wait_log(line + r"POST /v1/jobs 202 %s \d+\.\d{3}s$" % re.escape(job["id"])),
                        self.s.stderr())
        self.assertEqual(self.s.request("GET", "/v1/nothing")[0], 401)
        self.assertTrue(self.s.wait_log(line + r"GET /v1/nothing 401 \d+\.\d{3}s$"), self.s.stderr())
        self.assertNotIn(KEY, self.s.stderr())
        self.assertNotIn("logged-nowhere", self.s.stderr())

    def test_wrong_types(self):
        for field, value in [("prompt", 5), ("n", "2"), ("n", 1.5), ("seed", -1), ("temperature", "hot"),
                             ("top_p", True), ("top_k", [1]), ("cond_scale", None), ("size", 24), ("candidates", {}),
                             ("decoding", 1), ("beam_sampled_rows", "1")]:
            self.assert_error(self.gen({"prompt": "x", field: value}), 400, field)

    def test_limits_and_values(self):
        cases = [({"n": 5}, "n"), ({"n": 0}, "n"), ({"candidates": 65}, "candidates"), ({"n": 3, "candidates": 2}, "candidates"),
                 ({"size": "1024x1024"}, "size"), ({"response_format": "url"}, "response_format"),
                 ({"temperature": 0}, "temperature"), ({"top_p": 1.5}, "top_p"), ({"model": "dall-e-3"}, "model"),
                 ({"seed": 2 ** 60}, "seed"), ({"top_k": 34}, "top_k"),  # 33 image codes
                 ({"decoding": "greedy"}, "decoding"), ({"beam_sampled_rows": 1}, "beam_sampled_rows"),
                 ({"decoding": "beam", "beam_sampled_rows": 6}, "beam_sampled_rows"),  # a 6x6 grid
                 ({"decoding": "beam", "candidates": 34}, "candidates"), ({"top_k": 2 ** 40}, "top_k")]
        for extra, field in cases:
            self.assert_error(self.gen({"prompt": "x", **extra}), 400, field)
        self.assert_error(self.gen({"n": 1}), 400, "prompt")
        self.assert_error(self.gen('{"prompt": "x", "prompt": "y"}'), 400, "prompt")

    def test_unknown_fields(self):
        for field in ("quality", "style", "preview_rows", "Prompt"):  # preview_rows: jobs only
            self.assert_error(self.gen({"prompt": "x", field: "hd"}), 400, field)
        st, _, body = self.s.request("POST", "/v1/jobs", {"prompt": "x", "nope": 1}, key=KEY)
        self.assertEqual((st, body["error"]["param"]), (400, "nope"))

    def test_content_type_method_path_host(self):
        st, _, _ = self.gen('{"prompt": "x"}', headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(st, 415)
        st, hdrs, _ = self.s.request("GET", "/v1/images/generations", key=KEY)
        self.assertEqual((st, hdrs.get("allow")), (405, "POST"))
        self.assertEqual(self.s.request("GET", "/v1/nothing", key=KEY)[0], 404)
        self.assertEqual(self.s.request("GET", "/v1/jobs/job-0000/events", key=KEY)[0], 404)
        st, _, _ = self.s.request("GET", "/health", headers={"Host": "evil.example:80"})
        self.assertEqual(st, 403)
        st, hdrs, page = self.s.request("GET", "/")
        self.assertEqual(st, 200)
        self.assertIn(b"<html", page.lower())
        self.assertNotIn("access-control-allow-origin", hdrs)  # no CORS unless asked


class EmojiServer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Server("--queue", "2")

    @classmethod
    def tearDownClass(cls):
        cls.s.stop()

    def tearDown(self):
        self.s.wait_idle()

    def long_job(self):
        st, _, job = self.s.request("POST", "/v1/jobs", {"prompt": "rocket", "candidates": 32, "seed": 1})
        self.assertEqual(st, 202, job)
        return job["id"]

    def wait_status(self, job_id, want, timeout=TIMEOUT):
        deadline = time.time() + timeout
        while time.time() < deadline:
            _, _, j = self.s.request("GET", f"/v1/jobs/{job_id}")
            if j["status"] == want:
                return j
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} never became {want}: {j}")

    def test_generate_matches_cli(self):
        st, _, body = self.s.request("POST", "/v1/images/generations",
                                     {"prompt": "red heart", "n": 1, "candidates": 2, "seed": 11, "size": "64x64"})
        self.assertEqual(st, 200, body)
        png = base64.b64decode(body["data"][0]["b64_json"])
        self.assertEqual(png_size(png), (64, 64))
        self.assertEqual([png], cli_pngs(EMOJI_MODEL, "red heart", 1, 2, 11))

    def test_cancel_while_running(self):
        job_id = self.long_job()
        ev = self.s.events(job_id, until=("progress",))  # running now (and the stream's end cancels it too)
        self.assertEqual(ev[-1][0], "progress")
        job_id = self.long_job()
        self.wait_status(job_id, "running")
        t0 = time.time()
        st, _, j = self.s.request("POST", f"/v1/jobs/{job_id}/cancel")
        self.assertEqual(st, 202, j)
        j = self.wait_status(job_id, "cancelled")
        self.assertLess(time.time() - t0, 20)  # stopped at a step, not after the whole job
        self.assertLess(j["done"], j["total"])
        self.assertEqual(self.s.request("POST", f"/v1/jobs/{job_id}/cancel")[0], 409)
        self.s.wait_idle()

    def test_disconnect_mid_job(self):
        body = json.dumps({"prompt": "rocket", "candidates": 32, "seed": 2}).encode()
        sock = socket.create_connection(("127.0.0.1", self.s.port))
        sock.sendall(b"POST /v1/images/generations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        deadline = time.time() + TIMEOUT
        while not self.s.request("GET", "/health")[2]["running"]:
            self.assertLess(time.time(), deadline)
            time.sleep(0.05)
        sock.close()
        h = self.s.wait_idle(timeout=30)
        self.assertEqual(h["queued"], 0)
        _, _, hist = self.s.request("GET", "/v1/jobs")
        self.assertEqual(hist["data"][0]["status"], "cancelled")
        self.assertEqual(hist["data"][0]["seed"], 2)

    def test_queue_full(self):
        ids = [self.long_job()]
        self.wait_status(ids[0], "running")
        ids += [self.long_job(), self.long_job()]  # the queue holds 2
        st, hdrs, body = self.s.request("POST", "/v1/jobs", {"prompt": "x", "candidates": 1})
        self.assertEqual(st, 429, body)
        self.assertGreaterEqual(int(hdrs["retry-after"]), 1)
        st, hdrs, body = self.s.request("POST", "/v1/images/generations", {"prompt": "x", "candidates": 1})
        self.assertEqual(st, 429, body)
        for i in reversed(ids):  # queued ones first: they never reach the device
            self.assertEqual(self.s.request("POST", f"/v1/jobs/{i}/cancel")[0], 202)
        self.assertEqual(self.wait_status(ids[2], "cancelled")["done"], 0)
        self.s.wait_idle()
        st, _, _ = self.s.request("POST", "/v1/images/generations", {"prompt": "x", "candidates": 1})
        self.assertEqual(st, 200)


class Startup(unittest.TestCase):
    def test_public_host_needs_key(self):
        r = subprocess.run([BIN, "serve", "--host", "0.0.0.0", "--port", "0", "--model", TINY_MODEL],
                           capture_output=True, text=True, env={k: v for k, v in os.environ.items() if k != "DVK_API_KEY"})
        self.assertEqual(r.returncode, 2)
        self.assertIn("--api-key", r.stderr)

    def test_cors_when_asked(self):
        s = Server("--model", TINY_MODEL, "--cors", "http://app.example")
        try:
            st, hdrs, _ = s.request("OPTIONS", "/v1/images/generations",
                                    headers={"Origin": "http://app.example", "Access-Control-Request-Method": "POST"})
            self.assertEqual(st, 204)
            self.assertEqual(hdrs.get("access-control-allow-origin"), "http://app.example")
            self.assertIn("Content-Type", hdrs.get("access-control-allow-headers", ""))
            st, hdrs, _ = s.request("GET", "/v1/models")
            self.assertEqual((st, hdrs.get("access-control-allow-origin")), (200, "http://app.example"))
        finally:
            s.stop()

    def test_cli_preview(self):
        """The CLI's --preview: a grid of every candidate (4 x 24 px in 2 x 2 with 2-px gutters), rewritten as rows
        are sampled; the result is the same as without it."""
        with tempfile.TemporaryDirectory() as d:
            args = [BIN, "--model", TINY_MODEL, "red heart", "-n", "1", "--candidates", "4", "--seed", "9", "-q"]
            subprocess.run(args + ["-o", os.path.join(d, "a.png"), "--preview", os.path.join(d, "p.png")], check=True)
            subprocess.run(args + ["-o", os.path.join(d, "b.png")], check=True)
            with open(os.path.join(d, "p.png"), "rb") as f:
                self.assertEqual(png_size(f.read()), (50, 50))
            # the last preview shows the finished candidates: no tile's bottom row of cells is still gray
            from PIL import Image
            grid = Image.open(os.path.join(d, "p.png")).convert("RGB")
            for x0, y0 in ((0, 0), (26, 0), (0, 26), (26, 26)):
                bottom = grid.crop((x0, y0 + 20, x0 + 24, y0 + 24)).getdata()
                self.assertTrue(any(px != (128, 128, 128) for px in bottom), "tile at %d,%d unfinished" % (x0, y0))
            with open(os.path.join(d, "a.png"), "rb") as fa, open(os.path.join(d, "b.png"), "rb") as fb:
                self.assertEqual(fa.read(), fb.read())
            r = subprocess.run(args + ["-o", os.path.join(d, "c.png"), "--preview", os.path.join(d, "no", "p.png")],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 1)
            self.assertIn("does not exist", r.stderr)

    def test_quiet(self):
        s = Server("--model", TINY_MODEL, "--quiet")
        try:
            self.assertEqual(s.request("GET", "/health")[0], 200)
            time.sleep(0.5)  # a log line would be out by now
            self.assertNotIn("GET /health", s.stderr())
        finally:
            s.stop()

    def test_bad_options(self):
        for args, msg in [(["--port", "70000"], "--port"), (["--bogus"], "unknown option"), (["extra"], "unexpected")]:
            r = subprocess.run([BIN, "serve", *args], capture_output=True, text=True)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn(msg, r.stderr)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
