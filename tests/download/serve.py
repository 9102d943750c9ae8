#!/usr/bin/env python3
"""A test HTTP server on 127.0.0.1 for scripts/get-cifar10.sh: serves the files of a folder, can
honour byte ranges (to test resuming) and can break off its first response (to test a broken
download). Writes its port to --port-file once it listens; logs each request's Range header."""
import argparse
import http.server
import os
import re


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--ranges", action="store_true", help="answer 'Range: bytes=N-' with 206")
    p.add_argument("--break-first", type=int, default=0, help="close the first response after this many bytes")
    a = p.parse_args()
    state = {"broken": a.break_first == 0}

    class handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            path = os.path.join(a.dir, os.path.basename(self.path))
            rng = self.headers.get("Range")
            with open(a.log, "a") as log:
                log.write("GET %s range=%s\n" % (self.path, rng))
            if not os.path.isfile(path):
                self.send_error(404)
                return
            data = open(path, "rb").read()
            start = 0
            m = re.fullmatch(r"bytes=(\d+)-", rng or "")
            if a.ranges and m:
                start = int(m.group(1))
                if start >= len(data):
                    self.send_error(416)
                    return
                self.send_response(206)
                self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(data) - start))
            self.send_header("Accept-Ranges", "bytes" if a.ranges else "none")
            self.end_headers()
            body = data[start:]
            if not state["broken"]:
                state["broken"] = True
                self.wfile.write(body[: a.break_first])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(a.port_file + ".tmp", a.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
