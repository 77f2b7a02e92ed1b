"""The live service and its ports: MQTT in (ingest, the live clock, the embedded broker),
the websocket feed and the Prometheus exporter out, the kernel warm-up before it starts."""
