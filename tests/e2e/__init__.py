"""End-to-end tests: the course's widgets driven in JupyterLab by headless Chromium."""
