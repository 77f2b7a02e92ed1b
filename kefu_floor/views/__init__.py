"""Read models over the engine: the floor view, the score report and its table. Pure: they
read the engine's arrays and know nothing of MQTT, Redis, HTTP or websockets."""
