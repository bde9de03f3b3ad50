"""Networks of the study. Each is built by Hydra from conf/model/<name>.yaml (its `_target_`)."""
