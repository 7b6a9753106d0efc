"""The rollout rule a device evaluates on its signed targets (edgekit_runtime.rollout_rule)."""

from edgekit_runtime.rollout_rule import DeviceIdentity, assigned, bucket, choose_release


def target(release: int, rollout: dict | None, profiles=("pi",), pins=(), model="m"):
    return (f"{model}/{release}/c.tar", {"edgekit": {"model": model, "release": release, "profiles": list(profiles),
                                                      "pins": list(pins), "rollout": rollout}})


def active(basis_points: int, salt: str = "s1", **extra):
    return {"state": "active", "basis_points": basis_points, "salt": salt, **extra}


def test_buckets_are_uniform_and_differ_between_salts():
    devices = [f"dev-{index}" for index in range(20_000)]
    for basis_points in (100, 1000, 5000):
        share = sum(bucket("salt-a", device) < basis_points for device in devices) / len(devices)
        assert abs(share - basis_points / 10_000) < 0.01
    first = {device for device in devices if bucket("salt-a", device) < 1000}
    second = {device for device in devices if bucket("salt-b", device) < 1000}
    assert len(first & second) < 0.2 * len(first)  # another rollout, another canary cohort


def test_a_device_runs_the_newest_release_assigned_to_it():
    device = DeviceIdentity("dev-1", "pi")
    baseline = target(1, {"state": "complete", "basis_points": 10_000, "salt": "x"})
    assert choose_release([baseline, target(2, active(10_000))], "m", device) == "m/2/c.tar"
    assert choose_release([baseline, target(2, active(0))], "m", device) == "m/1/c.tar"
    assert choose_release([baseline, target(2, {"state": "unreleased", "basis_points": 0})], "m", device) == "m/1/c.tar"
    rolled_back = {"state": "rolled_back", "basis_points": 10_000, "salt": "x"}
    assert choose_release([baseline, target(2, rolled_back)], "m", device) == "m/1/c.tar"
    assert choose_release([target(2, rolled_back)], "m", device) is None


def test_profiles_tags_and_other_models_limit_a_rollout():
    canary = DeviceIdentity("dev-2", "pi", frozenset({"canary"}))
    plain = DeviceIdentity("dev-3", "pi")
    other_board = DeviceIdentity("dev-4", "stm32")
    rollout = active(10_000, tags=["canary"])
    assert assigned(rollout, canary) and not assigned(rollout, plain)
    assert not assigned(active(10_000, profiles=["stm32"]), plain) and assigned(active(10_000, profiles=["stm32"]), other_board)
    assert choose_release([target(1, active(10_000))], "m", other_board) is None  # the release is not for its profile
    assert choose_release([target(1, active(10_000), model="other")], "m", plain) is None


def test_a_pin_wins_over_every_rollout():
    device = DeviceIdentity("dev-5", "pi")
    targets = [target(1, {"state": "unreleased", "basis_points": 0}, pins=["dev-5"]), target(2, active(10_000))]
    assert choose_release(targets, "m", device) == "m/1/c.tar"
    assert choose_release(targets, "m", DeviceIdentity("dev-6", "pi")) == "m/2/c.tar"


def test_malformed_custom_fields_assign_nothing():
    device = DeviceIdentity("dev-7", "pi")
    assert choose_release([("x", None), ("y", {"other": 1}), ("z", {"edgekit": "text"})], "m", device) is None
    assert not assigned(None, device) and not assigned({"state": "paused"} | {"basis_points": 0, "salt": "s"}, device)
