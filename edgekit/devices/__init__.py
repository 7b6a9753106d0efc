"""Device profiles (``device_configs/``) and the rules that match artifacts to devices."""

from .profiles import DeviceProfile, load_profile, profile_ids, read_profile

__all__ = ["DeviceProfile", "load_profile", "profile_ids", "read_profile"]
