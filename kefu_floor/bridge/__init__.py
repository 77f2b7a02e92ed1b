"""Bridges from real ACDs into the telemetry contract (DESIGN.md §3.1).

`asterisk` maps Asterisk app_queue's queue_log (and AMI) to contract events, `freeswitch`
maps mod_callcenter's events; both are pure cores over parsed records. `tables` loads the
site's member and pause-reason CSVs, `follow` tails a log file with a durable offset,
`sinks` publishes (MQTT QoS 1) or writes JSON Lines, `cli` is `kefu-floor bridge`.
"""
