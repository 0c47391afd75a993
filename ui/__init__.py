"""Reusable Streamlit renderers shared by pages (the only layer besides pages/ that imports streamlit)."""
