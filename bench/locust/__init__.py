"""Locustfiles for the order gateway (issue 9): `python -m bench load` runs them, and so can anyone
(`locust -f bench/locust/rest.py --host http://127.0.0.1:8080`).

* `traffic`   -- what is sent and what answer each request expects (shared by both transports)
* `rest`      -- a FastHttpUser against POST /orders and /ping
* `grpc_user` -- a GrpcUser against lab.OrderService (not `grpc.py`: Locust imports a locustfile
                 under its file name, and a module named `grpc` would shadow the grpc package)
"""
