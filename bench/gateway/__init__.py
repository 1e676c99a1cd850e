"""Gateway benchmark: throughput through the gateway compared with calling the service directly."""
