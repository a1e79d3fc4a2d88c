"""The web app's static files (served by :mod:`pitwall.api.web`); not Python code."""
