//! (in progress) spanned value tree for YAML and TOML.
