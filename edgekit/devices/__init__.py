"""Device profiles (``device_configs/``) and the rules that match artifacts to devices."""

from .profiles import DeviceProfile, all_profiles, load_profile, profile_ids, read_profile

__all__ = ["DeviceProfile", "all_profiles", "load_profile", "profile_ids", "read_profile"]
