"""A loopback HTTP(S) proxy that forwards nothing: make audit points Prowler's
HTTP_PROXY/HTTPS_PROXY here, so any attempt to reach beyond 127.0.0.1 (a version check,
AWS's IP ranges) is refused and written down, one "METHOD target" a line.

    audit_egress.py PORT_FILE LOG_FILE
"""

import socketserver
import sys
from pathlib import Path


def make_handler(log: Path) -> type[socketserver.StreamRequestHandler]:
    class Refuse(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            line = self.rfile.readline(8192).decode("latin-1").split()
            if len(line) >= 2:
                with log.open("a") as f:
                    f.write(f"{line[0]} {line[1]}\n")
            self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

    return Refuse


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    port_file, log = Path(argv[0]), Path(argv[1])
    log.touch()
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), make_handler(log)) as srv:
        port_file.write_text(str(srv.server_address[1]))
        srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
