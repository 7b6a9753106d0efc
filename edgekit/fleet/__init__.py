"""What drives a fleet from outside the server: the admin client the command line speaks through,
and simulated devices (enroll, poll, install, report telemetry) for demos, tests and load."""
