"""Waits until the server's gRPC health service answers SERVING for the whole server ("").

Usage: python wait_serving.py ADDRESS SERVER_PID [TIMEOUT_SECONDS]

Polls grpc.health.v1.Health/Check with the stubs generated from proto/grpc/health/v1 (on
PYTHONPATH), every 100 ms, until it answers SERVING (exit 0), the server process exits (exit 1),
or the timeout passes (exit 1). NOT_SERVING and UNAVAILABLE are normal while the server starts
(database, catalogue import, search index).
"""

import os
import sys
import time

import grpc

import health_pb2
import health_pb2_grpc


def main() -> int:
    address, pid = sys.argv[1], int(sys.argv[2])
    timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 120.0
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service="")
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                print(f"the server (pid {pid}) exited before it was SERVING", file=sys.stderr)
                return 1
            try:
                answer = health.Check(request, timeout=2)
                last = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return 0
            except grpc.RpcError as error:
                last = f"{error.code().name}: {error.details()}"
            time.sleep(0.1)
    print(f"the server was not SERVING within {timeout:.0f}s (last: {last})", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
