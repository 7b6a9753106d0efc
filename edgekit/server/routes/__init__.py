"""The server's JSON API, one router per caller: devices, admins, and monitoring readers."""
