"""The read-only operator dashboard: server-rendered pages, inline SVG charts, Jinja2 templates."""
