"""The domain: everything the app does, usable from the CLI and tests. Never imports streamlit."""
